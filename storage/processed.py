"""Processed events: the row that makes a retried delivery recognisable, written in one statement."""

from __future__ import annotations

from datetime import datetime

from tortoise import connections

from storage.models import ProcessedEvent


async def first_delivery(platform: str, key: str, now: datetime) -> bool:
    """Record the event; False when it was recorded before (a retry or a concurrent delivery,
    whose transaction this one waits for on PostgreSQL)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    marks = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
    created = ProcessedEvent._meta.fields_map["created_at"].to_db_value(now, ProcessedEvent)
    rows = await conn.execute_query_dict(
        f'INSERT INTO "processed_event" ("platform", "event_id", "created_at") VALUES ({",".join(marks)}) '
        'ON CONFLICT ("platform", "event_id") DO NOTHING RETURNING "id"', [platform, key, created])
    return bool(rows)
