"""What consultants and leads read in chat: audit rows for ranks, no empty changes."""

from __future__ import annotations

import pytest

from bot.clock import FakeClock
from storage.models import AuditEvent, Ticket
from tests.scenarios.console_driver import ConsoleWorld


@pytest.fixture
async def world(database: str, clock: FakeClock) -> ConsoleWorld:
    return ConsoleWorld(clock)


async def test_rank_leaves_a_row_in_each_tickets_audit(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    for text in ("one", "two"):
        await customer.say(":top")
        await customer.say(f"Problem {text}")
    lead = await world.person("lead:maija")
    for key in ("ACME-1", "ACME-2"):
        await lead.say(f"/helpdesk assign {key} @olli")
    await lead.say("/helpdesk rank @olli ACME-2 ACME-1")
    await lead.say("/helpdesk rank @olli ACME-1")
    one = await Ticket.get(key="ACME-1")
    two = await Ticket.get(key="ACME-2")
    rows_one = await AuditEvent.filter(ticket_id=one.id, action="rank").order_by("id")
    rows_two = await AuditEvent.filter(ticket_id=two.id, action="rank").order_by("id")
    assert [(r.detail["from"], r.detail["to"]) for r in rows_one] == [(None, 2), (2, 1)]
    assert [(r.detail["from"], r.detail["to"]) for r in rows_two] == [(None, 1), (1, None)]


async def test_type_to_the_same_type_changes_nothing(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Printer on fire")
    lead = await world.person("lead:maija")
    world.take()
    await lead.say("/helpdesk type ACME-1 incident")
    seen = world.take()
    assert "already of type Incident; nothing changed" in seen[0], seen
    assert not any("Incident → Incident" in s for s in seen)
    ticket = await Ticket.get(key="ACME-1")
    assert await AuditEvent.filter(ticket_id=ticket.id, action="type").count() == 0


async def test_history_shows_the_conversation_to_each_as_they_may_read_it(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("VPN drops every few minutes")
    olli = await world.person("consultant:olli")
    await olli.say(":thread ACME-1")
    await olli.say("Looking at it now")
    await olli.say("/helpdesk note ACME-1 firmware is old")
    world.take()
    await olli.say("/helpdesk history ACME-1")
    agent_view = "\n".join(world.take())
    assert "VPN drops every few minutes" in agent_view and "Looking at it now" in agent_view
    assert "[internal note]: firmware is old" in agent_view
    assert "times in Europe/Helsinki" in agent_view
    assert "[only you]" in agent_view
    await customer.say("/helpdesk history ACME-1")
    customer_view = "\n".join(world.take())
    assert "Looking at it now" in customer_view
    assert "firmware" not in customer_view and "internal" not in customer_view
    globex = await world.person("customer:GLOBEX")
    await globex.say("/helpdesk history ACME-1")
    assert "no ticket ACME-1" in "\n".join(world.take())


async def test_new_with_an_unknown_customer_says_so(world: ConsoleWorld) -> None:
    olli = await world.person("consultant:olli")
    world.take()
    await olli.say("/helpdesk new FOO printer broken")
    seen = "\n".join(world.take())
    assert "no customer FOO in the config (known: ACME, GLOBEX)" in seen
    assert await Ticket.all().count() == 0


def test_a_message_without_text_gets_a_title_naming_its_sender() -> None:
    from bot.tickets import title_from

    assert title_from("  \n \n", "Request from Anna") == "Request from Anna"
    assert "(no text)" not in title_from("")
    assert title_from("\n VPN down \nmore") == "VPN down"


async def test_show_offers_only_the_buttons_the_viewer_may_use(world: ConsoleWorld) -> None:
    from bot.views import buttons_for

    customer = await world.person("customer:ACME")
    await customer.say("Mail is slow")
    ticket = await Ticket.get(key="ACME-1")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    ticket = await Ticket.get(key="ACME-1")
    from storage.models import Person

    olli_id = (await Person.get(pid="olli")).id
    maija_id = (await Person.get(pid="maija")).id
    assert [b.label for b in buttons_for(ticket, "consultant", olli_id)] == ["Assign", "Resolve"]
    assert [b.label for b in buttons_for(ticket, "lead", maija_id)] == ["Claim", "Assign", "Priority", "Resolve"]
    assert buttons_for(ticket, "contact", None) == ()
    world.take()
    await olli.say("/helpdesk show ACME-1")
    shown = "\n".join(world.take())
    assert "[Assign: /helpdesk assign ACME-1" in shown and "[Resolve: /helpdesk resolve ACME-1" in shown
    assert "[Claim:" not in shown and "[Priority:" not in shown


async def test_every_figure_names_its_clock_and_zone(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Wiki is down")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    world.clock.advance(minutes=50)
    world.take()
    await olli.say("/helpdesk sla ACME-1")
    sla = "\n".join(world.take())
    # gold P3: 240 business minutes to a first response, 50 used
    assert "first response: target 4h 00m business time · used 50m · 3h 10m business time left · " \
           "due Mon 23 Nov 13:00 EET (Europe/Helsinki)" in sla, sla
    assert "resolution: target 40h 00m business time" in sla  # not "1d 16h"
    world.clock.advance(hours=6)  # 15:50 Helsinki: 10 business minutes left, the office closes at 16:00
    await olli.say("/helpdesk queue")
    queue = "\n".join(world.take())
    assert "ACME-1" in queue and "business time late" in queue, queue
    await olli.say("/helpdesk show ACME-1")
    shown = "\n".join(world.take())
    assert "First response due: Mon 23 Nov 13:00 EET (2h 50m overdue)" in shown, shown


async def test_the_console_shows_a_person_only_what_they_would_see_and_replays_nothing(world: ConsoleWorld) -> None:
    from adapters.console.app import ConsoleSession, Identity

    mine: list[str] = []
    customer = ConsoleSession(world.desk, Identity.parse("customer:ACME"), write=mine.append, only_mine=True)
    await customer.start()
    await customer.handle_line("The VPN is down")
    assert any(line.startswith("[#ACME › ACME-1]") for line in mine), mine
    assert not any(line.startswith(("[#triage]", "[DM to")) for line in mine), mine

    olli = await world.person("consultant:olli")
    await olli.session._command("claim ACME-1")  # queues a triage notice, not yet printed anywhere
    lead_seen: list[str] = []
    lead = ConsoleSession(world.desk, Identity.parse("lead:maija"), write=lead_seen.append, only_mine=True)
    await lead.start()
    assert await lead.skip_backlog() >= 1  # the notice was queued before Maija opened her console
    await lead.handle_line("/helpdesk show ACME-1")
    assert len(lead_seen) == 1 and lead_seen[0].startswith("[only you]"), lead_seen


async def test_entering_a_thread_shows_its_recent_conversation(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Printer jams on page two")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk note ACME-1 tray 2 is worn")
    world.take()
    await olli.say(":thread ACME-1")
    agent = "\n".join(world.take())
    assert "the last 2 messages (times in Europe/Helsinki)" in agent
    assert "Printer jams on page two" in agent and "[internal note]: tray 2 is worn" in agent
    await customer.say(":top")
    await customer.say(":thread ACME-1")
    own = "\n".join(world.take())
    assert "Printer jams on page two" in own and "tray 2" not in own
