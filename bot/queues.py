"""A person's queue as `/helpdesk queue` shows it: read as plain rows, not whole tickets.

A consultant's queue can hold hundreds of open tickets among a hundred thousand; only the
columns a line shows are read (with the customer's name in the same query), the order is
the lead's (as bot.tickets.queue_order), and the message lists the first QUEUE_SHOWN. The
business time left on the lines shown is counted on one timeline per calendar (kept for the
next queue), not by walking the calendar's days once per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections

from bot.sla import Calendar
from bot.statuses import PAUSING_STATUSES, status_label
from bot.tickets import OPEN_STATUSES, order_key, sla_context
from bot.timelabels import business_left_on
from bot.timeline import timeline_for
from storage.db import stored_time

QUEUE_SHOWN = 50


# Written out rather than built by the ORM for every call (building it cost more than running
# it); the statuses are code constants and the person is an integer parameter.
_STATUSES = ", ".join("'" + s.replace("'", "") + "'" for s in OPEN_STATUSES)
_QUEUE_SQL = ('SELECT t."key", t."priority", t."rank", t."status", t."title", c."name", t."escalation_at", '
              't."created_at", t."customer_id" FROM "ticket" t '
              'LEFT OUTER JOIN "customer" c ON c."id" = t."customer_id" '
              f'WHERE t."assignee_id" = {{mark}} AND t."status" IN ({_STATUSES})')
_SQL = {"postgres": _QUEUE_SQL.format(mark="$1"), "sqlite": _QUEUE_SQL.format(mark="?")}
KEY, PRIORITY, RANK, STATUS, TITLE, CUSTOMER, ESCALATION_AT, CREATED_AT, CUSTOMER_ID = range(9)


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


async def queue_lines(person_id: int, limit: int = QUEUE_SHOWN) -> tuple[list[QueueLine], int]:
    """The first `limit` lines of the person's queue, and how many open tickets it holds."""
    conn = connections.get("default")
    # Rows, not dicts, and lines only for the rows shown: the conversion of every row cost
    # more than the query. The order is sorted here, not in SQL, because SQLite keeps
    # timestamps as text whose offsets and separators vary.
    sql = _SQL["postgres" if conn.capabilities.dialect == "postgres" else "sqlite"]
    _, rows = await conn.execute_query(sql, [int(person_id)])
    ordered = sorted(rows, key=_order)
    return [_line(row) for row in ordered[:limit]], len(ordered)


def _order(row: Sequence[Any]) -> tuple[object, ...]:
    """bot.tickets.queue_order on a plain row."""
    escalation = row[ESCALATION_AT]
    return order_key(row[RANK], row[PRIORITY], None if escalation is None else stored_time(escalation),
                     stored_time(row[CREATED_AT]))


def _line(v: Sequence[Any]) -> QueueLine:
    escalation = v[ESCALATION_AT]
    return QueueLine(str(v[KEY]), str(v[PRIORITY]), None if v[RANK] is None else int(v[RANK]), str(v[STATUS]),
                     str(v[TITLE]), str(v[CUSTOMER]), None if escalation is None else stored_time(escalation),
                     stored_time(v[CREATED_AT]), int(v[CUSTOMER_ID]))


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
    timelines = {cal: timeline_for(cal, min(moments), max(moments)) for cal, moments in spans.items()}
    labels = []
    for line in lines:
        if line.escalation_at is not None:
            labels.append(business_left_on(timelines[calendars[line.customer_id]], line.escalation_at, now))
        elif line.status in PAUSING_STATUSES:
            labels.append(f"SLA paused ({status_label(line.status)})")
        else:
            labels.append("no SLA clock running")
    return labels
