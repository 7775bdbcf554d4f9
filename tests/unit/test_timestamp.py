"""storage.models.Timestamp reads every stored time exactly as Tortoise's DatetimeField does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise import fields

from storage.models import Ticket, Timestamp

STORED = ["2026-11-23 07:00:00+00:00", "2026-11-23 07:00:00.123456+00:00", "2026-11-23T09:00:00+02:00",
          "2026-11-23 07:00:00", "2026-11-23", "20261123T070000Z", datetime(2026, 11, 23, 7, tzinfo=UTC), None]


@pytest.mark.parametrize("value", STORED)
def test_a_stored_time_reads_as_the_orm_reads_it(value: object) -> None:
    mine, theirs = Timestamp().to_python_value(value), fields.DatetimeField().to_python_value(value)
    assert mine == theirs
    assert (mine.tzinfo, mine.utcoffset()) == (theirs.tzinfo, theirs.utcoffset()) if mine else theirs is None


def test_migrations_see_a_plain_datetime_field() -> None:
    field = Ticket._meta.fields_map["created_at"]
    assert isinstance(field, Timestamp)
    assert field.deconstruct()[0] == "tortoise.fields.data.DatetimeField"


async def test_tickets_read_back_through_the_database_are_unchanged(any_database: str) -> None:
    from storage.models import Customer

    acme = await Customer.get(key="ACME")
    when = datetime(2026, 11, 23, 7, 0, 0, 250000, tzinfo=UTC)
    made = await Ticket.create(key="ACME-900", number=900, customer_id=acme.id, title="t", platform="slack",
                               tenant="T0HOME", channel="C0ACME", created_at=when, updated_at=when)
    back = await Ticket.get(id=made.id)
    assert back.created_at == when and back.resolved_at is None and back.created_at.utcoffset().total_seconds() == 0
