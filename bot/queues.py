"""A person's queue as `/helpdesk queue` shows it: read as plain rows, not whole tickets.

A consultant's queue can hold hundreds of open tickets among a hundred thousand; only the
columns a line shows are read (with the customer's name in the same query), the order is
the lead's (as bot.tickets.queue_order), and the message lists the first QUEUE_SHOWN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from bot.tickets import OPEN_STATUSES, PRIORITY_ORDER
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
