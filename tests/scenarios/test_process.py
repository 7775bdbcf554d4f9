"""The work process through the console: routing per contract, handover, the change flow with
the customer's approval and acceptance, ratings, customer profiles and the report in chat."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FakeClock
from bot.types import Actor, Invocation, Place, Platform
from storage.models import AuditEvent, Contact, Message, OutboxMessage, Ticket
from tests.scenarios.console_driver import ConsoleWorld, Person

THREAD = "[#ACME › ACME-1]"


@pytest.fixture
async def world(database: str, clock: FakeClock) -> ConsoleWorld:
    return ConsoleWorld(clock)


def lines_with(seen: list[str], prefix: str) -> list[str]:
    return [s for s in seen if s.startswith(prefix)]


async def actions(key: str) -> list[str]:
    ticket = await Ticket.get(key=key)
    return [e.action for e in await AuditEvent.filter(ticket_id=ticket.id).order_by("id")]


async def change_request(world: ConsoleWorld) -> tuple[Person, Person]:
    """ACME-1, a change request claimed by Olli; returns (the ACME contact, Olli)."""
    customer = await world.person("customer:ACME")
    await customer.say("Please add a VPN profile for the new Oulu office")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    await olli.say("/helpdesk type ACME-1 change_request")
    world.take()
    return customer, olli


# -- routing ---------------------------------------------------------------------------------------


async def test_new_ticket_goes_to_the_contract_team_and_its_members_and_manager_hear_of_it(
        world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("The printer on floor 3 is offline")
    seen = world.take()
    assert (await Ticket.get(key="ACME-1")).team == "support"  # gold contract -> support team
    dms = {line.split("]")[0][len("[DM to "):]: line for line in lines_with(seen, "[DM to ")}
    assert sorted(dms) == ["maija", "olli", "sanna"]  # support's members and ACME's account manager
    assert "for the support team" in dms["olli"] and "ACME-1" in dms["sanna"]
    assert "your customer Acme Oy" in dms["maija"]
    rows = [r for r in await OutboxMessage.filter(ticket_key="ACME-1") if r.destination["user"] == "olli"]
    assert len(rows) == 1 and rows[0].payload["internal"] is True

    globex = await world.person("customer:GLOBEX")
    await globex.say("Invoices do not load")
    assert sorted(s.split("]")[0] for s in lines_with(world.take(), "[DM to ")) == ["[DM to olli", "[DM to sanna"]


async def test_agent_opened_ticket_is_routed_without_telling_the_agent_themselves(world: ConsoleWorld) -> None:
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk new ACME Renew the TLS certificate of the intranet")
    seen = world.take()
    assert sorted(s.split("]")[0] for s in lines_with(seen, "[DM to ")) == ["[DM to maija", "[DM to sanna"]


# -- handover --------------------------------------------------------------------------------------


async def test_handover_moves_team_keeps_deadlines_and_leaves_an_internal_note(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("We need SSO for the new HR system")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    world.clock.advance(minutes=30)
    before = await Ticket.get(key="ACME-1")
    world.take()

    await olli.say("/helpdesk handover ACME-1 design needs the implementation team")
    assert world.take() == ["[only you] chatdesk: no support team 'design'; known teams: implementation, support"]

    await olli.say("/helpdesk handover ACME-1 implementation SAML metadata received; needs an IdP app")
    seen = world.take()
    assert "handed over to the implementation team" in seen[0] and "no longer assigned to Olli" in seen[0]
    assert any(s.startswith("[#triage]") and "support to implementation" in s for s in seen)
    maija_dm = lines_with(seen, "[DM to maija]")
    assert len(maija_dm) == 1 and "SAML metadata received" in maija_dm[0]
    assert not lines_with(seen, "[#ACME")  # nothing reaches the customer
    after = await Ticket.get(key="ACME-1")
    assert after.team == "implementation"
    assert after.assignee_id is None  # Olli is not in the implementation team
    assert (after.first_response_due, after.resolution_due, after.escalation_at, after.sla_state) == (
        before.first_response_due, before.resolution_due, before.escalation_at, before.sla_state)
    note = await Message.get(ticket_id=after.id, internal=True)
    assert "SAML metadata received" in note.text
    event = await AuditEvent.get(ticket_id=after.id, action="handover")
    assert event.detail == {"from": "support", "to": "implementation", "unassigned": "olli",
                            "summary": "SAML metadata received; needs an IdP app"}
    to_thread = [r for r in await OutboxMessage.filter(ticket_key="ACME-1") if r.destination["thread"]]
    assert to_thread and not any("SAML" in str(r.payload) for r in to_thread)


async def test_handover_keeps_an_assignee_who_is_in_the_new_team(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Roll out the new intranet theme")
    maija = await world.person("lead:maija")
    await maija.say("/helpdesk assign ACME-1 @maija")
    await maija.say("/helpdesk handover ACME-1 implementation")
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.team == "implementation" and ticket.assignee is not None and ticket.assignee.pid == "maija"
    world.take()
    await maija.say("/helpdesk handover ACME-1 implementation")
    assert "already with the implementation team" in world.take()[0]
    customer_says = await world.person("customer:ACME")
    await customer_says.say("/helpdesk handover ACME-1 support")
    assert "not allowed: only consultants and leads can hand over tickets" in world.take()[0]


# -- estimates, approval, delivery ----------------------------------------------------------------


async def test_estimate_on_an_incident_is_refused_and_changes_nothing(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("VPN is down")
    olli = await world.person("consultant:olli")
    world.take()
    audit_before = await AuditEvent.all().count()
    await olli.say('/helpdesk estimate ACME-1 6h "replace the VPN gateway"')
    seen = world.take()
    assert len(seen) == 1 and "Set the type first: `/helpdesk type ACME-1 change_request`" in seen[0]
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.estimate_minutes, ticket.approval) == ("new", None, None)
    assert await AuditEvent.all().count() == audit_before


async def test_full_change_flow_is_visible_in_the_thread_and_audited(world: ConsoleWorld) -> None:
    customer, olli = await change_request(world)
    world.clock.advance(minutes=10)

    await olli.say('/helpdesk estimate ACME-1 6h "VPN profile for the Oulu office"')
    seen = world.take()
    card = lines_with(seen, THREAD)
    assert len(card) == 1 and "6h 00m" in card[0] and "VPN profile for the Oulu office" in card[0]
    assert "[Approve: /helpdesk approve ACME-1]" in card[0] and "[Reject: /helpdesk reject ACME-1 <Why?>]" in card[0]
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval, ticket.estimate_minutes) == ("awaiting_approval", "pending", 360)
    assert ticket.estimate_scope == "VPN profile for the Oulu office"
    assert ticket.resolution_due is None  # awaiting approval pauses the SLA
    assert ticket.sla_state["results"]["first_response"] == "met"  # the estimate answered the customer

    await olli.say("/helpdesk status ACME-1 in_progress")  # work cannot start before approval
    assert "from there it can go to open, closed" in world.take()[0]

    world.clock.advance(hours=2)
    await customer.say("/helpdesk approve ACME-1")
    seen = world.take()
    assert seen[0] == "[only you] chatdesk: Thanks, you approved the estimate for ACME-1."
    assert any(s.startswith(THREAD) and "approved the estimate (6h 00m)" in s for s in seen)
    assert lines_with(seen, "[DM to olli]")
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("in_progress", "approved")
    assert ticket.resolution_due is not None

    await olli.say("/helpdesk status ACME-1 delivered_to_test")
    seen = world.take()
    accept = lines_with(seen, THREAD)
    assert len(accept) == 1 and "[Accept: /helpdesk accept ACME-1]" in accept[0]
    assert (await Ticket.get(key="ACME-1")).resolution_due is None  # delivered to test pauses too

    await customer.say("/helpdesk accept ACME-1")
    seen = world.take()
    assert any(s.startswith(THREAD) and "accepted ACME-1; it moves to production" in s for s in seen)
    assert (await Ticket.get(key="ACME-1")).status == "in_production"

    await olli.say("/helpdesk resolve ACME-1 The Oulu VPN profile is live")
    assert any(s.startswith(THREAD) and "[5★: /helpdesk rate ACME-1 5]" in s for s in world.take())
    await customer.say("/helpdesk rate ACME-1 4")
    assert world.take()[0] == "[only you] chatdesk: Thank you for rating ACME-1 4/5!"
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.csat) == ("resolved", 4)

    done = await actions("ACME-1")
    steps = done[done.index("type") + 1:]
    assert steps == ["estimate", "status", "approval", "status", "status", "acceptance", "status", "status",
                     "rating"]
    statuses = [(e.detail["from"], e.detail["to"]) for e in
                await AuditEvent.filter(ticket_id=ticket.id, action="status").order_by("id")]
    assert statuses[1:] == [("open", "awaiting_approval"), ("awaiting_approval", "in_progress"),
                            ("in_progress", "delivered_to_test"), ("delivered_to_test", "in_production"),
                            ("in_production", "resolved")]
    approval = await AuditEvent.get(ticket_id=ticket.id, action="approval")
    assert approval.actor.startswith("contact:") and approval.channel == "console:ACME"


async def test_approval_refuses_anyone_but_the_customers_contacts(world: ConsoleWorld) -> None:
    customer, olli = await change_request(world)
    await olli.say('/helpdesk estimate ACME-1 2d "new office network"')
    world.take()
    audit_before = await AuditEvent.all().count()

    await olli.say("/helpdesk approve ACME-1")
    assert world.take() == ["[only you] chatdesk: not allowed: only the customer's own contacts can approve"]
    lead = await world.person("lead:maija")
    await lead.say("/helpdesk reject ACME-1 too big")
    assert world.take() == ["[only you] chatdesk: not allowed: only the customer's own contacts can reject"]
    globex = await world.person("customer:GLOBEX")
    await globex.say("/helpdesk approve ACME-1")
    assert world.take() == ["[only you] chatdesk: no ticket ACME-1"]
    await globex.say("/helpdesk reject ACME-1 no")
    assert world.take() == ["[only you] chatdesk: no ticket ACME-1"]
    # The Approve button runs the same command as whoever pressed it.
    press = Invocation(event_id="button-1", source="button", text="approve ACME-1",
                       actor=Actor(Platform.CONSOLE, "console", "olli"), place=Place(Platform.CONSOLE, "console",
                                                                                    "triage"))
    outcome = await world.desk.handle_invocation(press)
    assert [r.text for r in outcome.replies] == ["not allowed: only the customer's own contacts can approve"]

    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("awaiting_approval", "pending")
    assert await AuditEvent.all().count() == audit_before
    await customer.say("/helpdesk approve ACME-1")
    assert (await Ticket.get(key="ACME-1")).approval == "approved"


async def test_customer_steps_refuse_when_the_ticket_is_not_waiting_for_them(world: ConsoleWorld) -> None:
    customer, _ = await change_request(world)
    await customer.say("/helpdesk approve ACME-1")
    assert world.take() == ["[only you] chatdesk: ACME-1 is open, not awaiting approval; there is nothing to approve"]
    await customer.say("/helpdesk accept ACME-1")
    assert "not delivered to test; there is nothing to accept" in world.take()[0]
    await customer.say("/helpdesk rate ACME-1 5")
    assert "you can rate it once it is resolved" in world.take()[0]
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval, ticket.csat) == ("open", None, None)


async def test_reject_sends_it_back_to_open_with_the_reason(world: ConsoleWorld) -> None:
    customer, olli = await change_request(world)
    await olli.say("/helpdesk estimate ACME-1 3d full rollout")
    world.take()
    await customer.say("/helpdesk reject ACME-1")
    assert "say why" in world.take()[0]
    assert (await Ticket.get(key="ACME-1")).status == "awaiting_approval"

    await customer.say("/helpdesk reject ACME-1 Too expensive, only the Oulu office please")
    seen = world.take()
    assert any(s.startswith(THREAD) and "rejected the estimate for ACME-1: Too expensive" in s for s in seen)
    assert any(s.startswith("[#triage]") and "estimate rejected" in s for s in seen)
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("open", "rejected")
    assert ticket.next_response_due is not None  # the reason awaits support's answer
    reason = await Message.get(ticket_id=ticket.id, author_kind="contact", text__contains="Too expensive")
    assert reason.internal is False
    rejected = await AuditEvent.get(ticket_id=ticket.id, action="approval")
    assert rejected.detail == {"decision": "rejected", "reason": "Too expensive, only the Oulu office please"}

    await olli.say("/helpdesk status ACME-1 in_progress")
    assert "work starts after the customer approves" in world.take()[0]
    await olli.say("/helpdesk estimate ACME-1 1d Oulu office only")
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval, ticket.estimate_minutes) == ("awaiting_approval", "pending", 480)
    assert ticket.next_response_due is None  # the new estimate answered


async def test_rating_belongs_to_the_customers_contacts_and_can_be_changed(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Outlook keeps asking for the password")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk resolve ACME-1 Cleared the stale credentials")
    world.take()
    await customer.say("/helpdesk rate ACME-1 6")
    assert "rate from 1 to 5" in world.take()[0]
    await olli.say("/helpdesk rate ACME-1 5")
    assert "not allowed: only the customer's own contacts can rate" in world.take()[0]
    globex = await world.person("customer:GLOBEX")
    await globex.say("/helpdesk rate ACME-1 1")
    assert world.take() == ["[only you] chatdesk: no ticket ACME-1"]
    assert (await Ticket.get(key="ACME-1")).csat is None

    await customer.say("/helpdesk rate ACME-1 2")
    await customer.say("/helpdesk rate ACME-1 5")
    seen = world.take()
    assert "Thank you for rating ACME-1 5/5!" in seen[-2]
    assert seen[-1].startswith("[#triage]") and "rated 5/5" in seen[-1]
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.csat == 5
    ratings = await AuditEvent.filter(ticket_id=ticket.id, action="rating").order_by("id")
    assert [e.detail for e in ratings] == [{"from": None, "to": 2}, {"from": 2, "to": 5}]
    await olli.say("/helpdesk close ACME-1")
    await customer.say("/helpdesk rate ACME-1 3")  # closed tickets may be rated too
    assert (await Ticket.get(key="ACME-1")).csat == 3


# -- customer profile and report -------------------------------------------------------------------


async def test_customer_profile_shows_contract_calendar_targets_people_tickets_and_sla(
        world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Wi-Fi is slow in meeting room B")
    await customer.say(":top")
    await customer.say("Add Liisa to the finance group")
    olli = await world.person("consultant:olli")
    await olli.say(":thread ACME-1")
    world.clock.advance(minutes=15)
    await olli.say("Checking the access point")
    await Contact.filter(customer__key="ACME").update(notifications=False)
    world.take()

    await olli.say("/helpdesk customer acme")
    profile = world.take()
    assert len(profile) == 1
    text = profile[0]
    assert text.startswith("[only you] chatdesk: Acme Oy (ACME)")
    for expected in (
        "Contract: gold · warning at 75 % of a target",
        "Calendar: helsinki-office (Europe/Helsinki): mon-thu 08:00-16:00; fri 08:00-12:00, 13:00-16:00 · "
        "holidays 2026-12-24, 2026-12-25",
        "P1 targets: first response 30m · next response 30m · resolution 4h 00m (business time)",
        "P4 targets: first response 8h 00m · next response 8h 00m · resolution 80h 00m (business time)",
        "Account manager: Maija (@maija)",
        "Support team: support: Olli, Sanna",
        "Contacts: ACME contact (console, notifications off)",
        "Open tickets: 2: ACME-1 (in progress), ACME-2 (new)",
        "SLA 2026-10-25 – 2026-11-23: first response 1 met / 0 missed · next response 0 met / 0 missed",
        "CSAT: no ratings",
    ):
        assert expected in text, expected

    await olli.say("/helpdesk customer NOPE")
    assert world.take() == ["[only you] chatdesk: no customer 'NOPE' (known customers: ACME, GLOBEX)"]
    await customer.say("/helpdesk customer ACME")
    assert "not allowed: only consultants and leads can see customer profiles" in world.take()[0]


async def test_report_in_chat_summarises_each_customer_and_person(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Shared drive is full")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk claim ACME-1")
    world.clock.advance(minutes=20)
    await olli.say("/helpdesk resolve ACME-1 Archived old projects")
    await customer.say("/helpdesk rate ACME-1 5")
    world.clock.advance(days=1)
    world.take()

    await olli.say("/helpdesk report")
    report = world.take()[0]
    assert "Report 2026-10-26 – 2026-11-24" in report
    assert ("ACME: open 0 · resolved 1 · first response 1 met / 0 missed · next response 0 met / 0 missed · "
            "resolution 1 met / 0 missed · median first response 20m · CSAT 5.0 from 1 rating") in report
    assert "GLOBEX: open 0 · resolved 0" in report
    assert "Open per person: maija 0, olli 0, sanna 0" in report

    await olli.say("/helpdesk report GLOBEX")
    only = world.take()[0]
    assert "GLOBEX: open 0" in only and "ACME:" not in only
    await olli.say("/helpdesk report NOPE")
    assert "no customer 'NOPE'" in world.take()[0]
    await customer.say("/helpdesk report")
    assert "not allowed: only consultants and leads can see reports" in world.take()[0]


async def test_estimate_pause_moves_the_resolution_deadline(world: ConsoleWorld) -> None:
    customer, olli = await change_request(world)
    before = await Ticket.get(key="ACME-1")
    await olli.say("/helpdesk estimate ACME-1 90m small change")
    world.clock.advance(hours=3)  # three business hours waiting for approval
    await customer.say("/helpdesk approve ACME-1")
    after = await Ticket.get(key="ACME-1")
    assert before.resolution_due is not None
    assert after.resolution_due == before.resolution_due + timedelta(hours=3)
