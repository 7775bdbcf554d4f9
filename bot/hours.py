"""Hour banks: logged durations, contract months in the calendar's zone, and what is left of a bank.

Everything here is pure arithmetic on plain values, so it is tested on its own; the stored
entries and the notices live in bot/timelog.py.

- A logged duration is `45m`, `1h30m`, `1.5h` or `2h`; a leading `-` makes a correction. One entry
  is at most 24 hours and never zero.
- A month is `YYYY-MM` of the contract calendar's time zone: an entry logged at 23:30 UTC on
  30 November counts in December in Helsinki. The server's own zone never matters.
- A bank (`contracts.<name>.hours`) includes `monthly` hours of billable time each month. With
  `rollover`, the hours a month leaves unused of its own allowance carry into the next month only;
  carried hours are used first, so they expire rather than pile up. The bank starts in the first
  month any billable time was logged: nothing carries into that month.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

LOGGED = re.compile(r"^(-)?(?:(\d{1,3}(?:[.,]\d{1,4})?)h)?(?:(\d{1,4})m)?$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_ENTRY_MINUTES = 24 * 60
EXAMPLE = "write 45m, 1h30m, 1.5h or 2h (a correction is negative, e.g. -30m)"
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
WARNING, OVER = "warning", "over"


class DurationError(ValueError):
    """A logged duration that cannot be read; the message shows how to write one."""


def parse_logged(text: str) -> int:
    """'1h30m' -> 90, '1.5h' -> 90, '45m' -> 45, '-30m' -> -30 (a correction)."""
    raw = text.strip().lower()
    m = LOGGED.match(raw)
    if not m or (m.group(2) is None and m.group(3) is None):
        raise DurationError(f"'{text}' is not a duration: {EXAMPLE}")
    hours = float((m.group(2) or "0").replace(",", "."))
    minutes = round(hours * 60) + int(m.group(3) or 0)
    if minutes == 0:
        raise DurationError(f"'{text}' is no time at all: {EXAMPLE}")
    if minutes > MAX_ENTRY_MINUTES:
        raise DurationError(f"'{text}' is more than 24 hours: log each day's work as its own entry")
    return -minutes if m.group(1) else minutes


def duration_text(minutes: int) -> str:
    """90 -> '1h 30m', 1200 -> '20h', 45 -> '45m', -30 -> '-30m'."""
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(int(minutes)), 60)
    if h and m:
        return f"{sign}{h}h {m}m"
    return f"{sign}{h}h" if h else f"{sign}{m}m"


# -- months -------------------------------------------------------------------------------------------


def parse_month(text: str) -> str:
    """'2026-12' as given, or ValueError naming the form."""
    m = MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise ValueError(f"'{text}' is not a month like 2026-12 (YYYY-MM)")
    return f"{m.group(1)}-{m.group(2)}"


def month_of(moment: datetime, zone: str) -> str:
    """The contract month a moment falls in, in the calendar's zone."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.year:04d}-{local.month:02d}"


def shift_month(month: str, delta: int) -> str:
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_bounds(month: str, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a contract month as UTC instants: local midnight of the 1st to that of the next 1st."""
    tz = ZoneInfo(zone)

    def first_instant(m: str) -> datetime:
        year, mon = (int(p) for p in m.split("-"))
        return datetime.combine(date(year, mon, 1), time.min, tzinfo=tz).astimezone(UTC)

    return first_instant(month), first_instant(shift_month(month, 1))


def month_name(month: str, now_month: str | None = None) -> str:
    """'December' within the current year, 'December 2025' otherwise."""
    year, mon = month.split("-")
    name = MONTH_NAMES[int(mon) - 1]
    return name if now_month is not None and now_month[:4] == year else f"{name} {year}"


# -- banks and balances -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bank:
    """A contract's prepaid hours, in minutes."""

    monthly_minutes: int
    rollover: bool = False
    warn_at: float = 0.8

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Bank | None:
        if not data:
            return None
        return cls(round(float(data["monthly"]) * 60), bool(data.get("rollover", False)),
                   float(data.get("warn_at", 0.8)))


@dataclass(frozen=True)
class Balance:
    """One customer's month: what the bank includes and what was used."""

    month: str
    included_minutes: int | None  # None: the contract has no hour bank
    carried_minutes: int
    billable_minutes: int
    nonbillable_minutes: int
    warn_at: float = 0.8

    @property
    def remaining_minutes(self) -> int | None:
        """Negative when the month is over its bank."""
        return None if self.included_minutes is None else self.included_minutes - self.billable_minutes

    @property
    def over_minutes(self) -> int:
        remaining = self.remaining_minutes
        return 0 if remaining is None else max(0, -remaining)

    def levels(self) -> list[str]:
        """The notice levels the month has reached: the warning at warn_at of the bank, then over it."""
        if not self.included_minutes:
            return []
        reached = []
        if self.billable_minutes >= self.warn_at * self.included_minutes:
            reached.append(WARNING)
        if self.billable_minutes > self.included_minutes:
            reached.append(OVER)
        return reached


def included_minutes(bank: Bank, month: str, billable_by_month: Mapping[str, int]) -> tuple[int, int]:
    """(included, carried) for `month`: the monthly allowance plus, with rollover, what last month left.

    Walks from the first month with billable time; each month uses its carried hours before its own,
    and only its own unused allowance carries on, so no hour survives more than one month.
    """
    if not bank.rollover:
        return bank.monthly_minutes, 0
    earlier = sorted(m for m, used in billable_by_month.items() if m < month and used)
    carry = 0
    current = earlier[0] if earlier else month
    while current < month:
        used = max(0, billable_by_month.get(current, 0))
        own_used = max(0, used - carry)
        carry = max(0, bank.monthly_minutes - own_used)
        current = shift_month(current, 1)
    return bank.monthly_minutes + carry, carry


def balance(bank: Bank | None, month: str, billable_by_month: Mapping[str, int], nonbillable: int = 0) -> Balance:
    """The month's balance from billable minutes per month (corrections included, earlier months for rollover)."""
    used = billable_by_month.get(month, 0)
    if bank is None:
        return Balance(month, None, 0, used, nonbillable)
    included, carried = included_minutes(bank, month, billable_by_month)
    return Balance(month, included, carried, used, nonbillable, bank.warn_at)


def balance_text(name: str, bal: Balance, now_month: str) -> str:
    """`Acme Oy has 3h 15m of 20h left in December` (or how far over it is)."""
    when = month_name(bal.month, now_month)
    if bal.included_minutes is None:
        return f"{name} has no hour bank; {duration_text(bal.billable_minutes)} billable in {when}"
    remaining = bal.remaining_minutes or 0
    of = duration_text(bal.included_minutes)
    if remaining < 0:
        return f"{name} is {duration_text(-remaining)} over its {of} for {when}"
    return f"{name} has {duration_text(remaining)} of {of} left in {when}"
