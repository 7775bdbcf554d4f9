"""What the leads' board shows, kept up to date incrementally so a poll stays cheap at 10k open tickets.

Each column is sorted by what needs attention: the lead's rank first, then breached and at-risk
tickets by business time left; the unassigned column by due time. Business time left is
`C(due) - C(now)` on a per-calendar cumulative line of open minutes, so a ticket's part is
computed once per change and a poll only subtracts and sorts.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import clocks
from bot.sla import Calendar, _day_intervals, business_minutes_between
from bot.tickets import OPEN_STATUSES, PRIORITY_ORDER
from storage.models import Calendar as CalendarRow
from storage.models import Contract, Customer, Person, Ticket

WARNING_LEFT = 0.25  # under this fraction of a target left, a ticket shows as a warning
URGENCY_ORDER = {"breached": 0, "warning": 1, "ok": 2, "none": 3, "paused": 4}
LINE_DAYS_BACK = 60
LINE_DAYS_AHEAD = 400
FULL_RELOAD_SECONDS = 30.0  # catches what no updated_at records (deletions, outbox thread ids)
CHANGE_MARGIN = timedelta(minutes=2)  # transactions that commit after a later one started
FIELDS = ("id", "key", "customer_id", "title", "type", "priority", "rank", "status", "assignee_id", "escalation_at",
          "first_response_due", "next_response_due", "resolution_due", "platform", "tenant", "channel", "thread",
          "updated_at")


class BusinessLine:
    """Cumulative open minutes of one calendar over a span of days: `at(t)` is O(log n)."""

    def __init__(self, cal: Calendar, around: datetime) -> None:
        self.cal = cal
        zone = cal.zone
        first = around.astimezone(zone).date() - timedelta(days=LINE_DAYS_BACK)
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.before: list[float] = []  # open minutes from the line's origin to each interval's start
        total = 0.0
        for offset in range(LINE_DAYS_BACK + LINE_DAYS_AHEAD):
            for a, b in _day_intervals(cal, zone, first + timedelta(days=offset)):
                self.starts.append(a)
                self.ends.append(b)
                self.before.append(total)
                total += (b - a).total_seconds() / 60
        self.origin = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        self.end = self.ends[-1] if self.ends else self.origin

    def at(self, t: datetime) -> float:
        if t < self.origin:
            return -business_minutes_between(self.cal, t, self.origin)
        if t > self.end:
            return (self.before[-1] if self.before else 0.0) + business_minutes_between(
                self.cal, self.starts[-1] if self.starts else self.origin, t)
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min((t - self.starts[i]).total_seconds(), (self.ends[i] - self.starts[i])
                                    .total_seconds()) / 60


@dataclass
class Entry:
    """One open ticket as the board keeps it: its row and its part of the business-time arithmetic."""

    row: dict[str, Any]
    calendar: str
    target: float | None  # minutes of the metric whose deadline is nearest
    due_mark: float | None  # C(due) on its calendar's line


@dataclass
class Placed:
    """An entry as one poll sees it."""

    entry: Entry
    urgency: str
    left: float | None  # business minutes left (negative: late)

    @property
    def row(self) -> dict[str, Any]:
        return self.entry.row


@dataclass
class Org:
    people: list[dict[str, Any]]
    customers: dict[int, dict[str, Any]]
    calendars: dict[str, Calendar]
    targets: dict[int, dict[str, Any]]  # customer id -> contract targets
    customer_calendar: dict[int, str]


def _urgency(entry: Entry, now_mark: float, due: datetime | None, now: datetime) -> tuple[str, float | None]:
    row = entry.row
    if row["status"] in clocks.PAUSING_STATUSES:
        return "paused", None
    if due is None or entry.due_mark is None:
        return "none", None
    left = entry.due_mark - now_mark
    if due <= now:
        return "breached", min(left, 0.0)
    if entry.target is not None and left < WARNING_LEFT * entry.target:
        return "warning", left
    return "ok", left


def attention_key(p: Placed) -> tuple[Any, ...]:
    """Lead's rank first, then breached / at risk / ok by business time left, then priority."""
    row = p.row
    return (row["rank"] is None, row["rank"] or 0, URGENCY_ORDER[p.urgency],
            p.left if p.left is not None else math.inf, PRIORITY_ORDER.get(row["priority"], 9), row["id"])


def due_key(p: Placed) -> tuple[Any, ...]:
    """The unassigned column: whatever falls due first."""
    due = p.row["escalation_at"]
    return (due is None, due.timestamp() if due else 0.0, PRIORITY_ORDER.get(p.row["priority"], 9), p.row["id"])


@dataclass
class BoardState:
    """The open tickets, refreshed from the rows changed since the last poll."""

    entries: dict[int, Entry] = field(default_factory=dict)
    lines: dict[str, BusinessLine] = field(default_factory=dict)
    org: Org | None = None
    seen_until: datetime | None = None
    loaded_at: float = -math.inf

    def line(self, name: str, now: datetime) -> BusinessLine:
        line = self.lines.get(name)
        if line is None or not (line.origin + timedelta(days=1) <= now <= line.end - timedelta(days=30)):
            assert self.org is not None
            line = self.lines[name] = BusinessLine(self.org.calendars[name], now)
            for entry in self.entries.values():
                if entry.calendar == name:
                    self._mark(entry, now)
        return line

    def _mark(self, entry: Entry, now: datetime) -> None:
        due = entry.row["escalation_at"]
        entry.due_mark = self.lines[entry.calendar].at(due) if due is not None else None

    def _entry(self, row: dict[str, Any], now: datetime) -> Entry | None:
        assert self.org is not None
        name = self.org.customer_calendar.get(row["customer_id"])
        if name is None:
            return None
        due = row["escalation_at"]
        target = None
        if due is not None:
            targets = self.org.targets.get(row["customer_id"], {}).get(row["priority"]) or {}
            for metric in ("first_response", "next_response", "resolution"):
                if row[f"{metric}_due"] == due:
                    raw = targets.get(metric)
                    if raw is None and metric == "next_response":
                        raw = targets.get("first_response")
                    target = float(raw) if raw is not None else None
                    break
        entry = Entry(row, name, target, None)
        self.line(name, now)
        self._mark(entry, now)
        return entry

    async def load(self, now: datetime, monotonic: float) -> None:
        """Every open ticket, from scratch."""
        self.org = await load_org()
        self.entries, self.lines, self.seen_until = {}, {}, None
        self.loaded_at = monotonic
        self._take(await Ticket.filter(status__in=OPEN_STATUSES).values(*FIELDS), now)

    async def update(self, now: datetime) -> None:
        """Only the rows saved since the last poll (plus a margin for late commits)."""
        self.org = await load_org()
        since = (self.seen_until or now) - CHANGE_MARGIN
        self._take(await Ticket.filter(updated_at__gte=since).values(*FIELDS), now)

    def _take(self, rows: list[dict[str, Any]], now: datetime) -> None:
        newest = self.seen_until
        for row in rows:
            if newest is None or row["updated_at"] > newest:
                newest = row["updated_at"]
            self.entries.pop(row["id"], None)
            if row["status"] in OPEN_STATUSES:
                entry = self._entry(row, now)
                if entry is not None:
                    self.entries[row["id"]] = entry
        self.seen_until = newest or now

    def stale(self, monotonic: float) -> bool:
        return monotonic - self.loaded_at >= FULL_RELOAD_SECONDS

    def columns(self, now: datetime, customer: str | None = None) -> list[dict[str, Any]]:
        """Each active person's open tickets, then the unassigned, each sorted by attention."""
        assert self.org is not None
        marks = {name: self.line(name, now).at(now) for name in self.org.calendars}
        wanted = None
        if customer:
            wanted = {cid for cid, c in self.org.customers.items() if c["key"] == customer}
        by_person: dict[int | None, list[Placed]] = {}
        for entry in self.entries.values():
            row = entry.row
            if wanted is not None and row["customer_id"] not in wanted:
                continue
            urgency, left = _urgency(entry, marks[entry.calendar], row["escalation_at"], now)
            by_person.setdefault(row["assignee_id"], []).append(Placed(entry, urgency, left))
        out: list[dict[str, Any]] = []
        active = set()
        for person in self.org.people:
            active.add(person["id"])
            tickets = sorted(by_person.get(person["id"], []), key=attention_key)
            out.append({"person": person["pid"], "name": person["name"], "role": person["role"], "tickets": tickets})
        # Tickets of people no longer active are nobody's: they belong with the unassigned.
        orphans = [p for pid, ps in by_person.items() if pid not in active for p in ps]
        out.append({"person": None, "name": "Unassigned", "role": None, "tickets": sorted(orphans, key=due_key)})
        return out


async def load_org() -> Org:
    """People, customers and their calendars: small tables, read on every poll so config changes show at once."""
    people = await Person.filter(active=True).order_by("pid").values("id", "pid", "name", "role")
    leads = [p for p in people if p["role"] == "lead"]
    others = [p for p in people if p["role"] != "lead"]
    customers = {c["id"]: c for c in await Customer.all().values("id", "key", "name", "contract_id")}
    contracts = {c["id"]: c for c in await Contract.all().values("id", "calendar_id", "targets")}
    calendars: dict[str, Calendar] = {}
    by_id: dict[int, str] = {}
    for row in await CalendarRow.all():
        calendars[row.name] = Calendar.from_config(
            {"timezone": row.timezone, "hours": row.hours, "holidays": row.holidays}, f"calendars.{row.name}")
        by_id[row.id] = row.name
    customer_calendar = {cid: by_id[contracts[c["contract_id"]]["calendar_id"]] for cid, c in customers.items()
                         if c["contract_id"] in contracts}
    targets = {cid: contracts[c["contract_id"]]["targets"] for cid, c in customers.items()
               if c["contract_id"] in contracts}
    return Org(others + leads, customers, calendars, targets, customer_calendar)
