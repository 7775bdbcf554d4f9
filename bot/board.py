"""What the leads' board shows, kept up to date incrementally so a poll stays cheap at 10k open tickets.

Each column is sorted by what needs attention: the lead's rank first, then the least business
time left (breached tickets, being late, come first); the unassigned column by due time. Business time left is
`C(due) - C(now)` on a per-calendar cumulative line of open minutes, so a ticket's part is
computed once per change and a poll only subtracts and sorts.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sla import Calendar, _day_intervals, business_minutes_between
from bot.statuses import OPEN_STATUSES, PAUSING_STATUSES
from bot.tickets import PRIORITY_ORDER
from storage.board_rows import open_ticket_rows
from storage.models import Calendar as CalendarRow
from storage.models import Contract, Customer, Person, Ticket

WARNING_LEFT = 0.25  # under this fraction of a target left, a ticket shows as a warning
LINE_DAYS_BACK = 60
LINE_DAYS_AHEAD = 400
FULL_RELOAD_SECONDS = 300.0  # catches what no updated_at records (deletions, outbox thread ids)
ORG_SECONDS = 10.0
CHANGE_MARGIN = timedelta(seconds=5)  # a transaction that commits after a later one started
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


@dataclass(slots=True)
class Entry:
    """One open ticket as the board keeps it: its row, its part of the arithmetic, its place in a list."""

    row: dict[str, Any]
    calendar: str
    target: float | None  # minutes of the metric whose deadline is nearest
    due_mark: float | None = None  # C(due) on its calendar's line
    bucket: tuple[Any, ...] = ()
    sort_key: tuple[Any, ...] = ()


@dataclass(slots=True)
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


def place(entry: Entry, now: datetime, now_mark: float) -> Placed:
    row = entry.row
    due = row["escalation_at"]
    if row["status"] in PAUSING_STATUSES:
        return Placed(entry, "paused", None)
    if due is None or entry.due_mark is None:
        return Placed(entry, "none", None)
    left = entry.due_mark - now_mark
    if due <= now:
        return Placed(entry, "breached", min(left, 0.0))
    if entry.target is not None and left < WARNING_LEFT * entry.target:
        return Placed(entry, "warning", left)
    return Placed(entry, "ok", left)


@dataclass
class BoardState:
    """The open tickets in sorted lists, refreshed from the rows changed since the last poll.

    A person's column is: their ranked tickets by rank; then the unranked ones with a running
    clock by business time left (one list per calendar, each sorted by C(due), merged per poll
    by C(due) - C(now)); then paused ones and those with no clock, by priority. The unassigned
    column is one list by due time. A poll reads only the cards it shows.
    """

    entries: dict[int, Entry] = field(default_factory=dict)
    lists: dict[tuple[Any, ...], list[tuple[Any, ...]]] = field(default_factory=dict)
    lines: dict[str, BusinessLine] = field(default_factory=dict)
    org: Org | None = None
    seen_until: datetime | None = None
    loaded_at: float = -math.inf
    org_at: float = -math.inf

    def line(self, name: str, now: datetime) -> BusinessLine:
        line = self.lines.get(name)
        if line is None or not (line.origin + timedelta(days=1) <= now <= line.end - timedelta(days=30)):
            assert self.org is not None
            line = self.lines[name] = BusinessLine(self.org.calendars[name], now)
            for entry in [e for e in self.entries.values() if e.calendar == name]:
                self._remove(entry)
                self._insert(entry)
        return line

    def _insert(self, entry: Entry) -> None:
        row = entry.row
        due = row["escalation_at"]
        priority = PRIORITY_ORDER.get(row["priority"], 9)
        entry.due_mark = None
        if due is not None and row["status"] not in PAUSING_STATUSES:
            entry.due_mark = self.lines[entry.calendar].at(due)
        who = row["assignee_id"]
        bucket: tuple[Any, ...]
        key: tuple[Any, ...]
        if who is None:
            bucket, key = (None, "due"), (due is None, due.timestamp() if due else 0.0, priority, row["id"])
        elif row["rank"] is not None:
            bucket, key = (who, "ranked"), (row["rank"], priority, row["id"])
        elif entry.due_mark is not None:
            bucket, key = (who, "timed", entry.calendar), (entry.due_mark, priority, row["id"])
        else:
            bucket, key = (who, "idle"), (priority, row["id"])
        entry.bucket, entry.sort_key = bucket, key
        insort(self.lists.setdefault(bucket, []), key)

    def _remove(self, entry: Entry) -> None:
        items = self.lists.get(entry.bucket)
        if items is None:
            return
        i = bisect_left(items, entry.sort_key)
        if i < len(items) and items[i] == entry.sort_key:
            del items[i]

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
        self.line(name, now)
        entry = Entry(row, name, target)
        self._insert(entry)
        return entry

    async def load(self, now: datetime, monotonic: float) -> None:
        """Every open ticket, from scratch."""
        self.org, self.org_at = await load_org(), monotonic
        self.entries, self.lists, self.lines, self.seen_until = {}, {}, {}, None
        self.loaded_at = monotonic
        self._take(await open_ticket_rows(FIELDS, OPEN_STATUSES), now)

    async def update(self, now: datetime, monotonic: float) -> None:
        """Only the rows saved since the last poll (plus a margin for late commits); people and
        customers again when ORG_SECONDS have passed, so a config apply shows within seconds."""
        if monotonic - self.org_at >= ORG_SECONDS:
            self.org, self.org_at = await load_org(), monotonic
        since = (self.seen_until or now) - CHANGE_MARGIN
        self._take(await Ticket.filter(updated_at__gte=since).values(*FIELDS), now)

    def _take(self, rows: list[dict[str, Any]], now: datetime) -> None:
        newest = self.seen_until
        for row in rows:
            if newest is None or row["updated_at"] > newest:
                newest = row["updated_at"]
            old = self.entries.pop(row["id"], None)
            if old is not None:
                self._remove(old)
            if row["status"] in OPEN_STATUSES:
                entry = self._entry(row, now)
                if entry is not None:
                    self.entries[row["id"]] = entry
        self.seen_until = newest or now

    def stale(self, monotonic: float) -> bool:
        return monotonic - self.loaded_at >= FULL_RELOAD_SECONDS

    def _keys(self, items: list[tuple[Any, ...]], wanted: set[int] | None) -> Iterator[Entry]:
        for key in items:
            entry = self.entries[key[-1]]
            if wanted is None or entry.row["customer_id"] in wanted:
                yield entry

    def _count(self, items: list[tuple[Any, ...]], wanted: set[int] | None) -> int:
        return len(items) if wanted is None else sum(1 for _ in self._keys(items, wanted))

    def _by_left(self, who: int, marks: dict[str, float], wanted: set[int] | None) -> Iterator[Entry]:
        """Unranked tickets with a running clock, least business time left first, across calendars."""
        assert self.org is not None
        streams = []
        for name in self.org.calendars:
            items = self.lists.get((who, "timed", name))
            if items:
                mark = marks[name]
                streams.append(((e.due_mark or 0.0) - mark, e.sort_key, e) for e in self._keys(items, wanted))
        if len(streams) == 1:
            return (e for _, _, e in streams[0])
        return (e for _, _, e in heapq.merge(*streams, key=lambda t: (t[0], t[1])))

    def columns(self, now: datetime, customer: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Each active person's first `limit` open tickets by attention, then the unassigned by due time."""
        assert self.org is not None
        marks = {name: self.line(name, now).at(now) for name in self.org.calendars}
        wanted = None
        if customer:
            wanted = {cid for cid, c in self.org.customers.items() if c["key"] == customer}
        out: list[dict[str, Any]] = []
        active = {p["id"] for p in self.org.people}
        for person in self.org.people:
            who = person["id"]
            ranked = self.lists.get((who, "ranked"), [])
            idle = self.lists.get((who, "idle"), [])
            chain = itertools.chain(self._keys(ranked, wanted), self._by_left(who, marks, wanted),
                                    self._keys(idle, wanted))
            shown = [place(e, now, marks[e.calendar]) for e in itertools.islice(chain, limit)]
            timed = [self.lists.get((who, "timed", name), []) for name in self.org.calendars]
            count = sum(self._count(items, wanted) for items in [ranked, idle, *timed])
            out.append({"person": person["pid"], "name": person["name"], "role": person["role"],
                        "tickets": shown, "count": count})
        # Tickets of people no longer active are nobody's: they go with the unassigned, by due time.
        gone = {bucket[0] for bucket, items in self.lists.items() if items and bucket[0] is not None} - active
        due_list = self.lists.get((None, "due"), [])
        if gone:
            unassigned = sorted([*self._keys(due_list, wanted),
                                 *(e for e in self.entries.values() if e.row["assignee_id"] in gone
                                   and (wanted is None or e.row["customer_id"] in wanted))], key=_due_key)
            count, first = len(unassigned), unassigned[:limit]
        else:
            count, first = self._count(due_list, wanted), list(itertools.islice(self._keys(due_list, wanted), limit))
        out.append({"person": None, "name": "Unassigned", "role": None, "count": count,
                    "tickets": [place(e, now, marks[e.calendar]) for e in first]})
        return out


def _due_key(entry: Entry) -> tuple[Any, ...]:
    due = entry.row["escalation_at"]
    return (due is None, due.timestamp() if due else 0.0, PRIORITY_ORDER.get(entry.row["priority"], 9),
            entry.row["id"])


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
