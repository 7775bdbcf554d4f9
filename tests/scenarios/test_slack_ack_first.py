"""Buttons and shortcuts answer Slack first and post after: a slow Web API never makes Slack time out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from storage.models import Ticket
from tests.scenarios.slack_harness import SlackWorld, slack_world


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


async def test_a_button_is_acknowledged_before_its_ephemeral_answer_is_posted(slack: SlackWorld) -> None:
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    gate = slack.api.hold("chat.postEphemeral")
    # With the answer posted before the acknowledgement this would wait for the gate forever.
    response = await asyncio.wait_for(
        slack.http.interaction(slack.fixture("block_actions_claim.json"), settle=False), timeout=30)
    assert response.status == 200
    ticket = await Ticket.get(key="ACME-1").prefetch_related("assignee")
    assert ticket.assignee is not None and ticket.assignee.pid == "olli"  # the change is made first
    assert slack.api.ephemerals("U0OLLI") == []
    gate.set()
    await slack.adapter.settled()
    (told,) = slack.api.ephemerals("U0OLLI")
    assert told["text"] == "ACME-1 is now assigned to Olli."


async def test_a_modal_opens_after_the_acknowledgement(slack: SlackWorld) -> None:
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    gate = slack.api.hold("views.open")
    response = await asyncio.wait_for(
        slack.http.interaction(slack.fixture("block_actions_assign.json"), settle=False), timeout=30)
    assert response.status == 200 and slack.api.called("views.open") == []
    gate.set()
    await slack.adapter.settled()
    assert len(slack.api.called("views.open")) == 1
