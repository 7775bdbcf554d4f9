"""What Slack's transport throws at the app: forged and stale requests, retries, duplicates,
malformed payloads, rate limits and outages, files. The rule: nothing is stored twice, nothing
is stored from a request Slack did not sign, and nothing answers 500 for bad input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.sender import SlackSender
from bot import attachments
from bot.clock import FakeClock
from bot.types import Destination, Platform, Reply
from chatdesk.server import DESK
from storage.models import Attachment, Message, OutboxMessage, ProcessedEvent, Ticket
from storage.outbox import DeliveryError
from tests.scenarios.slack_harness import SlackWorld, slack_world, with_event

ROOT_TS = "1795417201.000100"


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


@pytest.fixture
async def slack_any_db(any_database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    """SQLite, and PostgreSQL too when TEST_POSTGRES_URL is set (concurrency differs there)."""
    async with slack_world(clock, any_database) as world:
        yield world


async def nothing_stored() -> bool:
    return (await Ticket.all().count() == 0 and await Message.all().count() == 0
            and await ProcessedEvent.all().count() == 0 and await OutboxMessage.all().count() == 0)


# -- who may talk to us ---------------------------------------------------------------------------

async def test_a_bad_signature_is_401_and_stores_nothing(slack: SlackWorld) -> None:
    response = await slack.http.event(slack.fixture("message_in_shared_channel.json"), secret="not-the-secret")
    assert response.status == 401
    response = await slack.http.command(slack.command("priority ACME-1 P1"), secret="not-the-secret")
    assert response.status == 401
    assert await nothing_stored()
    assert not slack.api.calls  # not even auth.test


@pytest.mark.parametrize("age", [301, 3600, -3600])
async def test_a_stale_timestamp_is_401_and_stores_nothing(slack: SlackWorld, age: int) -> None:
    response = await slack.http.event(slack.fixture("message_in_shared_channel.json"),
                                      timestamp=int(time.time()) - age)
    assert response.status == 401
    assert await nothing_stored()


async def test_a_timestamp_just_inside_five_minutes_is_accepted(slack: SlackWorld) -> None:
    response = await slack.http.event(slack.fixture("message_in_shared_channel.json"),
                                      timestamp=int(time.time()) - 290)
    assert response.status == 200
    assert await Ticket.all().count() == 1


async def test_missing_signature_headers_are_401(slack: SlackWorld) -> None:
    body = json.dumps(slack.fixture("message_in_shared_channel.json"))
    async with slack.client.post("/slack/events", data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 401
    async with slack.client.post("/slack/events", data="{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 401  # unsigned garbage learns nothing about its shape
    assert await nothing_stored()


async def test_a_signature_over_another_body_is_401(slack: SlackWorld) -> None:
    ts = int(time.time())
    from tests.scenarios.slack_harness import sign

    body = json.dumps(slack.fixture("message_in_shared_channel.json"))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": sign(body.replace("Oulu", "Espoo"), ts)}
    async with slack.client.post("/slack/events", data=body, headers=headers) as r:
        assert r.status == 401
    assert await nothing_stored()


async def test_url_verification_echoes_the_challenge(slack: SlackWorld) -> None:
    response = await slack.http.event(slack.fixture("url_verification.json"))
    assert response.status == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# -- malformed and unknown payloads, correctly signed -----------------------------------------------

MALFORMED_JSON = ["{", "{\"type\": \"event_callback\", ", "[]", "[1, 2]", "null", "\"text\"", "123", "{}"]
ODD_EVENTS: list[dict[str, Any]] = [
    {"type": "event_callback"},
    {"type": "event_callback", "event_id": "Ev1", "event": None},
    {"type": "event_callback", "event_id": "Ev2", "event": "message"},
    {"type": "event_callback", "event_id": "Ev3", "event": {"type": "message"}},
    {"type": "event_callback", "event_id": "Ev4", "event": {"type": "message", "channel": ["C0ACME"], "ts": {}}},
    {"type": "event_callback", "event_id": "Ev5", "event": {"type": "message", "channel": "C0ACME", "ts": "1.1",
                                                             "user": 42, "text": None, "files": "x"}},
    {"type": "event_callback", "event_id": "Ev6", "event": {"type": "message", "subtype": "message_changed",
                                                             "channel": "C0ACME", "message": None}},
    {"type": "event_callback", "event_id": "Ev7", "event": {"type": "message", "subtype": "message_deleted",
                                                             "channel": "C0ACME"}},
    {"type": "event_callback", "event_id": "Ev8", "event": {"type": "reaction_added", "user": "U1"}},
    {"type": "event_callback", "event_id": "Ev9", "team_id": "T0HOME", "authorizations": "x",
     "event": {"type": "message", "channel": "C0ACME", "ts": "1795417201.9", "user": "U0X", "text": "hi"}},
    {"type": "app_rate_limited", "team_id": "T0HOME", "minute_rate_limited": 1518467820},
    {"type": "something_new", "x": 1},
    {"token": "x"},
]
ODD_INTERACTIONS: list[dict[str, Any]] = [
    {"type": "block_actions"},
    {"type": "block_actions", "actions": [], "user": {"id": "U0OLLI"}},
    {"type": "block_actions", "actions": [{"action_id": "chatdesk_run_0"}], "user": {"id": "U0OLLI"}},
    {"type": "block_actions", "actions": [{"action_id": "chatdesk_run_0", "value": "claim ACME-1"}]},
    {"type": "block_actions", "actions": [{"action_id": "chatdesk_ask_0", "value": "assign ACME-1"}],
     "user": {"id": "U0OLLI"}},
    {"type": "message_action", "callback_id": "create_ticket", "user": {"id": "U0OLLI"}},
    {"type": "message_action", "callback_id": "create_ticket", "user": {"id": "U0OLLI"},
     "channel": {"id": "C0ACME"}, "message": {"ts": "1.2", "text": None}},
    {"type": "message_action", "callback_id": "add_to_ticket", "user": {"id": "U0OLLI"}},
    {"type": "view_submission", "view": {"callback_id": "chatdesk_input", "private_metadata": "{oops"},
     "user": {"id": "U0OLLI"}},
    {"type": "view_submission", "view": {"callback_id": "chatdesk_input", "private_metadata": "[]"},
     "user": {"id": "U0OLLI"}},
    {"type": "view_submission", "view": {"callback_id": "chatdesk_add_to_ticket", "state": None},
     "user": {"id": "U0OLLI"}},
    {"type": "view_closed", "view": {"callback_id": "chatdesk_input"}, "user": {"id": "U0OLLI"}},
    {"type": "block_suggestion", "action_id": "x", "value": "a", "user": {"id": "U0OLLI"}},
    {"type": "shortcut", "callback_id": "create_ticket", "user": {"id": "U0OLLI"}},
]
ODD_FORMS = [
    "command=%2Fhelpdesk&text=help",  # no user or channel
    "command=%2Fhelpdesk&user_id=U0OLLI&channel_id=C0TRIAGE",  # no text: help
    "command=%2Fother&text=help&user_id=U0OLLI&channel_id=C0TRIAGE",
    "payload=not-json",
    "payload=%5B%5D",
    "text=" + "x" * 5000 + "&command=%2Fhelpdesk&user_id=U0OLLI&channel_id=C0TRIAGE",
    "command=%2Fhelpdesk&text=%00%00claim+ACME-1&user_id=U0OLLI&channel_id=C0TRIAGE&trigger_id=t1",
    "",
]


@pytest.mark.parametrize("body", MALFORMED_JSON)
async def test_signed_malformed_json_is_4xx_and_stores_nothing(slack: SlackWorld, body: str) -> None:
    response = await slack.http.post(body, "application/json")
    assert 200 <= response.status < 500, response.text
    assert await nothing_stored()


@pytest.mark.parametrize("payload", ODD_EVENTS, ids=lambda p: json.dumps(p)[:60])
async def test_signed_odd_events_are_never_500(slack: SlackWorld, payload: dict[str, Any]) -> None:
    response = await slack.http.event(payload)
    assert 200 <= response.status < 500, response.text
    assert await Ticket.all().count() == 0 and await OutboxMessage.all().count() == 0


@pytest.mark.parametrize("payload", ODD_INTERACTIONS, ids=lambda p: json.dumps(p)[:60])
async def test_signed_odd_interactions_are_never_500(slack: SlackWorld, payload: dict[str, Any]) -> None:
    response = await slack.http.interaction(payload)
    assert 200 <= response.status < 500, response.text
    assert await Ticket.all().count() == 0 and await OutboxMessage.all().count() == 0


@pytest.mark.parametrize("body", ODD_FORMS, ids=lambda b: b[:40] or "empty")
async def test_signed_odd_forms_are_never_500(slack: SlackWorld, body: str) -> None:
    response = await slack.http.post(body, "application/x-www-form-urlencoded")
    assert 200 <= response.status < 500, response.text
    assert await Ticket.all().count() == 0 and await OutboxMessage.all().count() == 0


async def test_an_oversized_body_is_refused(slack: SlackWorld) -> None:
    payload = with_event(slack.fixture("message_in_shared_channel.json"), text="x" * (1024 * 1024 + 10))
    response = await slack.http.event(payload)
    assert response.status == 413
    assert await nothing_stored()


# -- retries and duplicates -----------------------------------------------------------------------------

async def test_retries_and_duplicate_event_ids_store_once(slack_any_db: SlackWorld) -> None:
    slack = slack_any_db
    event = slack.fixture("message_in_shared_channel.json")
    statuses = [(await slack.http.event(event, retry_num=n)).status for n in (None, 1, 2, 3)]
    assert statuses == [200] * 4
    # The same message under a new event id (Slack can deliver one message twice) is one message.
    assert (await slack.http.event(with_event(event, event_id="Ev0ACME0DUP"))).status == 200
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    await slack.drain()
    assert len(slack.api.posts("C0ACME")) == 1 and len(slack.api.posts("C0TRIAGE")) == 1


async def test_concurrent_duplicates_store_once(slack_any_db: SlackWorld) -> None:
    slack = slack_any_db
    event = slack.fixture("message_in_shared_channel.json")
    responses = await asyncio.gather(*(slack.http.event(event, retry_num=n or None) for n in range(6)))
    assert all(r.status < 500 for r in responses)
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    await slack.drain()
    assert len(slack.api.posts("C0ACME")) == 1


async def test_a_failure_inside_chatdesk_is_500_so_slack_retries(slack: SlackWorld,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    desk = slack.app[DESK]
    real = desk.handle_message
    calls = 0

    async def flaky(msg: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await real(msg)

    monkeypatch.setattr(desk, "handle_message", flaky)
    event = slack.fixture("message_in_shared_channel.json")
    assert (await slack.http.event(event)).status == 500
    assert await nothing_stored()
    assert (await slack.http.event(event, retry_num=1)).status == 200
    assert (await slack.http.event(event, retry_num=2)).status == 200
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1


# -- delivery: rate limits, outages, permanent failures ---------------------------------------------------

async def test_429_then_success_delivers_exactly_once_honouring_retry_after(slack: SlackWorld,
                                                                            clock: FakeClock) -> None:
    slack.api.fail("chat.postMessage", status=429, retry_after=7)
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.drain()
    waiting = await OutboxMessage.get(status="pending")
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=7)
    assert waiting.attempts == 1 and "429" in (waiting.last_error or "")
    clock.advance(seconds=6)
    assert await slack.drain() == 0  # not before Retry-After
    clock.advance(seconds=1)
    assert await slack.drain() == 1
    attempts = [c for c in slack.api.calls if c.method == "chat.postMessage"
                and c.body.get("metadata", {}).get("event_payload", {}).get("dedupe") == waiting.dedupe_key]
    assert [c.ok for c in attempts] == [False, True]
    assert await OutboxMessage.filter(status="sent").count() == await OutboxMessage.all().count()
    assert await slack.drain() == 0
    assert len([p for p in slack.api.posts() if p["metadata"]["event_payload"].get("kind") == "ack"]) == 1


async def test_5xx_is_retried_with_backoff(slack: SlackWorld, clock: FakeClock) -> None:
    slack.api.fail("chat.postMessage", status=503, error="service_unavailable", times=2)
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.drain()
    first = await OutboxMessage.filter(attempts=1, status="pending").order_by("id").first()
    assert first is not None and first.next_attempt_at > clock.now()
    for _ in range(6):
        clock.advance(seconds=30)
        await slack.drain()
    assert await OutboxMessage.filter(status="sent").count() == await OutboxMessage.all().count()
    assert len(slack.api.posts("C0ACME")) == 1


async def test_network_errors_are_retried(slack: SlackWorld, clock: FakeClock) -> None:
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    sender = SlackSender(type(slack.sender.client)(token="xoxb-x", base_url="http://127.0.0.1:9/api/", timeout=2))
    destination = Destination(Platform.SLACK, "T0HOME", "C0TRIAGE")
    with pytest.raises(DeliveryError) as failure:
        await sender.send(destination, Reply("x"))
    assert not failure.value.permanent


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_auth"])
async def test_permanent_errors_are_not_retried(slack: SlackWorld, clock: FakeClock, error: str) -> None:
    slack.api.fail("chat.postMessage", status=200, error=error, times=50)
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.drain()
    clock.advance(hours=1)
    await slack.drain()
    rows = await OutboxMessage.all()
    assert rows and all(r.status == "failed" and r.attempts == 1 for r in rows)
    assert all(error in (r.last_error or "") for r in rows)


# -- files ------------------------------------------------------------------------------------------------

def serve_files(slack: SlackWorld, delay: float = 0.0) -> None:
    slack.api.serve_file("T0ACME-F0VPNLOG/download/vpn-client.log", b"12:00 tunnel down\n" * 100, "text/plain", delay)
    slack.api.serve_file("T0ACME-F0SHOT/download/vpn-error.png", b"\x89PNG" + b"\0" * 5000, "image/png", delay)
    slack.api.serve_file("T0ACME-F0LOGO/download/image001.png", b"\x89PNG" + b"\0" * 100, "image/png", delay)


async def test_files_are_stored_and_fetched_after_the_ack(slack: SlackWorld) -> None:
    serve_files(slack, delay=1.5)
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    response = await slack.http.event(slack.fixture("file_share.json"))
    assert response.status == 200 and response.seconds < 1.0  # the download does not hold the ack
    rows = {a.name: a for a in await Attachment.all()}
    assert set(rows) == {"vpn-client.log", "vpn-error.png"}  # the signature logo is dropped by the core
    assert all(a.content is None for a in rows.values())
    await slack.adapter.files.idle()
    rows = {a.name: a for a in await Attachment.all()}
    assert rows["vpn-client.log"].content == b"12:00 tunnel down\n" * 100
    assert rows["vpn-error.png"].content is not None and rows["vpn-error.png"].content.startswith(b"\x89PNG")
    assert "T0ACME-F0LOGO/download/image001.png" not in slack.api.file_requests


async def test_failed_and_oversized_downloads_keep_the_metadata(slack: SlackWorld,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_FILE_BYTES", 3000)
    slack.api.serve_file("T0ACME-F0SHOT/download/vpn-error.png", b"\x89PNG" + b"\0" * 5000, "image/png")
    # vpn-client.log is not served: 404. vpn-error.png says 183406 bytes: over the limit, never requested.
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    assert (await slack.http.event(slack.fixture("file_share.json"))).status == 200
    await slack.adapter.files.idle()
    rows = {a.name: a for a in await Attachment.all()}
    assert set(rows) == {"vpn-client.log", "vpn-error.png"}
    assert all(a.content is None for a in rows.values())
    assert slack.api.file_requests == ["T0ACME-F0VPNLOG/download/vpn-client.log"]
    assert (await slack.http.event(slack.fixture("thread_reply.json"))).status == 200  # still serving


async def test_a_file_larger_than_it_claimed_is_cut_off(slack: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_FILE_BYTES", 1000)
    slack.api.serve_file("T0ACME-F0VPNLOG/download/vpn-client.log", b"x" * 5000, "text/plain")
    payload = slack.fixture("file_share.json")
    payload["event"]["files"] = payload["event"]["files"][:1]
    payload["event"]["files"][0]["size"] = 900
    await slack.http.event(slack.fixture("message_in_shared_channel.json"))
    await slack.http.event(payload)
    await slack.adapter.files.idle()
    assert (await Attachment.get(name="vpn-client.log")).content is None


async def test_the_token_goes_only_to_slack_file_hosts(slack: SlackWorld) -> None:
    fetcher = slack.adapter.files
    assert fetcher.allowed("https://files.slack.com/files-pri/T1-F1/x.log")
    assert fetcher.allowed(slack.api.root + "files-pri/T1-F1/x.log")
    for url in ("http://files.slack.com/x", "https://files.slack.com.evil.example/x", "https://evil.example/x",
                "file:///etc/passwd", "https://slack.com@evil.example/x"):
        assert not fetcher.allowed(url), url
    assert await fetcher.download("https://evil.example/x") is None
