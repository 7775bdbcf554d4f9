"""The outbox's check before a second post: a row that an earlier attempt may have posted is
looked up in the chat (by the dedupe key in its message metadata) before it is posted again.

The real SlackSender talks to the fake Web API of tests/faults/fake_slack.py, which keeps
what is posted and answers conversations.replies/history with metadata as Slack does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.sender import SlackSender
from bot.clock import FakeClock
from bot.types import Audience, Destination, Platform, Reply
from storage import outbox
from storage.models import OutboxMessage
from tests.faults.fake_slack import SlackWithHistory, dm_channel
from tests.scenarios.slack_harness import BOT_TOKEN

ROOT_TS = "1795417201.000100"
THREAD = Destination(Platform.SLACK, "T0HOME", "C0ACME", ROOT_TS, customer_visible=True)
TRIAGE = Destination(Platform.SLACK, "T0HOME", "C0TRIAGE")
DM = Destination(Platform.SLACK, "", user="U0OLLI")
PLACES = {"thread": (THREAD, "conversations.replies"), "channel": (TRIAGE, "conversations.history"),
          "dm": (DM, "conversations.history")}


def ack(key: str = "ACME-1") -> Reply:
    return Reply(f"Thanks, this is *{key}*.", audience=Audience.THREAD, ticket_key=key, kind="ack",
                 dedupe=f"ack:{key}:slack:C0ACME")


def notice(key: str = "ACME-1", dedupe: str | None = "route:ACME-1:olli") -> Reply:
    return Reply(f"New ticket {key}", audience=Audience.DM, person="olli", ticket_key=key, internal=True,
                 kind="notice", dedupe=dedupe)


def reply_for(place: str) -> Reply:
    return ack() if place == "thread" else notice()


def channel_of(destination: Destination) -> str:
    return destination.channel or dm_channel(destination.user or "")


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[SlackWithHistory]:
    fake = await SlackWithHistory(now=lambda: clock.now().timestamp()).start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def sender(api: SlackWithHistory) -> SlackSender:
    return SlackSender(AsyncWebClient(token=BOT_TOKEN, base_url=api.url, timeout=5))


async def deliver(sender: SlackSender, clock: FakeClock) -> int:
    return await outbox.deliver_due({"slack": sender}, clock.now())


def posts(api: SlackWithHistory) -> list[dict]:
    return api.called("chat.postMessage")


async def queue(destination: Destination, reply: Reply, clock: FakeClock) -> OutboxMessage:
    row = await outbox.enqueue(destination, reply, clock.now())
    assert row is not None
    return row


@pytest.mark.parametrize("place", list(PLACES))
async def test_a_retried_row_already_in_the_chat_is_marked_sent_without_posting_again(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender, place: str) -> None:
    destination, read = PLACES[place]
    row = await queue(destination, reply_for(place), clock)
    # An earlier attempt posted it and died before marking it sent: attempts=1, still pending.
    first_ts = await sender.send(destination, reply_for(place))
    await OutboxMessage.filter(id=row.id).update(attempts=1)
    clock.advance(seconds=1)

    assert await deliver(sender, clock) == 1
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.platform_message_id, row.attempts) == ("sent", first_ts, 2)
    assert len(posts(api)) == 1  # the earlier post only
    assert len(api.messages(channel_of(destination))) == 1
    reads = api.called(read)
    assert reads and reads[0]["include_all_metadata"] == "1"
    assert float(reads[0]["oldest"]) < clock.now().timestamp()


async def test_a_retried_row_that_never_reached_the_chat_is_posted_once(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    row = await queue(THREAD, ack(), clock)
    await OutboxMessage.filter(id=row.id).update(attempts=1)
    assert await deliver(sender, clock) == 1
    assert len(posts(api)) == 1 and api.called("conversations.replies")
    row = await OutboxMessage.get(id=row.id)
    assert row.status == "sent"
    assert [m["ts"] for m in api.messages("C0ACME")] == [row.platform_message_id]


async def test_a_first_attempt_does_not_read_the_chat(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    await queue(THREAD, ack(), clock)
    assert await deliver(sender, clock) == 1
    assert [c.method for c in api.calls] == ["chat.postMessage"]


async def test_a_worker_killed_between_posting_and_marking_does_not_cause_a_second_post(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    """The real sequence: claim (lease), post, die; the lease runs out and another worker takes the row."""
    row = await queue(TRIAGE, notice(dedupe=None), clock)  # no dedupe key: tagged outbox:<id>
    claimed = await outbox._claim(["slack"], clock.now(), 10)
    assert [r.id for r in claimed] == [row.id]
    tagged = Reply.from_json(claimed[0].payload)
    await sender.send(TRIAGE, replace(tagged, dedupe=f"outbox:{row.id}"))  # ...and the worker is killed here

    assert await deliver(sender, clock) == 0  # leased: nobody else takes it yet
    clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    assert await deliver(sender, clock) == 1
    row = await OutboxMessage.get(id=row.id)
    assert row.status == "sent" and row.attempts == 2
    assert len(posts(api)) == 1 and len(api.messages("C0TRIAGE")) == 1
    assert api.messages("C0TRIAGE")[0]["metadata"]["event_payload"]["dedupe"] == f"outbox:{row.id}"


@pytest.mark.parametrize("fault", ["lose_answers", "drop_answers"])
async def test_a_post_whose_answer_was_lost_is_found_on_the_next_attempt(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender, fault: str) -> None:
    setattr(api, fault, 1)  # Slack posts it, then answers 503 / drops the connection
    row = await queue(THREAD, ack(), clock)
    assert await deliver(sender, clock) == 0
    assert len(api.messages("C0ACME")) == 1
    assert len(posts(api)) == 1  # no silent retry inside the Web API client
    waiting = await OutboxMessage.get(id=row.id)
    assert waiting.status == "pending" and waiting.attempts == 1
    clock.advance(minutes=1)
    assert await deliver(sender, clock) == 1
    row = await OutboxMessage.get(id=row.id)
    assert row.status == "sent" and row.platform_message_id == api.messages("C0ACME")[0]["ts"]
    assert len(posts(api)) == 1 and len(api.messages("C0ACME")) == 1


async def test_a_rate_limited_history_read_postpones_the_row_without_posting(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    row = await queue(THREAD, ack(), clock)
    await OutboxMessage.filter(id=row.id).update(attempts=1)
    api.fail("conversations.replies", status=429, retry_after=20)
    assert await deliver(sender, clock) == 0
    waiting = await OutboxMessage.get(id=row.id)
    assert waiting.status == "pending" and waiting.next_attempt_at == clock.now() + timedelta(seconds=20)
    assert "conversations.replies" in (waiting.last_error or "") and not posts(api)
    clock.advance(seconds=20)
    assert await deliver(sender, clock) == 1
    assert len(api.messages("C0ACME")) == 1


async def test_the_post_is_found_pages_back_in_a_busy_channel(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    row = await queue(TRIAGE, notice(), clock)
    await sender.send(TRIAGE, notice())
    for i in range(450):  # others posted after it: history is newest first, 200 a page
        await sender.send(TRIAGE, notice(f"ACME-{i + 2}", dedupe=f"route:ACME-{i + 2}:olli"))
    await OutboxMessage.filter(id=row.id).update(attempts=1)
    assert await deliver(sender, clock) == 1
    assert len(api.called("conversations.history")) == 3
    assert len(posts(api)) == 451


async def test_history_that_cannot_be_read_at_all_falls_back_to_posting(
        any_database: str, clock: FakeClock, api: SlackWithHistory, sender: SlackSender) -> None:
    row = await queue(DM, notice(), clock)
    await OutboxMessage.filter(id=row.id).update(attempts=1)
    api.fail("conversations.history", status=200, error="missing_scope")
    assert await deliver(sender, clock) == 1  # at least once: a notice is never lost to a missing scope
    assert len(posts(api)) == 1


class Slow:
    """A sender whose every post takes `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        await asyncio.sleep(self.seconds)
        self.sent.append(reply.text)
        return f"1795420000.{len(self.sent):06d}"


async def test_a_batch_slower_than_half_the_lease_hands_the_rest_back(
        any_database: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=0.4))
    for i in range(3):
        await queue(TRIAGE, notice(f"ACME-{i + 1}", dedupe=f"n{i}"), clock)
    slow = Slow(0.12)
    assert await outbox.deliver_due({"slack": slow}, clock.now()) == 2
    rest = await OutboxMessage.filter(status="pending")
    assert len(rest) == 1 and rest[0].attempts == 0 and rest[0].next_attempt_at == clock.now()
    assert await outbox.deliver_due({"slack": slow}, clock.now()) == 1
    assert slow.sent == ["New ticket ACME-1", "New ticket ACME-2", "New ticket ACME-3"]


async def test_a_post_that_would_outlast_the_lease_is_abandoned_and_read_back_later(
        any_database: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=0.4))
    row = await queue(TRIAGE, notice(), clock)
    assert await outbox.deliver_due({"slack": Slow(1.0)}, clock.now()) == 0
    row = await OutboxMessage.get(id=row.id)
    assert row.status == "pending" and row.attempts == 1 and "within the outbox lease" in (row.last_error or "")
