"""Acceptance stories 1, 2, 3, 5 and 9 through Teams, asserting what reached the connector."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.clock import FakeClock
from chatdesk.server import DESK
from kb.index import Suggestion
from storage.models import AuditEvent, ConversationReference, Message, ProcessedEvent, Ticket
from tests.scenarios.teams_harness import ACME, TENANT, TRIAGE, TeamsWorld

ROOT = "1795417200123"  # the contact's top-level post in channel_message_top_level.json
THREAD = f"{ACME};messageid={ROOT}"


@pytest.fixture
async def world(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def open_ticket(world: TeamsWorld) -> Ticket:
    assert await world.post(world.activity("channel_message_top_level")) == 200
    await world.deliver()
    return await Ticket.get(key="ACME-1")


def actions(card: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert card is not None
    return {a["title"]: a for a in card.get("actions", [])}


async def test_story_1_channel_post_becomes_a_ticket_with_thread_reply_and_triage_card(world: TeamsWorld) -> None:
    async def suggest(text: str, limit: int) -> list[Suggestion]:
        return [Suggestion(f"kb-{n}", f"VPN article {n}", 0.9, url=f"https://kb.example/{n}") for n in range(5)]

    world.app[DESK].suggest = suggest
    started = time.monotonic()
    assert await world.post(world.activity("channel_message_top_level")) == 200
    assert await world.deliver() >= 2
    assert time.monotonic() - started < 3

    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.platform, ticket.tenant, ticket.channel, ticket.thread) == ("teams", TENANT, ACME, ROOT)
    [ack] = world.connector.posts(THREAD)
    assert ack.path == f"/v3/conversations/{THREAD}/activities"
    card_text = json.dumps(ack.card)
    assert "ACME-1" in card_text and ack.body["conversation"]["id"] == THREAD
    assert "VPN article 2 https://kb.example/2" in card_text and "VPN article 3" not in card_text
    solved = actions(ack.card)
    assert [b["data"]["command"] for b in solved.values()] == [f"kb solved ACME-1 kb-{n}" for n in range(3)]

    [triage] = [c for c in world.connector.created() if c.body["channelData"].get("channel", {}).get("id") == TRIAGE]
    assert triage.body["isGroup"] is True and triage.body["channelData"]["tenant"]["id"] == TENANT
    buttons = actions(triage.card)
    assert buttons["Claim"] == {"type": "Action.Submit", "title": "Claim", "data": {"command": "claim ACME-1"},
                                "style": "positive"}
    assert buttons["Assign"]["type"] == "Action.ShowCard"
    assert buttons["Assign"]["card"]["actions"][0]["data"] == {"command": "assign ACME-1"}
    assert "Our VPN drops" in triage.text
    # Nothing addressed to the customer's conversation other than the thread reply.
    assert [c.conversation for c in world.connector.calls if ACME in (c.conversation or "")] == [THREAD]


async def test_story_2_replies_join_the_ticket_and_a_retried_delivery_stores_once(world: TeamsWorld) -> None:
    await open_ticket(world)
    world.clock.advance(minutes=20)
    reply = world.activity("channel_reply_in_thread")
    assert await world.post(reply) == 200
    assert await world.post(reply) == 200  # Teams retried the same activity
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.first_response_at == world.clock.now()
    assert ticket.status == "in_progress"
    assert await Message.filter(ticket_id=ticket.id).count() == 2

    customer = world.message("channel_reply_in_thread", "It started after the weekend",
                             **{"from": world.activity("channel_message_top_level")["from"]})
    assert await world.post(customer) == 200
    assert await world.post(customer) == 200
    assert await world.post(world.activity("channel_message_top_level")) == 200  # the first post, again
    assert await Message.filter(ticket_id=ticket.id).count() == 3
    assert await Ticket.all().count() == 1
    assert await ProcessedEvent.filter(platform="teams").count() == 3


async def test_story_3_only_a_lead_sets_priority(world: TeamsWorld) -> None:
    before = await open_ticket(world)
    world.connector.take()
    olli = world.activity("mention_command", id="1795419000777")
    olli["from"] = world.activity("adaptive_card_submit")["from"]
    olli["conversation"]["id"] = f"{TRIAGE};messageid=1795419000777"
    assert await world.post(olli) == 200
    [refusal] = world.connector.take()
    assert refusal.path == f"/v3/conversations/{TRIAGE};messageid=1795419000777/activities/1795419000777"
    assert refusal.body["text"] == "not allowed: only a lead can set priority"
    unchanged = await Ticket.get(key="ACME-1")
    assert (unchanged.priority, unchanged.resolution_due) == ("P3", before.resolution_due)

    assert await world.post(world.activity("mention_command")) == 200
    [answer] = world.connector.take()
    assert answer.path == f"/v3/conversations/{TRIAGE};messageid=1795419000001/activities/1795419000001"
    assert "ACME-1 priority P3 → P1" in answer.body["text"]
    after = await Ticket.get(key="ACME-1")
    assert after.priority == "P1" and after.resolution_due != before.resolution_due
    assert await AuditEvent.filter(ticket_id=after.id, action="priority").count() == 1
    await world.deliver()
    assert any("priority P3 → P1" in c.text for c in world.connector.created())  # the triage notice
    assert not world.connector.posts(THREAD)


async def test_story_5_internal_note_never_reaches_the_customer_conversation(world: TeamsWorld) -> None:
    await open_ticket(world)
    world.connector.take()
    assert await world.post(world.activity("personal_chat_command")) == 200
    [answer] = world.connector.take()
    personal = "a:1olli-personal-Xk3vQ9pLm2Rt7Yw4Zb8Nc6Hd1Fg5Js0"
    assert answer.path == f"/v3/conversations/{personal}/activities/1795419600222"
    assert "Internal note added to ACME-1" in answer.body["text"]
    note = await Message.get(internal=True)
    assert "Firewall logs" in note.text

    # The same command given in the customer's thread: the confirmation goes to Olli's 1:1 chat instead.
    in_thread = world.message("channel_reply_in_thread", "<at>Helpdesk</at> note ACME-1 the MX record is wrong",
                              entities=world.activity("mention_command")["entities"])
    assert await world.post(in_thread) == 200
    await world.deliver()
    assert await Message.filter(internal=True).count() == 2
    assert not world.connector.posts(THREAD)
    [private] = world.connector.posts(personal)
    assert "Internal note added" in private.body["text"]
    for call in world.connector.calls:
        if ACME in (call.conversation or "") or ACME in call.text:
            assert "Firewall" not in call.text and "MX record" not in call.text and "Internal" not in call.text


async def test_story_9_misspelt_and_bad_input_change_nothing(world: TeamsWorld) -> None:
    before = await open_ticket(world)
    audit_before = await AuditEvent.all().count()
    world.connector.take()
    for text, expected in [
        ("<at>Helpdesk</at> prioirty ACME-1 P1", "Did you mean `/helpdesk priority`?"),
        ("<at>Helpdesk</at> priority ACME-1 P9", "is not a priority"),
        ("<at>Helpdesk</at> priority ACME-99 P1", "no ticket ACME-99"),
        ("<at>Helpdesk</at> assign ACME-1 @nobody", "@nobody is not a consultant or lead"),
        ("<at>Helpdesk</at> close ACME-1 now", "unexpected 'now'"),
    ]:
        activity = world.message("mention_command", text, entities=world.activity("mention_command")["entities"])
        assert await world.post(activity) == 200
        [answer] = world.connector.take()
        assert expected in answer.body["text"], (text, answer.body)
    after = await Ticket.get(key="ACME-1")
    assert (after.status, after.assignee_id, after.priority) == (before.status, before.assignee_id, before.priority)
    assert await AuditEvent.all().count() == audit_before


async def test_card_buttons_claim_and_assign_with_typed_input(world: TeamsWorld) -> None:
    await open_ticket(world)
    assert await world.post(world.activity("adaptive_card_submit")) == 200
    answer = world.connector.calls[-1]
    assert answer.path == f"/v3/conversations/{TRIAGE};messageid=1795417201000/activities/1795419300333"
    assert answer.body["text"] == "ACME-1 is now assigned to Olli."
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.assignee is not None and ticket.assignee.pid == "olli"

    lead = world.activity("mention_command")["from"]
    assign = world.activity("adaptive_card_submit", id="1795419300444", value={"command": "assign ACME-1",
                                                                               "input": "@sanna"})
    assign["from"] = lead
    assert await world.post(assign) == 200
    assert "assigned to Sanna" in world.connector.calls[-1].body["text"]
    await world.deliver()
    # Sanna's 1:1 chat was created for the new-ticket notice and is reused from its stored reference.
    [created] = [c for c in world.connector.created() if c.body.get("members") == [{"id": "29:sanna"}]]
    assert created.body["channelData"]["tenant"]["id"] == TENANT
    notes = [c.body["text"] for c in world.connector.posts("a:personal-29:sanna")]
    assert any("Maija assigned ACME-1 to you" in n for n in notes)


async def test_a_top_level_command_is_answered_in_its_own_thread(world: TeamsWorld) -> None:
    await open_ticket(world)
    activity = world.activity("mention_command", id="1795419000999")
    activity["conversation"]["id"] = TRIAGE  # no ;messageid=: the post is its own thread root
    assert await world.post(activity) == 200
    answer = world.connector.calls[-1]
    assert answer.path == f"/v3/conversations/{TRIAGE};messageid=1795419000999/activities/1795419000999"


async def test_platform_mentions_name_people_in_commands(world: TeamsWorld) -> None:
    await open_ticket(world)
    entities = [*world.activity("mention_command")["entities"],
                {"type": "mention", "text": "<at>Sanna</at>", "mentioned": {"id": "29:sanna", "name": "Sanna"}}]
    activity = world.message("mention_command", "<at>Helpdesk</at> assign ACME-1 <at>Sanna</at>", entities=entities)
    assert await world.post(activity) == 200
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.assignee is not None and ticket.assignee.pid == "sanna"


async def test_installation_references_are_used_for_direct_messages(world: TeamsWorld) -> None:
    assert await world.post(world.activity("conversation_update_installed")) == 200
    assert await world.post(world.activity("installation_update")) == 200
    keys = set(await ConversationReference.filter(platform="teams").values_list("key", flat=True))
    assert {ACME, f"tenant:{TENANT}", "user:29:lead", "user:9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"} <= keys
    await open_ticket(world)
    lead_chat = "a:1lead-personal-Qw8eRt5yUi2oPa7sDf4gHj1kLz9xCv6"
    assert world.connector.posts(lead_chat)  # the lead's notice went to the chat the install created
    assert not [c for c in world.connector.created() if c.body.get("members") == [{"id": "29:lead"}]]


async def test_edit_and_delete_update_the_stored_message(world: TeamsWorld) -> None:
    await open_ticket(world)
    assert await world.post(world.activity("message_update")) == 200
    message = await Message.get(platform_message_id=ROOT)
    assert message.text.endswith("Oulu and Tampere offices") and message.edited_at is not None
    delete = world.activity("message_update", type="messageDelete", text=None)
    delete["channelData"]["eventType"] = "softDeleteMessage"
    assert await world.post(delete) == 200
    assert (await Message.get(platform_message_id=ROOT)).deleted_at is not None
