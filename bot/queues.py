"""A person's queue as `/helpdesk queue` shows it: read as plain rows, not whole tickets.

A consultant's queue can hold hundreds of open tickets among a hundred thousand; only the
columns a line shows are read (with the customer's name in the same query), the order is
the lead's (as bot.tickets.queue_order), and the message lists the first QUEUE_SHOWN. The
business time left on the lines shown is counted on one Timeline per calendar, not by walking
the calendar's days once per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from bot.sla import Calendar
from bot.statuses import PAUSING_STATUSES, status_label
from bot.tickets import OPEN_STATUSES, PRIORITY_ORDER, sla_context
from bot.timelabels import business_left_on
from bot.timeline import Timeline
from storage.db import stored_time
from storage.models import Ticket

QUEUE_SHOWN = 50
FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class QueueLine:
    key: str
    priority: str
    rank: int | None
    status: str
    title: str
    customer: str
    escalation_at: datetime | None
    created_at: datetime
    customer_id: int

    def order(self) -> tuple[object, ...]:
        return (self.rank is None, self.rank or 0, PRIORITY_ORDER.get(self.priority, 9), self.escalation_at or FAR,
                self.created_at)


async def queue_lines(person_id: int, limit: int = QUEUE_SHOWN) -> tuple[list[QueueLine], int]:
    """The first `limit` lines of the person's queue, and how many open tickets it holds."""
    query = Ticket.filter(assignee_id=int(person_id), status__in=OPEN_STATUSES).values_list(
        "key", "priority", "rank", "status", "title", "customer__name", "escalation_at", "created_at",
        "customer_id")
    # The ORM's row conversion costs several times the query itself here; the values are plain,
    # and the parameters are an integer and constants, so the SQL is run as it stands.
    rows = await connections.get("default").execute_query_dict(query.sql(params_inline=True))
    lines = sorted((_line(list(row.values())) for row in rows), key=QueueLine.order)
    return lines[:limit], len(lines)


def _line(v: list[Any]) -> QueueLine:
    created = _when(v[7])
    assert created is not None
    return QueueLine(str(v[0]), str(v[1]), None if v[2] is None else int(v[2]), str(v[3]), str(v[4]), str(v[5]),
                     _when(v[6]), created, int(v[8]))


def _when(value: object) -> datetime | None:
    return None if value is None else stored_time(value)


async def sla_left(lines: Sequence[QueueLine], now: datetime) -> list[str]:
    """Each line's SLA column: business time left until (or late since) its escalation, or why none runs."""
    calendars: dict[int, Calendar] = {}
    spans: dict[Calendar, list[datetime]] = {}
    for line in lines:
        if line.escalation_at is None:
            continue
        if line.customer_id not in calendars:
            calendars[line.customer_id] = (await sla_context(line.customer_id)).calendar
        spans.setdefault(calendars[line.customer_id], [now]).append(line.escalation_at)
    timelines = {cal: Timeline(cal, min(moments), max(moments)) for cal, moments in spans.items()}
    labels = []
    for line in lines:
        if line.escalation_at is not None:
            labels.append(business_left_on(timelines[calendars[line.customer_id]], line.escalation_at, now))
        elif line.status in PAUSING_STATUSES:
            labels.append(f"SLA paused ({status_label(line.status)})")
        else:
            labels.append("no SLA clock running")
    return labels
