"""Outbox delivery: the customer's posts first, destinations concurrently, each in order, and a
worker that lost its lease never hands back a row another worker holds."""

from __future__ import annotations

import asyncio

from bot.clock import FakeClock
from bot.types import Audience, Destination, Platform, Reply
from storage import outbox
from storage.models import OutboxMessage

THREAD = Destination(Platform.SLACK, "T0HOME", "C0ACME", "1795417201.000100", customer_visible=True)
TRIAGE = Destination(Platform.SLACK, "T0HOME", "C0TRIAGE")
DM = Destination(Platform.SLACK, "", user="U0OLLI")


class SlowSender:
    """Each post takes `seconds`; records when each began and ended, per destination."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.log: list[tuple[str, str, str]] = []  # (event, destination, text)

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        where = destination.channel or destination.user or ""
        self.log.append(("begin", where, reply.text))
        await asyncio.sleep(self.seconds)
        self.log.append(("end", where, reply.text))
        return f"1795420000.{len(self.log):06d}"


async def queue(destination: Destination, text: str, clock: FakeClock) -> None:
    audience = Audience.THREAD if destination.customer_visible else Audience.TRIAGE
    await outbox.enqueue(destination, Reply(text, audience=audience, internal=not destination.customer_visible),
                         clock.now())


async def test_destinations_go_out_concurrently_each_in_order(database: str, clock: FakeClock) -> None:
    for i in range(3):
        await queue(TRIAGE, f"triage {i}", clock)
        await queue(DM, f"dm {i}", clock)
    sender = SlowSender(0.05)
    assert await outbox.deliver_due({"slack": sender}, clock.now()) == 6
    per = {w: [t for e, d, t in sender.log if e == "begin" and d == w] for w in ("C0TRIAGE", "U0OLLI")}
    assert per == {"C0TRIAGE": ["triage 0", "triage 1", "triage 2"], "U0OLLI": ["dm 0", "dm 1", "dm 2"]}
    # The two destinations overlap: the second began before the first one's first post ended.
    assert [e for e, _, _ in sender.log[:2]] == ["begin", "begin"]
    # Within a destination a post begins only after the one before it ended.
    for where in per:
        events = [e for e, d, _ in sender.log if d == where]
        assert events == ["begin", "end"] * 3


async def test_the_customers_post_is_claimed_before_earlier_internal_ones(database: str, clock: FakeClock) -> None:
    for i in range(4):
        await queue(TRIAGE, f"triage {i}", clock)
    await queue(THREAD, "Thanks, this is ACME-1", clock)
    sender = SlowSender(0.0)
    assert await outbox.deliver_due({"slack": sender}, clock.now(), limit=1) == 1
    assert sender.log[0] == ("begin", "C0ACME", "Thanks, this is ACME-1")


async def test_a_release_after_the_lease_ran_out_leaves_the_new_holders_row_alone(
        database: str, clock: FakeClock) -> None:
    await queue(TRIAGE, "triage 0", clock)
    first = await outbox._claim(["slack"], clock.now(), 10)
    clock.advance(seconds=outbox.LEASE.total_seconds() + 1)  # the first worker was held up past its lease
    second = await outbox._claim(["slack"], clock.now(), 10)
    assert [r.id for r in second] == [r.id for r in first]
    await outbox._release(first, clock.now())  # the first worker wakes up and hands it back: too late
    row = await OutboxMessage.get(id=first[0].id)
    assert row.attempts == 2 and row.next_attempt_at == second[0].next_attempt_at
    assert await outbox._claim(["slack"], clock.now(), 10) == []  # nobody else may take it meanwhile
    await outbox._release(second, clock.now())  # its holder can still hand it back
    row = await OutboxMessage.get(id=first[0].id)
    assert row.attempts == 1 and row.next_attempt_at == clock.now()


async def test_the_worker_delivers_a_later_post_while_a_slow_lane_is_busy(database: str, clock: FakeClock) -> None:
    for i in range(5):
        await queue(TRIAGE, f"triage {i}", clock)
    sender = SlowSender(0.1)
    stop, wake = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(outbox.run_worker({"slack": sender}, clock, stop, interval=0.05, wake=wake))
    await asyncio.sleep(0.15)  # the triage lane is on its second post
    await queue(THREAD, "Thanks, this is ACME-9", clock)
    wake.set()
    for _ in range(100):
        if ("end", "C0ACME", "Thanks, this is ACME-9") in sender.log:
            break
        await asyncio.sleep(0.02)
    triage_done = sum(1 for e, d, _ in sender.log if e == "end" and d == "C0TRIAGE")
    assert ("end", "C0ACME", "Thanks, this is ACME-9") in sender.log and triage_done < 5
    stop.set()
    await asyncio.wait_for(worker, timeout=5)
    assert await OutboxMessage.filter(status="pending", attempts__gt=0).count() == 0  # handed back or sent


async def test_a_claim_marks_the_posts_delivered_since_the_last_one_sent(database: str, clock: FakeClock) -> None:
    await queue(TRIAGE, "triage 0", clock)
    delivered = await outbox._claim(["slack"], clock.now(), 10)
    await queue(DM, "dm 0", clock)
    for row in delivered:  # as _deliver leaves a row it posted
        row.attempts, row.status, row.sent_at, row.platform_message_id = 1, "sent", clock.now(), "1795420000.000001"
    claimed = await outbox._claim(["slack"], clock.now(), 10, sent=delivered)
    assert [r.payload["text"] for r in claimed] == ["dm 0"]
    row = await OutboxMessage.get(id=delivered[0].id)
    assert (row.status, row.platform_message_id) == ("sent", "1795420000.000001")


async def test_marks_a_failed_claim_took_are_written_later(database: str, clock: FakeClock) -> None:
    await queue(TRIAGE, "triage 0", clock)
    [row] = await outbox._claim(["slack"], clock.now(), 10)
    row.attempts, row.status, row.sent_at, row.platform_message_id = 1, "sent", clock.now(), "1795420000.000002"
    marks = outbox.SentMarks()
    marks.add(row)
    taken = marks.take()
    assert taken == [row] and marks.take() == []
    marks.give_back(taken)  # the claim that took them failed
    await marks.flush()
    assert (await OutboxMessage.get(id=row.id)).status == "sent"
