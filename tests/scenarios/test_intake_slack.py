"""Intake through Slack: signed events to the real app, posts read back from the fake Web API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from storage import db
from storage.models import Attachment, AuditEvent, Contact, IntakeMessage, Message, Ticket
from tests.intake_org import apply_org
from tests.scenarios.slack_harness import FIXTURES, SlackWorld, slack_world, with_event

ROOT_TS = "1795417201.000100"  # message_in_shared_channel.json, Monday 09:00:01 Helsinki


@pytest.fixture
async def slack(any_db_url: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    await db.init(any_db_url)
    await apply_org()
    try:
        async with slack_world(clock, any_db_url) as world:
            yield world
    finally:
        await db.close()


def top_level(slack: SlackWorld, text: str, ts: str, user: str = "U0CUST1", n: int = 0) -> dict[str, object]:
    return with_event(slack.fixture("message_in_shared_channel.json"), event_id=f"Ev0INTAKE{ts}{n}", text=text,
                      ts=ts, event_ts=ts, user=user, client_msg_id=f"c-{ts}")


async def test_a_pleasantry_opens_nothing_and_sends_nothing(slack: SlackWorld) -> None:
    assert (await slack.http.event(top_level(slack, "kiitos! 🙏", ROOT_TS))).status == 200
    assert await slack.drain() == 0
    assert await Ticket.all().count() == 0 and slack.api.posts() == []
    assert await IntakeMessage.filter(message_id=ROOT_TS, outcome="pleasantry").exists()


async def test_a_split_request_is_one_ticket_with_one_acknowledgement(slack: SlackWorld) -> None:
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.http.event(top_level(slack, "It started after the weekend", "1795417321.000200"))  # 2 min later
    await slack.http.event(top_level(slack, "ok so the Tampere office is down too", "1795417501.000300"))
    await slack.drain()
    ticket = await Ticket.get(key="ACME-1")
    assert await Ticket.all().count() == 1
    assert await Message.filter(ticket_id=ticket.id).count() == 3
    assert len(slack.api.posts("C0ACME")) == 1  # one acknowledgement, in the first message's thread
    assert len(slack.api.posts("C0TRIAGE")) == 1
    dms = [p["channel"] for p in slack.api.posts() if str(p.get("channel", "")).startswith("U0")]
    assert sorted(dms) == ["U0LEAD", "U0OLLI", "U0SANNA"]  # the team and the account manager, once each
    await slack.http.event(top_level(slack, "New thing: the printer jams", "1795418101.000400"))  # 10 min gap
    assert (await Ticket.get(key="ACME-2")).thread == "1795418101.000400"


async def test_a_ticket_reaction_opens_a_ticket_in_reaction_mode(slack: SlackWorld) -> None:
    await apply_org({"ACME": {"mode": "reaction"}})
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.drain()
    assert await Ticket.all().count() == 0 and slack.api.posts() == []
    thumbs = with_event(slack.fixture("reaction_added.json"), event_id="Ev0THUMBS", reaction="+1")
    assert (await slack.http.event(thumbs)).status == 200
    assert await Ticket.all().count() == 0
    assert (await slack.http.event(slack.fixture("reaction_added.json"))).status == 200
    assert (await slack.http.event(slack.fixture("reaction_added.json"), retry_num=1)).status == 200
    await slack.drain()
    ticket = await Ticket.get(key="ACME-1").prefetch_related("contact")
    assert ticket.thread == ROOT_TS and ticket.contact is not None and ticket.contact.user_id == "U0CUST1"
    [ack] = slack.api.posts("C0ACME")
    assert ack["thread_ts"] == ROOT_TS and "ACME-1" in ack["text"]
    assert await AuditEvent.filter(action="opened_by_reaction", actor="person:olli").count() == 1


async def test_editing_the_opening_message_retitles_the_ticket(slack: SlackWorld) -> None:
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    assert (await slack.http.event(slack.fixture("message_changed.json"))).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.title == "Our VPN drops every few minutes in the Oulu and Tampere offices"
    event = await AuditEvent.get(ticket_id=ticket.id, action="message_edited")
    assert event.detail["title"]["from"] == "Our VPN drops every few minutes in the Oulu office"


async def test_deleting_a_thread_parent_leaves_a_tombstone_that_withdraws_the_ticket(slack: SlackWorld) -> None:
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.drain()
    assert (await slack.http.event(slack.fixture("message_changed_tombstone.json"))).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "closed" and ticket.escalation_at is None and ticket.notice_at is None
    stored = await Message.get(ticket_id=ticket.id, platform_message_id=ROOT_TS)
    assert stored.deleted_at is not None and stored.text != "This message was deleted."
    deleted = await AuditEvent.get(ticket_id=ticket.id, action="message_deleted")
    assert deleted.actor.startswith("contact:")
    await slack.drain()
    assert any("withdrawn" in p["text"] for p in slack.api.posts("C0TRIAGE"))


async def test_message_deleted_marks_a_reply_deleted_and_keeps_the_ticket(slack: SlackWorld) -> None:
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.http.event(slack.fixture("thread_reply.json"))
    assert (await slack.http.event(slack.fixture("message_deleted.json"))).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "new"
    assert (await Message.get(platform_message_id="1795417320.000200")).deleted_at is not None


async def test_slack_connect_file_stubs_are_described_filtered_and_fetched(slack: SlackWorld) -> None:
    answers = json.loads((FIXTURES / "files_info.json").read_text().replace("https://files.slack.com/",
                                                                            slack.api.root))
    slack.api.file_infos.update(answers)
    slack.api.users.update(json.loads((FIXTURES / "users_info.json").read_text()))
    slack.api.serve_file("T0ACME-F0CONNSHOT/download/error-dialog.png", b"\x89PNG-dialog", "image/png")
    slack.api.serve_file("T0ACME-F0CONNLOGO/download/image001.png", b"\x89PNG-logo", "image/png")
    assert (await slack.http.event(slack.fixture("file_share_connect_stub.json"))).status == 200
    await slack.adapter.files.idle()
    [shot] = await Attachment.all()
    assert (shot.name, shot.mimetype, shot.size) == ("error-dialog.png", "image/png", 96512)
    assert shot.content == b"\x89PNG-dialog"
    assert "T0ACME-F0CONNLOGO/download/image001.png" not in slack.api.file_requests  # the signature logo
    assert sorted(b["file"] for b in slack.api.called("files.info")) == ["F0CONNLOGO", "F0CONNSHOT"]
    contact = await Contact.get(user_id="U0CUST2")
    assert contact.display_name == "Pekka"
    assert (await Message.get(author_contact_id=contact.id)).author_name == "Pekka"
    await slack.http.event(top_level(slack, "Also the second screen flickers", "1795418401.000100", user="U0CUST2"))
    await slack.adapter.files.idle()
    assert len(slack.api.called("users.info")) == 1  # the name is cached


async def test_a_night_message_is_told_the_support_hours(slack: SlackWorld, clock: FakeClock) -> None:
    friday_night = datetime(2026, 11, 27, 20, 15, tzinfo=UTC)  # Friday 22:15 in Helsinki
    clock.set(friday_night)
    ts = f"{friday_night.timestamp():.6f}"
    await slack.http.event(top_level(slack, "The VPN is down for everyone", ts))
    await slack.drain()
    [ack] = slack.api.posts("C0ACME")
    assert "ACME-1" in ack["text"]
    assert "Our support hours are Mon–Thu 08–16, Fri 08–12 and 13–16 Helsinki time" in ack["text"]
    assert "we will reply by Mon 12:00" in ack["text"]
