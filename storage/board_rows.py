"""The leads' board reads every open ticket in one plain query when it rebuilds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

_DATETIMES = ("escalation_at", "first_response_due", "next_response_due", "resolution_due", "updated_at",
              "created_at")


async def open_ticket_rows(fields: Sequence[str], statuses: Sequence[str]) -> list[dict[str, Any]]:
    """The given ticket columns of every ticket in `statuses`, datetimes aware.

    The ORM's per-value conversion costs more than the query itself at 10k rows, and a full
    load runs in the background of a busy server; `fields` and `statuses` are code constants.
    """
    names = ", ".join(f for f in fields if f.isidentifier())
    wanted = ", ".join("'" + s.replace("'", "") + "'" for s in statuses)
    rows = await connections.get("default").execute_query_dict(
        f"SELECT {names} FROM ticket WHERE status IN ({wanted})")
    for row in rows:
        for name in _DATETIMES:
            value = row.get(name)
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            if name in row:
                row[name] = value
    return rows
