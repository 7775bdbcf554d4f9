"""Hostile bodies with a valid Slack signature get a 4xx, never a 500, and change nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from storage.models import Message, OutboxMessage, ProcessedEvent, Ticket
from tests.scenarios.slack_harness import SlackWorld, slack_world


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


async def signed_bytes(slack: SlackWorld, body: bytes, content_type: str) -> int:
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(slack.http.secret.encode(), b"v0:" + ts.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    async with slack.http.client.post("/slack/events", data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def nothing_stored() -> bool:
    return (await Ticket.all().count() == 0 and await Message.all().count() == 0
            and await ProcessedEvent.all().count() == 0 and await OutboxMessage.all().count() == 0)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"type": "event_callback", "event": {"text": "\xff\xfe\xfa"}}', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"payload=%FF%FE%FA", "application/x-www-form-urlencoded"),
        (b"command=%2Fhelpdesk&text=%FF%FE&user_id=U0OLLI&channel_id=C0TRIAGE", "application/x-www-form-urlencoded"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode() * 3, "application/json"),
        (b"\x00" * 1000, "application/octet-stream"),
    ],
    ids=["bad-utf8-in-json", "binary-json", "bad-utf8-payload-form", "bad-utf8-command", "nested-100k",
         "concatenated-json", "octet-stream"],
)
async def test_hostile_signed_bodies_are_4xx_and_store_nothing(slack: SlackWorld, body: bytes,
                                                              content_type: str) -> None:
    status = await signed_bytes(slack, body, content_type)
    assert 400 <= status < 500, status
    assert await nothing_stored()


async def test_a_2mb_body_is_413(slack: SlackWorld) -> None:
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "x" * 2_000_000}}).encode()
    assert await signed_bytes(slack, body, "application/json") == 413
    assert await nothing_stored()


async def test_server_keeps_answering_after_hostile_input(slack: SlackWorld) -> None:
    await signed_bytes(slack, b"[" * 50_000, "application/json")
    async with slack.http.client.get("/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["database"] is True
