"""A large privacy export reaches the contact whole: every part within the platform's message limits
(Teams answers 413 over 28 KB), no part lost, the parts together exactly the export."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.slack import render as slack_render
from bot.clock import FakeClock
from bot.core import Helpdesk
from bot.export import PART_BYTES, parts, wire_bytes
from bot.privacy import export_data
from bot.quoting import plain
from bot.types import Actor, IncomingMessage, Invocation, Place, Platform, Reply
from storage.models import Contact, Message, OutboxMessage, Ticket
from tests.scenarios.teams_harness import ACME, TeamsWorld

TEAMS_LIMIT = 28 * 1024
# Non-ASCII, astral, markup and JSON-escaped characters, which grow on the wire.
NOISY = "Hyvää päivää 😀 <b>&amp; \"quoted\" \\ tab\t <https://x.example|link> ]( "


async def _lots_of_history(contact: Contact, ticket: Ticket, count: int = 160) -> None:
    for n in range(count):
        await Message.create(ticket_id=ticket.id, platform=ticket.platform, channel=ticket.channel,
                             platform_message_id=f"bulk-{n}", author_kind="contact", author_contact_id=contact.id,
                             author_name=contact.display_name, text=f"{n}: " + NOISY * 8, created_at=ticket.created_at)


def _reassembled(texts: list[str]) -> str:
    pieces = []
    for text in texts:
        body = text.split("```", 1)[1].rsplit("```", 1)[0]
        pieces.append(body)
    return "".join(pieces)


def test_parts_respect_the_budget_and_lose_nothing() -> None:
    blob = json.dumps({"messages": [NOISY * 40] * 30, "long": "é" * 50_000}, ensure_ascii=False, indent=1)
    pieces = parts(blob)
    assert len(pieces) > 5 and "".join(pieces) == blob
    assert all(wire_bytes(p) <= PART_BYTES for p in pieces)
    assert parts("") == [""]


@pytest.fixture
async def teams(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def test_a_large_export_reaches_a_teams_contact_whole(teams: TeamsWorld) -> None:
    teams.connector.max_bytes = TEAMS_LIMIT
    assert await teams.post(teams.activity("channel_message_top_level")) == 200
    await teams.deliver()
    contact, ticket = await Contact.get(), await Ticket.get(key="ACME-1")
    await _lots_of_history(contact, ticket)
    expected = json.dumps(await export_data(contact), ensure_ascii=False, indent=1)
    assert len(expected.encode()) > 3 * TEAMS_LIMIT
    teams.connector.take()

    command = teams.message("channel_reply_in_thread", "<at>Helpdesk</at> privacy export",
                            entities=teams.activity("mention_command")["entities"],
                            **{"from": teams.activity("channel_message_top_level")["from"]})
    assert await teams.post(command) == 200
    await teams.deliver()
    rows = [r for r in await OutboxMessage.all() if r.payload.get("kind") == "export"]
    assert len(rows) >= 4 and all(r.status == "sent" for r in rows), [(r.status, r.last_error) for r in rows]
    calls = [c for c in teams.connector.calls if "Your data stored by chatdesk" in c.text]
    assert calls and all(c.status < 300 for c in calls)
    assert all(len(json.dumps(c.body).encode()) < TEAMS_LIMIT for c in calls)
    texts = [c.body["text"].replace("\u200b", "") for c in calls if c.method == "POST" and "text" in c.body]
    assert json.loads(_reassembled(texts)) == json.loads(expected)
    assert ACME not in {c.conversation for c in calls}  # to the contact's 1:1, not their channel


async def test_a_large_export_fits_slack_messages(database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock)
    actor = Actor(Platform.SLACK, "T0ACME", "U0CUST1", display_name="Aino")
    await desk.handle_message(IncomingMessage(event_id="Ev1", actor=actor, place=Place(Platform.SLACK, "T0HOME",
                              "C0ACME"), message_id="1795417201.000100", text="VPN down"))
    contact, ticket = await Contact.get(), await Ticket.get(key="ACME-1")
    await _lots_of_history(contact, ticket)
    expected = json.dumps(await export_data(contact), ensure_ascii=False, indent=1)
    await desk.handle_invocation(Invocation(event_id=f"Ev{uuid.uuid4().hex}", actor=actor,
                                            place=Place(Platform.SLACK, "T0HOME", "C0ACME"), text="privacy export"))
    replies = [Reply.from_json(r.payload) for r in await OutboxMessage.all().order_by("id")
               if r.payload.get("kind") == "export"]
    assert len(replies) >= 4
    texts = []
    for reply in replies:
        message = slack_render.render(reply)
        assert len(message.text) <= slack_render.TEXT_MAX and len(message.blocks) <= slack_render.MAX_BLOCKS
        assert all(b["type"] == "section" and len(b["text"]["text"]) <= slack_render.SECTION_TEXT_MAX
                   for b in message.blocks)
        assert "".join(b["text"]["text"] for b in message.blocks).replace("\n", "") == \
            message.text.replace("\n", "")
        texts.append(plain(message.text))
    assert json.loads(_reassembled(texts)) == json.loads(expected)
