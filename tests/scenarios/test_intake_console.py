"""Intake through the console channel: what a contact and the triage channel see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from storage import db
from storage.models import IntakeMessage, Message, Ticket
from tests.intake_org import apply_org
from tests.scenarios.console_driver import ConsoleWorld


@pytest.fixture
async def world(db_url: str, clock: FakeClock) -> AsyncIterator[ConsoleWorld]:
    await db.init(db_url)
    await apply_org()
    try:
        yield ConsoleWorld(clock)
    finally:
        await db.close()


async def test_console_pleasantries_and_a_split_request(world: ConsoleWorld, clock: FakeClock) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Hyvää huomenta!")
    assert world.take() == []  # no ticket, no acknowledgement, nobody told
    await customer.say("The VPN drops every few minutes")
    seen = world.take()
    assert any(s.startswith("[#ACME › ACME-1]") for s in seen) and any(s.startswith("[#triage]") for s in seen)
    await customer.say(":top")
    clock.advance(minutes=2)
    await customer.say("It is only the Oulu office")  # two minutes later: the same request
    assert world.take() == []
    ticket = await Ticket.get(key="ACME-1")
    assert await Message.filter(ticket_id=ticket.id).count() == 2
    await customer.say(":top")
    clock.advance(minutes=10)
    await customer.say("thanks, but it is still broken in Tampere")  # a request: never dropped
    assert any("ACME-2" in s for s in world.take())


async def test_console_react_opens_a_ticket_in_reaction_mode(world: ConsoleWorld) -> None:
    await apply_org({"ACME": {"mode": "reaction"}})
    customer = await world.person("customer:ACME")
    await customer.say("Could someone add Pekka to the VPN group")
    assert world.take() == [] and await Ticket.all().count() == 0
    await customer.say(":react thumbsup")
    assert world.take() == []
    await customer.say(":react")  # 🎫
    seen = world.take()
    assert any(s.startswith("[#ACME › ACME-1]") and "ACME-1" in s for s in seen)
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.title == "Could someone add Pekka to the VPN group"


async def test_console_night_ticket_names_the_support_hours(world: ConsoleWorld, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 24, 19, 0, tzinfo=UTC))  # Tuesday 21:00 in Helsinki
    customer = await world.person("customer:ACME")
    await customer.say("Mail is not arriving")
    [ack] = [s for s in world.take() if s.startswith("[#ACME › ACME-1]")]
    assert "Our support hours are Mon–Thu 08–16, Fri 08–12 and 13–16 Helsinki time; we will reply by Wed 12:00." in ack


async def test_erasing_a_contact_erases_what_intake_kept(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Hello from ACME contact")  # a request that is kept by intake as well
    await customer.say(":top")
    await customer.say("kiitos!")  # a pleasantry: kept by intake only
    assert await IntakeMessage.filter(text="kiitos!").exists()
    lead = await world.person("lead:maija")
    await lead.say("/helpdesk privacy erase contact-acme")
    assert "erased contact" in world.take()[-1]
    assert set(await IntakeMessage.all().values_list("text", flat=True)) == {""}
