"""Acceptance stories 1-7 and 9 played through the console channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FakeClock
from storage.models import AuditEvent, Message, OutboxMessage, Ticket
from tests.scenarios.console_driver import ConsoleWorld


@pytest.fixture
async def world(database: str, clock: FakeClock) -> ConsoleWorld:
    return ConsoleWorld(clock)


def lines_with(seen: list[str], prefix: str) -> list[str]:
    return [s for s in seen if s.startswith(prefix)]


async def test_story_1_2_message_becomes_ticket_and_replies_join_it(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Our VPN drops every few minutes in the Oulu office")
    seen = world.take()
    ack = lines_with(seen, "[#ACME › ACME-1]")
    assert len(ack) == 1 and "ACME-1" in ack[0]
    triage = lines_with(seen, "[#triage]")
    assert len(triage) == 1 and "New ticket ACME-1 from Acme Oy" in triage[0]
    assert "/helpdesk claim ACME-1" in triage[0] and "/helpdesk assign ACME-1" in triage[0]

    await customer.say("It started after the weekend")
    consultant = await world.person("consultant:olli")
    await consultant.say(":thread ACME-1")
    world.clock.advance(minutes=20)
    await consultant.say("Looking at it now")
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.first_response_at == world.clock.now()
    assert ticket.sla_state["results"]["first_response"] == "met"
    assert ticket.first_response_due is None
    assert ticket.status == "in_progress"
    assert await Message.filter(ticket_id=ticket.id).count() == 3
    assert await Ticket.all().count() == 1


async def test_story_3_only_a_lead_sets_priority(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Printer queue stuck")
    before = await Ticket.get(key="ACME-1")
    consultant = await world.person("consultant:olli")
    await consultant.say("/helpdesk priority ACME-1 P1")
    assert world.take()[-1] == "[only you] chatdesk: not allowed: only a lead can set priority"
    await customer.say("/helpdesk priority ACME-1 P1")
    assert "not allowed: only a lead can set priority" in world.take()[-1]
    unchanged = await Ticket.get(key="ACME-1")
    assert (unchanged.priority, unchanged.resolution_due) == ("P3", before.resolution_due)

    lead = await world.person("lead:maija")
    await lead.say("/helpdesk priority ACME-1 P1")
    assert "ACME-1 priority P3 → P1" in world.take()[0]
    after = await Ticket.get(key="ACME-1")
    assert after.priority == "P1"
    # gold P1: 30 min first response, 240 min resolution from Monday 09:00 Helsinki
    assert after.first_response_due == world.clock.now() + timedelta(minutes=30)
    assert after.resolution_due == world.clock.now() + timedelta(minutes=240)
    assert await AuditEvent.filter(ticket_id=after.id, action="priority").count() == 1


async def test_story_4_lead_ranks_the_queue(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    for text in ("one", "two", "three"):
        await customer.say(":top")
        await customer.say(f"Problem {text}")
    lead = await world.person("lead:maija")
    for key in ("ACME-1", "ACME-2", "ACME-3"):
        await lead.say(f"/helpdesk assign {key} @olli")
    world.take()
    await lead.say("/helpdesk rank @olli ACME-3 ACME-1")
    seen = world.take()
    assert "Olli's queue now starts: ACME-3, ACME-1." in seen[0]
    assert lines_with(seen, "[DM to olli]")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk queue")
    queue = world.take()[0]
    order = [line.split()[1] for line in queue.splitlines()[1:]]
    assert order == ["ACME-3", "ACME-1", "ACME-2"]
    assert "left" in queue  # SLA time left per ticket
    await olli.say("/helpdesk rank @olli ACME-1")
    assert "not allowed: only a lead can rank a queue" in world.take()[0]


async def test_story_5_internal_note_never_reaches_the_customer(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Mail is slow")
    olli = await world.person("consultant:olli")
    world.take()
    await olli.say("/helpdesk note ACME-1 customer's MX record is wrong, do not tell them yet")
    seen = world.take()
    assert seen == ["[only you] chatdesk: Internal note added to ACME-1 (the customer does not see it)."]
    note = await Message.get(internal=True)
    assert "MX record" in note.text
    rows = await OutboxMessage.all()
    assert not any("MX record" in str(r.payload) for r in rows)
    await customer.say("/helpdesk show ACME-1")
    assert "MX record" not in world.take()[0]


async def test_story_6_wait_pauses_and_customer_reply_resumes(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Need a new VPN account")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    before = await Ticket.get(key="ACME-1")
    await olli.say("/helpdesk wait ACME-1 Which office is it for?")
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "waiting_on_customer" and ticket.resolution_due is None
    seen = world.take()
    assert any(s.startswith("[#ACME › ACME-1]") and "Which office is it for?" in s for s in seen)
    world.clock.advance(hours=2)  # two business hours on hold
    await customer.say("Oulu")
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "in_progress"
    assert before.resolution_due is not None
    assert ticket.resolution_due == before.resolution_due + timedelta(hours=2)
    assert any("[DM to olli]" in s and "customer replied" in s for s in world.take())


async def test_story_7_resolve_posts_resolution_and_asks_for_rating(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Teams calls drop")
    olli = await world.person("consultant:olli")
    world.take()
    await olli.say("/helpdesk resolve ACME-1 Updated the Teams client to 1.7; calls are stable now")
    seen = world.take()
    thread = lines_with(seen, "[#ACME › ACME-1]")
    assert len(thread) == 1
    assert "Updated the Teams client to 1.7" in thread[0] and "Rate 1-5" in thread[0]
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.resolution) == ("resolved", "Updated the Teams client to 1.7; calls are stable now")
    assert ticket.sla_state["results"]["resolution"] == "met"
    await olli.say("/helpdesk reopen ACME-1 still dropping")
    assert (await Ticket.get(key="ACME-1")).status == "in_progress"


async def test_story_9_misspelt_and_bad_input_change_nothing(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Laptop will not boot")
    olli = await world.person("consultant:olli")
    world.take()
    before = await Ticket.get(key="ACME-1")
    audit_before = await AuditEvent.all().count()
    for line, expected in [
        ("/helpdesk asign ACME-1 @olli", "Did you mean `/helpdesk assign`?"),
        ("/helpdesk assign ACME-1 @nobody", "@nobody is not a consultant or lead"),
        ("/helpdesk assign ACME-99 @olli", "no ticket ACME-99"),
        ("/helpdesk status ACME-1 done", "is not a status"),
        ("/helpdesk status ACME-1 awaiting_approval", "not allowed"),
        ("/helpdesk close ACME-1 now", "unexpected 'now'"),
        ("/helpdesk type ACME-1 change_request extra", "not a type"),
    ]:
        await olli.say(line)
        seen = world.take()
        assert len(seen) == 1 and expected in seen[0], (line, seen)
    after = await Ticket.get(key="ACME-1")
    assert (after.status, after.assignee_id, after.priority, after.type) == (
        before.status, before.assignee_id, before.priority, before.type)
    assert await AuditEvent.all().count() == audit_before


async def test_contacts_see_only_their_own_customer(world: ConsoleWorld) -> None:
    acme = await world.person("customer:ACME")
    await acme.say("ACME secret problem")
    globex = await world.person("customer:GLOBEX")
    await globex.say("Globex problem")
    world.take()
    await globex.say("/helpdesk show ACME-1")
    assert world.take() == ["[only you] chatdesk: no ticket ACME-1"]
    await globex.say("/helpdesk queue")
    listing = world.take()[0]
    assert "GLOBEX-1" in listing and "ACME" not in listing
    await globex.say("/helpdesk reopen ACME-1")
    assert world.take() == ["[only you] chatdesk: no ticket ACME-1"]
    await acme.say("/helpdesk show ACME-1")
    assert "ACME secret problem" in world.take()[0]


async def test_change_request_needs_approval_before_work(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Please add a VPN profile for the new office")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk type ACME-1 change request")
    world.take()
    await olli.say("/helpdesk status ACME-1 in_progress")
    assert "work starts after the customer approves an estimate" in world.take()[0]
    assert (await Ticket.get(key="ACME-1")).status == "new"
