"""Intake through Teams: activities to /api/messages, what reached the fake connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from storage import db
from storage.models import AuditEvent, IntakeMessage, Message, Ticket
from tests.intake_org import apply_org
from tests.scenarios.teams_harness import ACME, TeamsWorld

ROOT = "1795417200123"  # the contact's top-level post in channel_message_top_level.json (07:00:00 UTC)
THREAD = f"{ACME};messageid={ROOT}"


@pytest.fixture
async def world(db_url: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    await db.init(db_url)
    await apply_org()
    w = await TeamsWorld(clock, db_url).start()
    try:
        yield w
    finally:
        await w.close()
        await db.close()


def top_level(world: TeamsWorld, text: str, message_id: str, timestamp: str) -> dict[str, object]:
    activity = world.activity("channel_message_top_level", text=text, id=message_id, timestamp=timestamp)
    activity.pop("attachments", None)
    return activity


async def test_pleasantries_open_nothing_in_teams(world: TeamsWorld) -> None:
    for n, text in enumerate(("Kiitos!", "👍", "Hyvää huomenta kaikille")):
        assert await world.post(top_level(world, text, f"17954172001{n:02d}", "2026-11-23T07:00:00.000Z")) == 200
    assert await world.deliver() == 0
    assert await Ticket.all().count() == 0
    assert await IntakeMessage.filter(outcome="pleasantry").count() == 3


async def test_teams_messages_group_by_their_own_timestamp(world: TeamsWorld, clock: FakeClock) -> None:
    assert await world.post(world.activity("channel_message_top_level")) == 200
    clock.advance(minutes=20)  # delivered late: the activity's timestamp is what counts
    second = top_level(world, "Since Friday, and only in Oulu", "1795417290456", "2026-11-23T07:03:10.100Z")
    assert await world.post(second) == 200
    ticket = await Ticket.get(key="ACME-1")
    assert await Ticket.all().count() == 1
    assert await Message.filter(ticket_id=ticket.id).count() == 2
    await world.deliver()
    assert len(world.connector.posts(THREAD)) == 1  # one acknowledgement
    third = top_level(world, "Printer on floor 2 is out of toner", "1795417900789", "2026-11-23T07:15:00.000Z")
    assert await world.post(third) == 200
    assert await Ticket.filter(key="ACME-2").exists()


async def test_a_ticket_reaction_in_teams_opens_a_ticket(world: TeamsWorld) -> None:
    await apply_org({"ACME": {"mode": "reaction"}})
    assert await world.post(world.activity("channel_message_top_level")) == 200
    assert await Ticket.all().count() == 0
    like = world.activity("message_reaction", reactionsAdded=[{"type": "like"}], id="f:like-1")
    assert await world.post(like) == 200
    assert await Ticket.all().count() == 0
    assert await world.post(world.activity("message_reaction")) == 200
    assert await world.post(world.activity("message_reaction")) == 200  # a redelivery opens nothing more
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.thread == ROOT and await Ticket.all().count() == 1
    assert await AuditEvent.filter(ticket_id=ticket.id, action="opened_by_reaction", actor="person:olli").exists()
    await world.deliver()
    assert len(world.connector.posts(THREAD)) == 1


async def test_a_malformed_reaction_is_refused_and_changes_nothing(world: TeamsWorld) -> None:
    await apply_org({"ACME": {"mode": "reaction"}})
    assert await world.post(world.activity("channel_message_top_level")) == 200
    broken = world.activity("message_reaction", reactionsAdded={"type": "1f3ab_ticket"})
    assert await world.post(broken) == 400
    assert await Ticket.all().count() == 0
    assert await world.post(world.activity("message_reaction")) == 200
    assert await Ticket.all().count() == 1


async def test_an_edit_retitles_and_a_deletion_withdraws_in_teams(world: TeamsWorld) -> None:
    assert await world.post(world.activity("channel_message_top_level")) == 200
    assert await world.post(world.activity("message_update")) == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.title == "Our VPN drops every few minutes in the Oulu and Tampere offices"
    assert await AuditEvent.filter(ticket_id=ticket.id, action="message_edited").exists()
    assert await world.post(world.activity("message_delete")) == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "closed" and ticket.escalation_at is None
    assert (await Message.get(ticket_id=ticket.id)).deleted_at is not None
