"""The approval step through Slack: the estimate card's Approve button in the customer's
thread works for the customer's contact only."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.clock import FakeClock
from storage.models import AuditEvent, Ticket
from tests.scenarios.slack_harness import SlackWorld, slack_world

ROOT_TS = "1795417201.000100"  # the customer's message in message_in_shared_channel.json


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


def press(slack: SlackWorld, card: dict[str, Any], label: str, user: dict[str, str], trigger: str) -> dict[str, Any]:
    """A block_actions payload: `user` pressed the button `label` on a card chatdesk posted."""
    body = copy.deepcopy(slack.fixture("block_actions_claim.json"))
    button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["text"]["text"] == label)
    body.update(user=user, trigger_id=trigger, channel={"id": card["channel"], "name": "acme-support"},
                container={"type": "message", "message_ts": "1795417300.000200", "channel_id": card["channel"],
                           "thread_ts": card["thread_ts"], "is_ephemeral": False},
                message={**card, "ts": "1795417300.000200", "thread_ts": card["thread_ts"]},
                actions=[{**button, "block_id": "a1", "action_ts": "1795417310.000001"}])
    return body


async def test_approve_button_refuses_a_consultant_and_works_for_the_contact(slack: SlackWorld) -> None:
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    for text in ("type ACME-1 change_request", 'estimate ACME-1 6h "VPN profile for Oulu"'):
        response = await slack.http.command(slack.command(text, user="U0OLLI"))
        assert response.status == 200
    await slack.drain()
    card = next(p for p in slack.api.posts("C0ACME") if "Approve" in str(p.get("blocks")))
    assert card["thread_ts"] == ROOT_TS
    audit_before = await AuditEvent.all().count()

    olli = {"id": "U0OLLI", "username": "olli", "name": "olli", "team_id": "T0HOME"}
    assert (await slack.http.interaction(press(slack, card, "Approve", olli, "1.1.olli"))).status == 200
    (refused,) = slack.api.ephemerals("U0OLLI")
    assert refused["text"] == "not allowed: only the customer's own contacts can approve"
    globex = slack.command("approve ACME-1", user="U0GLOBEX1", channel="C0GLOBEX", team_id="T0GLOBEX")
    assert (await slack.http.command(globex)).json()["text"] == "no ticket ACME-1"
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("awaiting_approval", "pending")
    assert await AuditEvent.all().count() == audit_before

    aino = {"id": "U0CUST1", "username": "aino", "name": "aino", "team_id": "T0ACME"}
    assert (await slack.http.interaction(press(slack, card, "Approve", aino, "1.2.aino"))).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("in_progress", "approved")
    await slack.drain()
    assert any("approved the estimate" in p["text"] and p.get("thread_ts") == ROOT_TS
               for p in slack.api.posts("C0ACME"))
