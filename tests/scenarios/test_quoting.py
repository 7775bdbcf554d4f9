"""What a customer writes pings nobody and links nowhere when chatdesk re-posts it: the triage post,
its Message field and the routing DMs in Slack, the triage card in Teams. Titles are cut without
breaking an escape, and the stored message keeps exactly what the customer wrote."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.clock import FakeClock
from storage.models import Message, Ticket
from tests.scenarios.slack_harness import SlackWorld, slack_world, with_event
from tests.scenarios.teams_harness import TRIAGE, TeamsWorld

# As Slack sends it: special mentions and links in <...>, a typed "&" as &amp;.
HOSTILE_WIRE = ("VPN down <!here> <!channel> <!everyone> <!subteam^S0ADMINS|@admins> <@U0LEAD> see "
                "<https://evil.example/login|Click to verify> &amp; more")
HOSTILE_TYPED = ("VPN down <!here> <!channel> <!everyone> <!subteam^S0ADMINS|@admins> <@U0LEAD> see "
                 "<https://evil.example/login|Click to verify> & more")
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


def mrkdwn_texts(post: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn in a post: the fallback text, sections and fields."""
    texts = [post.get("text") or ""]
    for block in post.get("blocks") or ():
        if block.get("type") == "section":
            if block.get("text"):
                texts.append(block["text"]["text"])
            texts += [f["text"] for f in block.get("fields") or ()]
        if block.get("type") == "context":
            texts += [e.get("text", "") for e in block.get("elements") or ()]
    return texts


def assert_inert(post: dict[str, Any]) -> None:
    for text in mrkdwn_texts(post):
        assert "<" not in text and ">" not in text, text  # chatdesk adds no links here: every < is someone's
        assert not BROKEN_ENTITY.search(text), text


async def test_a_customers_mentions_and_links_are_inert_in_triage_and_routing_dms(slack: SlackWorld) -> None:
    event = with_event(slack.fixture("message_in_shared_channel.json"), text=HOSTILE_WIRE)
    assert (await slack.http.event(event)).status == 200
    await slack.drain()
    [triage] = slack.api.posts("C0TRIAGE")
    dms = [p for p in slack.api.posts() if p["channel"].startswith("U")]
    assert {p["channel"] for p in dms} == {"U0OLLI", "U0SANNA", "U0LEAD"}  # the support team and the manager
    for post in [triage, *dms]:
        assert_inert(post)
    said = json.dumps(triage)
    assert "&lt;!here&gt;" in said and "&lt;https://evil.example/login|Click to verify&gt;" in said
    message_field = next(f["text"] for b in triage["blocks"] if b["type"] == "section"
                         for f in b.get("fields") or () if f["text"].startswith("*Message*"))
    assert "&lt;@U0LEAD&gt;" in message_field and "&amp; more" in message_field
    header = next(b for b in triage["blocks"] if b["type"] == "header")
    assert "<!here>" in header["text"]["text"]  # plain text shows the characters and is never live

    stored = await Message.get(platform_message_id=event["event"]["ts"])
    assert stored.text == HOSTILE_TYPED  # the ticket keeps what the customer wrote


async def test_a_long_title_is_cut_after_escaping_never_inside_an_escape(slack: SlackWorld) -> None:
    for width in range(130, 150):
        slack.api.calls.clear()
        text = "x" * width + " <!channel> <https://evil.example|Click> " + "y" * 30
        event = with_event(slack.fixture("message_in_shared_channel.json"), text=text, ts=f"1795417{width}.000100",
                           event_id=f"Ev0TITLE{width}")
        assert (await slack.http.event(event)).status == 200
        await slack.drain()
        [triage] = slack.api.posts("C0TRIAGE")
        assert_inert(triage)
        header = next(b for b in triage["blocks"] if b["type"] == "header")["text"]["text"]
        assert len(header) <= 150 and not re.search(r"&(lt|gt|amp)?$|&(lt|gt|amp)…", header), header


@pytest.fixture
async def teams(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def test_teams_triage_card_breaks_at_mentions_and_markdown_links(teams: TeamsWorld) -> None:
    # A typed "<at>" reaches the bot HTML-escaped; a real mention of Olli becomes his name.
    text = "Login broken &lt;at&gt;Olli&lt;/at&gt; please [Click to verify](https://evil.example/login) now"
    activity = teams.message("channel_message_top_level", text)
    assert await teams.post(activity) == 200
    await teams.deliver()
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.title == "Login broken <at>Olli</at> please [Click to verify](https://evil.example/login) now"
    [card_post] = [c for c in teams.connector.created()
                   if c.body["channelData"].get("channel", {}).get("id") == TRIAGE]
    said = card_post.text
    assert "](https://evil.example" not in said and "[Click to verify](" not in said
    assert "<at>" not in said and "<\u200bat>" in said
