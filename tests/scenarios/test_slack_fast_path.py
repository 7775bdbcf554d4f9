"""Message events skip bolt's dispatch once bolt has answered one: the same checks, the same
message handed to the desk, the same answers to Slack."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.types import IncomingMessage, Outcome
from storage.models import Message
from tests.scenarios.slack_harness import SlackWorld, slack_world, with_event

MESSAGE_FIXTURES = ("message_in_shared_channel.json", "thread_reply.json", "agent_reply_in_thread.json",
                    "file_share.json", "file_share_connect_stub.json", "message_changed.json",
                    "message_changed_tombstone.json", "message_deleted.json", "bot_message.json",
                    "channel_join.json")


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


def _record(slack: SlackWorld) -> tuple[list[IncomingMessage], list[str]]:
    """What the desk is handed, and which way each request went (bolt or the fast path)."""
    handed: list[IncomingMessage] = []
    ways: list[str] = []
    adapter = slack.adapter
    accept, dispatch, fast = adapter.desk.accept_message, adapter.bolt.async_dispatch, adapter._message_event

    async def accept_message(msg: IncomingMessage) -> Outcome:
        handed.append(msg)
        return await accept(msg)

    async def bolt(request: Any) -> Any:
        ways.append("bolt")
        return await dispatch(request)

    async def message_event(body: str, headers: Any) -> Any:
        answered = await fast(body, headers)
        if answered is not None:
            ways.append("fast")
        return answered

    adapter.desk.accept_message = accept_message
    adapter.bolt.async_dispatch = bolt
    adapter._message_event = message_event
    return handed, ways


async def test_the_first_message_goes_through_bolt_and_the_next_ones_do_not(slack: SlackWorld) -> None:
    handed, ways = _record(slack)
    assert slack.adapter.bot_user is None
    first = slack.fixture("message_in_shared_channel.json")
    assert (await slack.http.event(first)).status == 200
    assert slack.adapter.bot_user == "U0BOT"  # learnt from bolt's auth.test
    assert (await slack.http.event(slack.fixture("thread_reply.json"))).status == 200
    assert ways == ["bolt", "fast"]
    assert len(handed) == 2 and await Message.all().count() == 2
    assert (await slack.http.event(slack.fixture("reaction_added.json"))).status == 200  # not a message: bolt
    assert ways == ["bolt", "fast", "bolt"]


async def test_every_recorded_message_event_is_handed_to_the_desk_as_bolt_hands_it(slack: SlackWorld) -> None:
    handed, ways = _record(slack)
    for n, name in enumerate(MESSAGE_FIXTURES):
        payload = slack.fixture(name)
        slack.adapter.bot_user = None  # through bolt
        through_bolt = await slack.http.event(with_event(payload, event_id=f"EvBOLT{n}"))
        by_bolt = handed[:]
        handed.clear()
        assert slack.adapter.bot_user == "U0BOT"
        fast = await slack.http.event(with_event(payload, event_id=f"EvFAST{n}"))
        assert ways[-2:] == ["bolt", "fast"], name
        assert (fast.status, fast.text) == (through_bolt.status, through_bolt.text), name
        assert [m.event_id for m in handed] == [f"EvFAST{n}"] * len(by_bolt), name
        assert [_without_event_id(m) for m in handed] == [_without_event_id(m) for m in by_bolt], name
        handed.clear()


def _without_event_id(msg: IncomingMessage) -> dict[str, Any]:
    fields = dict(vars(msg))
    fields.pop("event_id")
    return fields


async def test_unsigned_stale_and_wrongly_signed_messages_are_refused_as_bolt_refuses_them(
        slack: SlackWorld) -> None:
    handed, ways = _record(slack)
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    handed.clear()
    payload = with_event(slack.fixture("thread_reply.json"), event_id="EvATTACK", text="<!here> send me the logs")
    stale = await slack.http.event(payload, timestamp=int(time.time()) - 301)
    wrong = await slack.http.event(payload, secret="not-the-signing-secret")
    unsigned = await slack.http.event(payload, headers={"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""})
    odd = await slack.http.event(payload, headers={"X-Slack-Request-Timestamp": "soon"})
    assert [r.status for r in (stale, wrong, unsigned, odd)] == [401, 401, 401, 401]
    assert handed == [] and "fast" not in ways
    assert await Message.all().count() == 1


async def test_a_failure_storing_the_message_is_a_500_either_way_so_slack_retries(slack: SlackWorld) -> None:
    _record(slack)
    first = slack.fixture("message_in_shared_channel.json")
    assert (await slack.http.event(first)).status == 200

    async def broken(msg: IncomingMessage) -> Outcome:
        raise RuntimeError("the database went away")

    slack.adapter.desk.accept_message = broken
    slack.adapter.bot_user = None
    through_bolt = await slack.http.event(with_event(first, event_id="EvBROKEN1"))
    fast = await slack.http.event(with_event(first, event_id="EvBROKEN2"))
    assert through_bolt.status == fast.status == 500
