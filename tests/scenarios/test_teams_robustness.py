"""Teams at the edges: malformed activities, retried deliveries, JWT checks, and a connector that fails."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from storage.models import ConversationReference, Message, OutboxMessage, ProcessedEvent, Ticket
from tests.scenarios.teams_harness import ACME, TeamsWorld

THREAD = f"{ACME};messageid=1795417200123"
APP_ID = "0a1b2c3d-1111-4222-8333-444455556666"


@pytest.fixture
async def world(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def stored() -> tuple[int, int, int, int]:
    return (await Ticket.all().count(), await Message.all().count(), await ProcessedEvent.all().count(),
            await ConversationReference.all().count())


def without(activity: dict[str, Any], key: str) -> dict[str, Any]:
    activity.pop(key)
    return activity


async def test_malformed_activities_get_4xx_and_the_server_answers_the_next_good_one(world: TeamsWorld) -> None:
    good = world.activity("channel_message_top_level")
    bad: list[tuple[Any, int]] = [
        (b"{not json", 400),
        (b"\xff\xfe\x00", 400),
        ("[]", 400),
        ("null", 400),
        (without(world.activity("channel_message_top_level"), "serviceUrl"), 400),
        (world.activity("channel_message_top_level", serviceUrl=""), 400),
        (world.activity("channel_message_top_level", **{"from": "29:1anna-acme-contact"}), 400),
        (world.activity("channel_message_top_level", **{"from": ["29:1anna-acme-contact"]}), 400),
        (without(world.activity("channel_message_top_level"), "conversation"), 400),
        (world.activity("channel_message_top_level", conversation={"isGroup": True}), 400),
        (world.activity("channel_message_top_level", conversation=None), 400),
        (world.activity("channel_message_top_level", entities="mention"), 400),
        (world.activity("channel_message_top_level", timestamp="last tuesday"), 400),
        (without(world.activity("channel_message_top_level"), "id"), 400),
        (without(world.activity("channel_message_top_level"), "type"), 400),
    ]
    for body, status in bad:
        assert await world.post(body) == status, body
    assert await stored() == (0, 0, 0, 0)
    assert world.connector.calls == []

    assert await world.post(good) == 200
    assert await Ticket.all().count() == 1
    await world.deliver()
    assert world.connector.posts(THREAD)


async def test_oversized_and_wrong_method_requests_are_refused(world: TeamsWorld) -> None:
    huge = world.activity("channel_message_top_level", text="x" * (1024 * 1024 + 10))
    assert await world.post(huge) == 413
    assert world.client is not None
    response = await world.client.get("/api/messages")
    assert response.status == 405
    assert await world.post(world.activity("channel_message_top_level")) == 200


async def test_activities_the_helpdesk_does_not_act_on_are_acknowledged(world: TeamsWorld) -> None:
    typing = world.activity("channel_message_top_level", type="typing", id="t-1")
    assert await world.post(typing) == 200
    reaction = world.activity("channel_message_top_level", type="messageReaction", id="r-1")
    assert await world.post(reaction) == 200
    invoke = world.activity("adaptive_card_submit", type="invoke", id="i-1")
    invoke["name"] = "adaptiveCard/action"
    assert await world.post(invoke) == 200
    bot_echo = world.message("channel_message_top_level", "echo", **{"from": {"id": "28:other-bot"}})
    assert await world.post(bot_echo) == 200
    assert await Ticket.all().count() == 0


async def test_the_same_activity_twice_stores_once(world: TeamsWorld) -> None:
    top = world.activity("channel_message_top_level")
    for _ in range(3):
        assert await world.post(top) == 200
    assert (await Ticket.all().count(), await Message.all().count()) == (1, 1)
    submit = world.activity("adaptive_card_submit")
    assert await world.post(submit) == 200
    assert await world.post(submit) == 200
    assert len([c for c in world.connector.calls if c.path.endswith("/activities/1795419300333")]) == 1
    assert await ProcessedEvent.filter(platform="teams").count() == 2


def unsigned_token(**claims: Any) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize("header", [
    None,
    "",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    f"Bearer {unsigned_token(iss='https://api.botframework.com', aud=APP_ID, serviceurl='http://x/')}",
    "Bearer not.a.jwt",
])
async def test_with_an_app_id_an_unsigned_request_gets_401_and_stores_nothing(
        database: str, clock: FakeClock, header: str | None) -> None:
    world = await TeamsWorld(clock, database, app_id=APP_ID, app_password="secret").start()
    try:
        headers = {"Authorization": header} if header is not None else {}
        assert await world.post(world.activity("channel_message_top_level"), headers=headers) == 401
        assert await world.post(world.activity("personal_chat_command"), headers=headers) == 401
        assert await stored() == (0, 0, 0, 0)
        assert world.connector.calls == []
        assert await world.post(b"{broken") == 400  # malformed stays a 400 in JWT mode too
    finally:
        await world.close()


async def test_429_is_retried_after_the_retry_after_delay(world: TeamsWorld) -> None:
    world.connector.fail(429, times=1, retry_after=7)
    assert await world.post(world.activity("channel_message_top_level")) == 200
    await world.deliver()
    first = world.connector.calls[0]
    assert (first.status, first.conversation) == (429, THREAD)
    assert not world.connector.posts(THREAD)  # one attempt, no hidden HTTP-level retries
    [row] = [r for r in await OutboxMessage.filter(ticket_key="ACME-1") if r.destination.get("thread")]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == world.clock.now() + timedelta(seconds=7)

    world.clock.advance(seconds=6)
    assert await world.deliver() == 0
    world.clock.advance(seconds=1)
    assert await world.deliver() == 1
    [ack] = world.connector.posts(THREAD)
    assert "ACME-1" in ack.body["text"]
    assert (await OutboxMessage.get(id=row.id)).status == "sent"


async def test_5xx_is_retried_with_backoff_and_4xx_fails_for_good(world: TeamsWorld) -> None:
    world.connector.fail(503, times=2)
    assert await world.post(world.activity("channel_message_top_level")) == 200
    await world.deliver()
    assert [c.status for c in world.connector.calls[:2]] == [503, 503]
    failed = await OutboxMessage.filter(status="pending").count()
    assert failed == 2
    world.clock.advance(minutes=1)
    await world.deliver()
    assert await OutboxMessage.filter(status="pending").count() == 0
    assert world.connector.posts(THREAD)

    world.connector.take()
    reply = world.message("channel_reply_in_thread", "<at>Helpdesk</at> reply ACME-1 We are on it",
                          entities=world.activity("mention_command")["entities"])
    assert await world.post(reply) == 200
    world.connector.fail(403, times=1)
    await world.deliver()
    rejected = await OutboxMessage.filter(status="failed")
    assert len(rejected) == 1 and "HTTP 403" in (rejected[0].last_error or "")
    world.clock.advance(hours=1)
    calls = len(world.connector.calls)
    await world.deliver()
    assert len(world.connector.calls) == calls  # permanent: not tried again


async def test_a_failed_in_turn_answer_is_queued_for_the_outbox(world: TeamsWorld) -> None:
    world.connector.fail(503, times=1)
    assert await world.post(world.activity("personal_chat_command")) == 200
    assert [c.status for c in world.connector.calls] == [503]
    [row] = await OutboxMessage.all()
    assert (row.status, row.destination["user"]) == ("pending", "29:olli")
    await world.deliver()
    [answer] = world.connector.posts("a:1olli-personal-Xk3vQ9pLm2Rt7Yw4Zb8Nc6Hd1Fg5Js0")
    assert "no ticket ACME-1" in answer.body["text"]


async def test_a_direct_message_waits_until_a_service_url_is_known(world: TeamsWorld) -> None:
    from bot.types import Destination, Platform, Reply
    from storage import outbox

    await outbox.enqueue(Destination(Platform.TEAMS, "", user="29:olli"), Reply("hello", internal=True),
                         world.clock.now())
    await world.deliver()
    row = await OutboxMessage.get()
    assert row.status == "pending" and "no serviceUrl" in (row.last_error or "")
    assert world.connector.calls == []
    assert await world.post(world.activity("conversation_update_installed")) == 200
    world.clock.advance(minutes=5)
    await world.deliver()
    assert (await OutboxMessage.get(id=row.id)).status == "sent"
    [created] = world.connector.created()
    assert created.body["members"] == [{"id": "29:olli"}]


JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x" * 300, "<at>", [], [None], [{}], {}, {"id": None}, {"id": 7},
                   {"type": "mention"}, "19:acme@thread.tacv2;messageid=", "\u0000", "ftp://x/"]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, (*prefix, i))
    return found


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    import copy

    out = copy.deepcopy(doc)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


async def test_no_mutation_of_a_recorded_activity_makes_the_server_fail(world: TeamsWorld) -> None:
    import random

    rng = random.Random(20261123)
    names = ["channel_message_top_level", "channel_reply_in_thread", "mention_command", "personal_chat_command",
             "adaptive_card_submit", "conversation_update_installed", "installation_update", "message_update"]
    failures = []
    for n in range(160):
        base = world.activity(rng.choice(names), id=f"fuzz-{n}")
        path = rng.choice([p for p in paths(base) if p[0] != "serviceUrl" or rng.random() < 0.2])
        junk = rng.choice(JUNK)
        status = await world.post(replaced(base, path, junk))
        if status >= 500:
            failures.append((path, junk if not isinstance(junk, str) else junk[:20], status))
    assert failures == []
    assert await world.post(world.activity("channel_message_top_level")) == 200
