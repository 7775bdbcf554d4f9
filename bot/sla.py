"""Business-time arithmetic for SLA deadlines: calendars, holidays and pauses.

Pure functions over aware datetimes. A calendar has wall-clock opening hours in its
own time zone (several periods a day, "24:00" as an end), and holiday dates in that
zone. Business minutes are real elapsed minutes: on a day when the clocks change, a
24-hour calendar has 23 or 25 hours. Every result is an aware datetime in UTC; the
server's own time zone never matters.

Wall-clock times that do not exist (the spring-forward gap) mean the first instant
after the gap; ambiguous ones (the fall-back overlap) mean their first occurrence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "CalendarError",
    "add_business_minutes",
    "add_business_minutes_each",
    "business_minutes_between",
    "is_open",
    "merge_intervals",
    "next_opening",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440
# Consecutive calendar days without any open time before we give up on a search
# (a holiday list that closes the calendar for good would otherwise loop forever).
MAX_IDLE_DAYS = 3660
# Larger targets are input errors: no contract counts a century of business time.
MAX_MINUTES = 100 * 366 * MINUTES_PER_DAY
_ONE_DAY = timedelta(days=1)

_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CALENDAR_KEYS = ("timezone", "hours", "holidays")

Period = tuple[int, int]
Interval = tuple[datetime, datetime]


class CalendarError(ValueError):
    """A calendar that cannot be used, with the config path of the offending key."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Calendar:
    """Opening hours in minutes since local midnight (Monday first), plus holidays."""

    timezone: str
    hours: tuple[tuple[Period, ...], ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.hours) != len(WEEKDAYS):
            raise ValueError(f"hours needs {len(WEEKDAYS)} entries (Monday first), got {len(self.hours)}")
        # The day caches below look a calendar up once per day walked: hash it once, not each time.
        object.__setattr__(self, "_hash", hash((self.timezone, self.hours, self.holidays)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def localize(self, naive: datetime) -> datetime:
        """A wall-clock time in this calendar's zone, as an aware UTC datetime."""
        if naive.tzinfo is not None:
            raise ValueError("localize() takes a naive datetime")
        return _wall_to_utc(self.zone, naive)

    @classmethod
    def from_config(cls, data: object, path: str = "") -> Calendar:
        """Validate one calendar mapping (timezone, hours, holidays) from the org config.

        Errors name the key's path, prefixed by `path`, e.g.
        ``calendars.helsinki-office.hours.fri[1]: end 12:00 is not after start 13:00``.
        """
        where = path or "calendar"
        if not isinstance(data, Mapping):
            raise CalendarError(where, "must be a mapping with timezone, hours and holidays")
        for key in data:
            if key not in _CALENDAR_KEYS:
                raise CalendarError(
                    _key(path, key), f"unknown key (expected one of: {', '.join(_CALENDAR_KEYS)})"
                )
        timezone = _parse_timezone(data.get("timezone"), _key(path, "timezone"))
        hours = _parse_hours(data.get("hours"), _key(path, "hours"))
        holidays = _parse_holidays(data.get("holidays"), _key(path, "holidays"))
        return cls(timezone=timezone, hours=hours, holidays=holidays)


def _key(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _parse_timezone(value: object, path: str) -> str:
    if value is None:
        raise CalendarError(path, "required (an IANA time zone such as Europe/Helsinki)")
    if not isinstance(value, str) or not value.strip():
        raise CalendarError(path, f"must be an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(path, f"unknown time zone {value!r}") from None
    return value


def _parse_hours(value: object, path: str) -> tuple[tuple[Period, ...], ...]:
    days: list[tuple[Period, ...]] = [() for _ in WEEKDAYS]
    if value is None:
        raise CalendarError(path, "no business hours in any day")
    if not isinstance(value, Mapping):
        raise CalendarError(path, "must be a mapping of weekday (mon..sun) to a list of HH:MM-HH:MM")
    for day, periods in value.items():
        day_path = f"{path}.{day}"
        if day not in WEEKDAYS:
            raise CalendarError(day_path, f"unknown weekday (expected one of: {', '.join(WEEKDAYS)})")
        if periods is None:
            continue
        if not isinstance(periods, list):
            raise CalendarError(day_path, 'must be a list of periods such as ["08:00-16:00"]')
        parsed = [_parse_period(item, f"{day_path}[{i}]") for i, item in enumerate(periods)]
        order = sorted(range(len(parsed)), key=lambda i: parsed[i])
        for prev, cur in pairwise(order):
            if parsed[cur][0] < parsed[prev][1]:
                raise CalendarError(
                    f"{day_path}[{cur}]",
                    f"{_period_text(parsed[cur])} overlaps {_period_text(parsed[prev])}",
                )
        days[WEEKDAYS.index(day)] = tuple(parsed[i] for i in order)
    if not any(days):
        raise CalendarError(path, "no business hours in any day")
    return tuple(days)


def _parse_period(item: object, path: str) -> Period:
    if not isinstance(item, str):
        raise CalendarError(path, f"must be a string like 08:00-16:00, got {item!r}")
    match = _PERIOD.match(item)
    if match is None:
        raise CalendarError(path, f"{item!r} is not a period like 08:00-16:00")
    sh, sm, eh, em = (int(g) for g in match.groups())
    start = _minute_of_day(sh, sm, path, "start", allow_end_of_day=False)
    end = _minute_of_day(eh, em, path, "end", allow_end_of_day=True)
    if end <= start:
        raise CalendarError(path, f"end {_hhmm(end)} is not after start {_hhmm(start)}")
    return start, end


def _minute_of_day(hour: int, minute: int, path: str, what: str, *, allow_end_of_day: bool) -> int:
    text = f"{hour:02d}:{minute:02d}"
    if hour == 24 and minute == 0:
        if allow_end_of_day:
            return MINUTES_PER_DAY
        raise CalendarError(path, f"{what} {text} is allowed only as an end")
    if hour > 23:
        raise CalendarError(path, f"{what} {text}: hour {hour} is out of range 00-23")
    if minute > 59:
        raise CalendarError(path, f"{what} {text}: minute {minute} is out of range 00-59")
    return hour * 60 + minute


def _parse_holidays(value: object, path: str) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise CalendarError(path, 'must be a list of dates such as ["2026-12-24"]')
    days: set[date] = set()
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if isinstance(item, datetime):
            raise CalendarError(item_path, f"must be a date without a time, got {item.isoformat()}")
        if isinstance(item, date):
            days.add(item)
            continue
        if not isinstance(item, str) or not _DATE.match(item):
            raise CalendarError(item_path, f"{item!r} is not a date like 2026-12-24")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise CalendarError(item_path, f"{item!r} is not a valid date") from None
    return frozenset(days)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _period_text(period: Period) -> str:
    return f"{_hhmm(period[0])}-{_hhmm(period[1])}"


# --- wall clock -> instants -------------------------------------------------------


def _wall_to_utc(zone: ZoneInfo, naive: datetime) -> datetime:
    """The instant a wall-clock time names in `zone`.

    Ambiguous times take their first occurrence (fold=0). Times inside a
    spring-forward gap do not exist; they become the first instant after the gap.
    """
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap, fold=0 applies the offset from before the change and fold=1 the one
    # after, so the transition lies between the two readings: find it to the second.
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    after = hi.astimezone(zone).utcoffset()
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


# Turning a wall-clock time into an instant is the costly step of every deadline: a sweep
# computes several deadlines per ticket, each walking the same few days. The results depend
# only on the zone (or the calendar, which is compared by value) and the day, so they are
# kept; a few thousand days cover every calendar's recent and coming months.
@lru_cache(maxsize=8192)
def _boundary(zone: ZoneInfo, day: date, minute: int) -> datetime:
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    return _wall_to_utc(zone, datetime.combine(day, time(minute // 60, minute % 60)))


@lru_cache(maxsize=8192)
def _day_intervals(cal: Calendar, zone: ZoneInfo, day: date) -> tuple[Interval, ...]:
    """The day's open periods as instants, in order; none on a holiday."""
    if day in cal.holidays:
        return ()
    out = []
    for start, end in cal.hours[day.weekday()]:
        a, b = _boundary(zone, day, start), _boundary(zone, day, end)
        if a < b:  # a period wholly inside a spring-forward gap is empty
            out.append((a, b))
    return tuple(out)


# --- pauses -----------------------------------------------------------------------


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")


def merge_intervals(pauses: Iterable[tuple[datetime, datetime]]) -> list[Interval]:
    """Pauses in UTC, sorted, with overlapping or touching ones merged and empty ones dropped."""
    spans: list[Interval] = []
    for i, (start, end) in enumerate(pauses):
        _require_aware(start, f"pause {i} start")
        _require_aware(end, f"pause {i} end")
        if end < start:
            raise ValueError(f"pause {i} ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        if end > start:
            spans.append((start.astimezone(UTC), end.astimezone(UTC)))
    spans.sort()
    merged: list[Interval] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- the clock ----------------------------------------------------------------------


def _running(
    cal: Calendar, since: datetime, pauses: Sequence[Interval], until: datetime | None = None
) -> Iterator[Interval]:
    """Stretches of business time from `since` on, in order, with pauses cut out.

    Walks whole periods and days, jumping over pauses, so the cost depends on the
    number of days crossed, never on the number of minutes. Without `until` it is
    endless unless the calendar stays closed for MAX_IDLE_DAYS in a row.
    """
    zone = cal.zone
    cursor = since
    p = 0
    count = len(pauses)
    day = since.astimezone(zone).date() - _ONE_DAY
    idle = 0
    while True:
        if until is not None and _boundary(zone, day, 0) >= until:
            return
        produced = jumped = False
        for a, b in _day_intervals(cal, zone, day):
            if b <= cursor:
                continue
            if a < cursor:
                a = cursor
            while a < b:
                while p < count and pauses[p][1] <= a:
                    p += 1
                if p < count and pauses[p][0] <= a:
                    a = pauses[p][1]  # the clock is stopped until this pause ends
                    if a > cursor:
                        cursor, jumped = a, True
                    continue
                stop = min(b, pauses[p][0]) if p < count else b
                yield a, stop
                produced = True
                a = cursor = stop
        if produced:
            idle = 0
        elif until is None:
            idle += 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarError(
                    "holidays", f"the calendar stays closed for {MAX_IDLE_DAYS} days in a row (up to {day})"
                )
        # Without a pause the cursor never leaves the day's periods, so the next day is the
        # next one; a pause may have moved it days ahead.
        day = max(day + _ONE_DAY, cursor.astimezone(zone).date() - _ONE_DAY) if jumped else day + _ONE_DAY


def add_business_minutes(
    cal: Calendar,
    start: datetime,
    minutes: float,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> datetime:
    """The deadline `minutes` of business time after `start`, as an aware UTC datetime.

    A start outside business hours counts from the next opening, so 0 minutes is the
    next opening there and `start` itself inside hours. A deadline that lands exactly
    at closing stays at closing. Pauses stop the clock: business time inside them
    (after `start`) does not count, so the deadline moves by the paused business time;
    overlapping pauses count once, and pause time outside business hours or before
    `start` changes nothing. A pause still open can be given with a far end.
    """
    return add_business_minutes_each(cal, start, (minutes,), pauses)[0]


def add_business_minutes_each(
    cal: Calendar,
    start: datetime,
    minutes: Sequence[float],
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> list[datetime]:
    """`add_business_minutes` for several amounts from one start, in one walk of the calendar
    (a ticket's deadlines and warning times share their start); results in the order given."""
    _require_aware(start, "start")
    for m in minutes:
        if isinstance(m, bool) or not isinstance(m, int | float):
            raise TypeError(f"minutes must be a number, got {type(m).__name__}")
        if not math.isfinite(m) or m < 0:
            raise ValueError(f"minutes must be a finite number >= 0, got {m}")
        if m > MAX_MINUTES:
            raise ValueError(f"minutes must be at most {MAX_MINUTES}, got {m}")
    wanted = sorted((timedelta(minutes=m), i) for i, m in enumerate(minutes))
    out: list[datetime] = [start] * len(wanted)
    if not wanted:
        return out
    k = 0
    elapsed = timedelta(0)  # business time in the stretches before this one
    try:
        for a, b in _running(cal, start.astimezone(UTC), merge_intervals(pauses)):
            while wanted[k][0] - elapsed <= b - a:
                out[wanted[k][1]] = a + (wanted[k][0] - elapsed)
                k += 1
                if k == len(wanted):
                    return out
            elapsed += b - a
    except OverflowError:
        raise ValueError("the deadline falls after the year 9999 (is a pause left open for ever?)") from None
    raise AssertionError("unreachable: the business clock never stops for good")


def business_minutes_between(
    cal: Calendar,
    start: datetime,
    end: datetime,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> float:
    """Business minutes elapsed from `start` to `end`, not counting pauses; 0 if end <= start."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return 0.0
    total = timedelta(0)
    try:
        for a, b in _running(cal, start.astimezone(UTC), merge_intervals(pauses), until=end):
            if a >= end:
                break
            total += min(b, end) - a
            if b >= end:
                break
    except OverflowError:
        raise ValueError("business time cannot be counted past the year 9999") from None
    return total / timedelta(minutes=1)


def next_opening(cal: Calendar, t: datetime) -> datetime:
    """The first instant at or after `t` when the calendar is open (`t` itself if open)."""
    return add_business_minutes(cal, t, 0)


def is_open(cal: Calendar, t: datetime) -> bool:
    """Whether `t` falls in business hours: opening included, closing excluded."""
    _require_aware(t, "t")
    zone = cal.zone
    day = t.astimezone(zone).date()
    return any(
        a <= t < b
        for offset in (-1, 0, 1)
        for a, b in _day_intervals(cal, zone, day + timedelta(days=offset))
    )


def open_stretches(cal: Calendar, start: datetime, end: datetime) -> Iterator[Interval]:
    """The calendar's open stretches from `start` until past `end`, in order, as UTC instants.

    The first is cut at `start`; the last may run past `end`. Their lengths are what
    business_minutes_between adds up, for callers that ask it many times over one span.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    return _running(cal, start.astimezone(UTC), (), until=end)
