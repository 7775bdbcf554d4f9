"""storage.rows: the hot path's lookups and inserts behave as the ORM's own, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise.exceptions import ValidationError

from storage import rows
from storage.models import AuditEvent, Contact, Customer, IntakeMessage

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


async def test_first_finds_what_the_orm_finds_and_none_means_is_null(any_database: str) -> None:
    acme = await Customer.get(key="ACME")
    made = await Contact.create(platform="slack", tenant="T0ACME", user_id="U1", customer_id=acme.id,
                                display_name="Maija", created_at=NOW)
    found = await rows.first(Contact, platform="slack", tenant="T0ACME", user_id="U1", customer_id=acme.id)
    assert found is not None and found.id == made.id
    assert (found.display_name, found.created_at, found.customer_id, found.erased_at) == ("Maija", NOW, acme.id, None)
    assert await rows.first(Contact, user_id="U1", erased_at=None) is not None
    assert await rows.first(Contact, user_id="U1", display_name=None) is None
    assert await rows.first(Contact, platform="slack", tenant="T0OTHER", user_id="U1", customer_id=acme.id) is None
    assert await rows.exists(Contact, user_id="U1") and not await rows.exists(Contact, user_id="U2")


async def test_add_stores_the_row_create_would_defaults_included(any_database: str) -> None:
    acme = await Customer.get(key="ACME")
    contact = await Contact.create(platform="slack", tenant="T0ACME", user_id="U1", customer_id=acme.id,
                                   created_at=NOW)
    added = await rows.add(IntakeMessage, platform="slack", tenant="T0ACME", channel="C0ACME", message_id="1.1",
                           contact_id=contact.id, outcome="nothing", text="ok", sent_at=NOW)
    created = await IntakeMessage.create(platform="slack", tenant="T0ACME", channel="C0ACME", message_id="1.2",
                                         contact_id=contact.id, outcome="nothing", text="ok", sent_at=NOW)
    mine, theirs = await IntakeMessage.get(id=added), await IntakeMessage.get(id=created.id)
    same = ("platform", "tenant", "channel", "contact_id", "ticket_id", "outcome", "text", "files", "sent_at",
            "deleted_at")
    assert [getattr(mine, f) for f in same] == [getattr(theirs, f) for f in same]
    assert mine.files == [] and added != created.id
    event = await AuditEvent.get(id=await rows.add(AuditEvent, actor="system", channel="system", action="x",
                                                   created_at=NOW))
    assert event.detail == {} and event.ticket_id is None


async def test_add_refuses_what_create_refuses(any_database: str) -> None:
    with pytest.raises(TypeError, match="no field colour"):
        await rows.add(AuditEvent, actor="system", channel="system", action="x", created_at=NOW, colour="red")
    with pytest.raises(ValidationError):
        await rows.add(AuditEvent, actor="system", channel="system", action="x" * 10_000, created_at=NOW)
    assert await AuditEvent.all().count() == 0
