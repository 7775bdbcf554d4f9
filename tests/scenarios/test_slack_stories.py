"""Acceptance stories 1, 2, 3, 5 and 9 through Slack: signed requests to the
real app, posts read back from the fake Web API, state read from storage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from chatdesk.server import DESK
from kb.index import Suggestion
from storage.models import AuditEvent, Message, OutboxMessage, ProcessedEvent, Ticket
from tests.scenarios.slack_harness import SlackWorld, slack_world, with_event

ROOT_TS = "1795417201.000100"


@pytest.fixture
async def slack(any_database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    """The stories run on SQLite, and on PostgreSQL too when TEST_POSTGRES_URL is set."""
    async with slack_world(clock, any_database) as world:
        yield world


def buttons(post: dict[str, Any]) -> dict[str, str]:
    return {e["text"]["text"]: e["value"] for b in post.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


def everything_said(post: dict[str, Any]) -> str:
    return json.dumps([post.get("text"), post.get("blocks")], ensure_ascii=False)


async def open_ticket(slack: SlackWorld) -> Ticket:
    response = await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    assert response.status == 200
    await slack.drain()
    return await Ticket.get(key="ACME-1")


async def test_story_1_a_customer_message_becomes_a_ticket(slack: SlackWorld) -> None:
    async def suggest(text: str, limit: int) -> list[Suggestion]:
        return [Suggestion(f"kb-{i}", f"VPN article {i}", 0.9 - i / 10) for i in range(5)][:limit]

    slack.app[DESK].suggest = suggest
    response = await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    assert response.status == 200 and response.seconds < 3

    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.platform, ticket.channel, ticket.thread) == ("slack", "C0ACME", ROOT_TS)
    assert (ticket.priority, ticket.type, ticket.status) == ("P3", "incident", "new")
    customer_message = await Message.get(ticket_id=ticket.id)
    assert (customer_message.platform_message_id, customer_message.author_kind) == (ROOT_TS, "contact")

    assert await slack.drain() >= 2
    (ack,) = slack.api.posts("C0ACME")
    assert ack["thread_ts"] == ROOT_TS and "ACME-1" in ack["text"]
    assert "VPN article 2" in ack["text"] and "VPN article 3" not in ack["text"]  # at most 3 suggestions
    assert ack["metadata"] == {"event_type": "chatdesk_post", "event_payload": {
        "dedupe": "ack:ACME-1:slack:C0ACME", "ticket_key": "ACME-1", "kind": "ack"}}

    (announcement,) = slack.api.posts("C0TRIAGE")
    assert "thread_ts" not in announcement
    assert "New ticket ACME-1 from Acme Oy" in announcement["text"]
    assert {"Claim": "claim ACME-1", "Assign": "assign ACME-1"}.items() <= buttons(announcement).items()
    assert await OutboxMessage.filter(status="pending").count() == 0


async def test_story_2_thread_replies_join_the_ticket_and_retries_store_once(
        slack: SlackWorld, clock: FakeClock) -> None:
    await open_ticket(slack)
    reply = slack.fixture("thread_reply.json")
    assert (await slack.http.event(reply)).status == 200
    assert (await slack.http.event(reply, retry_num=1)).status == 200  # Slack's retry: X-Slack-Retry-Num
    assert (await slack.http.event(with_event(reply, text="same event id, other body"), retry_num=2)).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert await Message.filter(ticket_id=ticket.id).count() == 2
    assert ticket.first_response_at is None

    clock.advance(minutes=20)
    agent = slack.fixture("agent_reply_in_thread.json")
    assert (await slack.http.event(agent)).status == 200
    assert (await slack.http.event(agent, retry_num=1)).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.first_response_at == clock.now()
    assert ticket.sla_state["results"]["first_response"] == "met"
    assert ticket.status == "in_progress"
    assert await Message.filter(ticket_id=ticket.id).count() == 3
    assert await Ticket.all().count() == 1
    assert await ProcessedEvent.filter(platform="slack").count() == 3


async def test_story_3_only_a_lead_sets_priority(slack: SlackWorld, clock: FakeClock) -> None:
    before = await open_ticket(slack)
    for user, channel, team in (("U0OLLI", "C0TRIAGE", "T0HOME"), ("U0CUST1", "C0ACME", "T0ACME")):
        response = await slack.http.command(slack.command("priority ACME-1 P1", user=user, channel=channel,
                                                          team_id=team))
        assert response.status == 200
        body = response.json()
        assert body["response_type"] == "ephemeral"
        assert body["text"] == "not allowed: only a lead can set priority"
    unchanged = await Ticket.get(key="ACME-1")
    assert (unchanged.priority, unchanged.resolution_due) == ("P3", before.resolution_due)

    response = await slack.http.command(slack.command("priority ACME-1 P1", user="U0LEAD"))
    assert response.status == 200 and response.seconds < 3
    body = response.json()
    assert body["response_type"] == "ephemeral" and "ACME-1 priority P3 → P1" in body["text"]
    assert body["blocks"][0]["text"]["text"].startswith("ACME-1 priority P3 → P1")
    after = await Ticket.get(key="ACME-1")
    assert after.priority == "P1"
    assert after.first_response_due == clock.now() + timedelta(minutes=30)
    assert after.resolution_due == clock.now() + timedelta(minutes=240)
    await slack.drain()
    assert any("priority P3 → P1" in p["text"] for p in slack.api.posts("C0TRIAGE"))
    assert not any("priority" in p["text"] for p in slack.api.posts("C0ACME"))


async def test_story_5_an_internal_note_never_reaches_the_customer_channel(slack: SlackWorld) -> None:
    await open_ticket(slack)
    secret = "customer's MX record is wrong, do not tell them yet"
    response = await slack.http.command(slack.command(f"note ACME-1 {secret}", user="U0OLLI"))
    assert response.json() == {
        "response_type": "ephemeral", "text": "Internal note added to ACME-1 (the customer does not see it).",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                "text": "Internal note added to ACME-1 (the customer does not see it)."}}],
    }
    response = await slack.http.command(slack.command("reply ACME-1 We are looking at the MX setup", user="U0OLLI"))
    assert response.json()["text"] == "Replied in ACME-1's thread."
    await slack.drain()
    note = await Message.get(internal=True)
    assert secret in note.text
    to_customer = slack.api.posts("C0ACME")
    assert any("We are looking at the MX setup" in p["text"] and p["thread_ts"] == ROOT_TS for p in to_customer)
    for call in slack.api.calls:
        if call.body.get("channel") == "C0ACME":
            assert "MX record" not in everything_said(call.body), call.method
    response = await slack.http.command(slack.command("show ACME-1", user="U0CUST1", channel="C0ACME",
                                                                      team_id="T0ACME"))
    assert "MX record" not in response.text


@pytest.mark.parametrize(("text", "expected"), [
    ("asign ACME-1 @olli", "Did you mean `/helpdesk assign`?"),
    ("assign ACME-1 @nobody", "@nobody is not a consultant or lead"),
    ("assign ACME-99 @olli", "no ticket ACME-99"),
    ("status ACME-1 done", "is not a status"),
    ("close ACME-1 now", "unexpected 'now'"),
    ('note ACME-1 "unclosed', None),  # free text with a lone quote is still a note, not an error
])
async def test_story_9_misspelt_and_bad_input_change_nothing(slack: SlackWorld, text: str,
                                                              expected: str | None) -> None:
    before = await open_ticket(slack)
    audit_before = await AuditEvent.all().count()
    response = await slack.http.command(slack.command(text, user="U0OLLI"))
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    if expected is None:
        assert "Internal note added" in body["text"]
        return
    assert expected in body["text"]
    after = await Ticket.get(key="ACME-1")
    assert (after.status, after.assignee_id, after.priority, after.type) == (
        before.status, before.assignee_id, before.priority, before.type)
    assert await AuditEvent.all().count() == audit_before


async def test_mentions_in_slack_form_name_people(slack: SlackWorld) -> None:
    await open_ticket(slack)
    response = await slack.http.command(slack.command("assign ACME-1 <@U0OLLI|olli>", user="U0LEAD"))
    assert response.json()["text"] == "ACME-1 is now assigned to Olli."
    await slack.drain()
    assert any("Maija assigned ACME-1 to you" in p["text"] for p in slack.api.posts("U0OLLI"))


async def test_claim_button_assigns_the_presser(slack: SlackWorld) -> None:
    await open_ticket(slack)
    response = await slack.http.interaction(slack.fixture("block_actions_claim.json"))
    assert response.status == 200
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.assignee is not None and ticket.assignee.pid == "olli"
    (told,) = slack.api.ephemerals("U0OLLI")
    assert told["channel"] == "C0TRIAGE" and told["text"] == "ACME-1 is now assigned to Olli."
    customer = slack.fixture("block_actions_claim.json")
    customer["user"] = {"id": "U0CUST1", "username": "aino", "name": "aino", "team_id": "T0ACME"}
    customer["trigger_id"] += "x"
    assert (await slack.http.interaction(customer)).status == 200
    assert slack.api.ephemerals("U0CUST1")[0]["text"].startswith("not allowed")


async def test_assign_button_opens_a_modal_whose_submission_runs_the_command(slack: SlackWorld) -> None:
    await open_ticket(slack)
    assert (await slack.http.interaction(slack.fixture("block_actions_assign.json"))).status == 200
    (opened,) = slack.api.called("views.open")
    view = opened["view"]
    assert opened["trigger_id"] == slack.fixture("block_actions_assign.json")["trigger_id"]
    assert view["callback_id"] == "chatdesk_input" and view["title"]["text"] == "Assign"
    assert view["blocks"][0]["label"]["text"] == "Assign to (e.g. @olli)"
    assert json.loads(view["private_metadata"])["command"] == "assign ACME-1"

    response = await slack.http.interaction(slack.fixture("view_submission.json"))
    assert response.status == 200 and response.text in ("", "{}")  # closes the modal
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.assignee is not None and ticket.assignee.pid == "olli"
    assert slack.api.ephemerals("U0LEAD")[-1]["text"] == "ACME-1 is now assigned to Olli."


async def test_a_refused_modal_submission_shows_the_reason_in_the_modal(slack: SlackWorld) -> None:
    await open_ticket(slack)
    body = slack.fixture("view_submission.json")
    body["user"] = {"id": "U0OLLI", "username": "olli", "name": "olli", "team_id": "T0HOME"}
    body["view"]["private_metadata"] = json.dumps({"kind": "input", "command": "priority ACME-1", "channel": "C0TRIAGE"})
    body["view"]["state"]["values"]["chatdesk_input_block"]["chatdesk_input_value"]["value"] = "P1"
    response = await slack.http.interaction(body)
    assert response.status == 200
    assert response.json() == {"response_action": "errors",
                               "errors": {"chatdesk_input_block": "not allowed: only a lead can set priority"}}
    assert (await Ticket.get(key="ACME-1")).priority == "P3"


async def test_create_ticket_shortcut_adopts_a_message_chatdesk_has_not_seen(slack: SlackWorld) -> None:
    response = await slack.http.interaction(slack.fixture("message_shortcut_create_ticket.json"))
    assert response.status == 200
    ticket = await Ticket.get(key="ACME-1").prefetch_related("contact")
    assert (ticket.channel, ticket.thread) == ("C0ACME", "1795410000.000050")
    assert ticket.contact is not None and ticket.contact.user_id == "U0CUST1"
    assert "Opened ACME-1" in slack.api.ephemerals("U0OLLI")[0]["text"]
    await slack.drain()
    assert slack.api.posts("C0ACME")[0]["thread_ts"] == "1795410000.000050"
    again = slack.fixture("message_shortcut_create_ticket.json")
    again["trigger_id"] += "2"
    await slack.http.interaction(again)
    assert slack.api.ephemerals("U0OLLI")[-1]["text"] == "That message is already part of a ticket."
    assert await Ticket.all().count() == 1


async def test_create_ticket_shortcut_elsewhere_runs_new(slack: SlackWorld) -> None:
    body = slack.fixture("message_shortcut_create_ticket.json")
    body["channel"] = {"id": "C0TRIAGE", "name": "helpdesk-triage"}
    body["message"].update(user="U0SANNA", team="T0HOME", user_team="T0HOME", source_team="T0HOME",
                           text="GLOBEX says their printers print blank pages")
    assert (await slack.http.interaction(body)).status == 200
    ticket = await Ticket.get(key="GLOBEX-1")
    assert ticket.channel == "C0GLOBEX" and ticket.thread is None
    assert "Opened GLOBEX-1" in slack.api.ephemerals("U0OLLI")[0]["text"]
    await slack.drain()  # the bot's first post in C0GLOBEX becomes the ticket's thread
    (root,) = slack.api.posts("C0GLOBEX")
    assert (await Ticket.get(key="GLOBEX-1")).thread is not None and "thread_ts" not in root


async def test_add_to_ticket_appends_the_message_as_an_internal_note(slack: SlackWorld) -> None:
    await open_ticket(slack)
    assert (await slack.http.interaction(slack.fixture("message_shortcut_add_to_ticket.json"))).status == 200
    (opened,) = slack.api.called("views.open")
    assert opened["view"]["callback_id"] == "chatdesk_add_to_ticket"
    response = await slack.http.interaction(slack.fixture("view_submission_add_to_ticket.json"))
    assert response.status == 200
    note = await Message.get(internal=True)
    assert "Oulu firewall was updated on Sunday" in note.text and "<@U0CUST1>" in note.text
    await slack.drain()
    assert not any("firewall" in everything_said(p) for p in slack.api.posts("C0ACME"))
    bad = slack.fixture("view_submission_add_to_ticket.json")
    bad["view"]["state"]["values"]["chatdesk_input_block"]["chatdesk_input_value"]["value"] = "ACME 1"
    assert (await slack.http.interaction(bad)).json()["response_action"] == "errors"


async def test_edits_and_deletes_update_the_stored_message(slack: SlackWorld) -> None:
    await open_ticket(slack)
    await slack.http.event(slack.fixture("thread_reply.json"))
    assert (await slack.http.event(slack.fixture("message_changed.json"))).status == 200
    root = await Message.get(platform_message_id=ROOT_TS)
    assert root.text == "Our VPN drops every few minutes in the Oulu and Tampere offices"
    assert root.edited_at is not None
    assert (await slack.http.event(slack.fixture("message_deleted.json"))).status == 200
    reply = await Message.get(platform_message_id="1795417320.000200")
    assert reply.deleted_at is not None
    assert await Ticket.all().count() == 1


@pytest.mark.parametrize("name", ["bot_message.json", "channel_join.json"])
async def test_bots_and_housekeeping_store_nothing(slack: SlackWorld, name: str) -> None:
    response = await slack.http.event(slack.fixture(name))
    assert response.status == 200
    assert await Ticket.all().count() == 0 and await Message.all().count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_our_own_posts_coming_back_store_nothing(slack: SlackWorld) -> None:
    await open_ticket(slack)
    echo = with_event(slack.fixture("agent_reply_in_thread.json"), event_id="Ev0ECHO", user="U0BOT",
                      bot_id="B0BOT", ts="1795420001.000100")
    assert (await slack.http.event(echo)).status == 200
    assert await Message.all().count() == 1


async def test_the_worker_delivers_without_being_asked(any_database: str, clock: FakeClock) -> None:
    import asyncio

    async with slack_world(clock, any_database, run_workers=True) as slack:
        assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
        for _ in range(100):
            if slack.api.posts("C0ACME") and slack.api.posts("C0TRIAGE"):
                break
            await asyncio.sleep(0.05)
        assert slack.api.posts("C0ACME")[0]["thread_ts"] == ROOT_TS
        assert len(slack.api.posts("C0TRIAGE")) == 1
