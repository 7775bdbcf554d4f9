"""Slack's side of the Events API under load: signed message events, retried as Slack does.

Slack waits 3 seconds for an answer; after a timeout, a refused connection or a 5xx it
retries the same event (same event_id, X-Slack-Retry-Num 1..3, X-Slack-Retry-Reason) and
then gives up. Here the retries come after 0.5, 1 and 2 seconds instead of Slack's minutes.
Some events are also delivered twice at once on purpose (a retry that overtakes a slow
original). Each event remembers whether any delivery got a 2xx: an acknowledged event is one
Slack considers delivered, and chatdesk must have stored it exactly once.

The load is new top-level messages in the two customers' channels (each a new ticket) and
replies in the threads of earlier ones (each a ticket message); a reply is sent only after its
thread's first message was acknowledged, as a customer can only reply to a message they see.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.scenarios.slack_harness import load, sign

CHANNELS = (("C0ACME", "T0ACME", "U0ACMECUST"), ("C0GLOBEX", "T0GLOBEX", "U0GLOBEXCUST"))
TIMEOUT = 3.0  # Slack's patience with an answer
RETRY_DELAYS = (0.5, 1.0, 2.0)  # before retry 1, 2 and 3


@dataclass
class Event:
    event_id: str
    channel: str
    team: str
    user: str
    ts: str
    thread_ts: str | None  # set for a reply in a thread
    text: str
    body: bytes = b""
    acked: bool = False
    deliveries: int = 0
    history: list[str] = field(default_factory=list)  # "t+0.12s retry 0: 200" per delivery
    parent: Event | None = None
    replies: list[Event] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None


def make_events(n: int, reply_share: float = 0.2, seed: int = 9) -> list[Event]:
    """`n` messages: top-level ones alternating between the channels, and replies to them."""
    rng = random.Random(seed)
    template = load("message_in_shared_channel.json")
    base = int(time.time()) - 60
    run = uuid.uuid4().hex[:6]
    tops: list[Event] = []
    events: list[Event] = []
    for i in range(n):
        reply = tops and rng.random() < reply_share
        parent = rng.choice(tops) if reply else None
        channel, team, user = (parent.channel, parent.team, parent.user) if parent else CHANNELS[len(tops) % 2]
        ts = f"{base}.{i:06d}"
        event = Event(f"Ev{run}{i:06d}", channel, team, user, ts, parent.ts if parent else None,
                      f"Fault-load message {i}: the printer on floor {i % 7} is offline", parent=parent)
        payload = copy.deepcopy(template)
        payload["event_id"] = event.event_id
        payload["event_time"] = base
        payload["event"].update(ts=ts, event_ts=ts, text=event.text, client_msg_id=str(uuid.uuid4()),
                                channel=channel, team=team, user_team=team, source_team=team, user=user)
        payload["event"].pop("blocks", None)
        if parent:
            payload["event"].update(thread_ts=parent.ts, parent_user_id=parent.user)
            parent.replies.append(event)
        else:
            tops.append(event)
        event.body = json.dumps(payload).encode()
        events.append(event)
    return events


@dataclass
class Stats:
    requests: int = 0  # every HTTP request sent
    retried: int = 0  # requests that carried X-Slack-Retry-Num
    duplicates_sent: int = 0  # deliberate concurrent second deliveries
    gave_up: int = 0  # events whose every delivery failed
    replies_skipped: int = 0  # replies not sent because their thread's first message was never acked
    outcomes: Counter[str] = field(default_factory=Counter)


class SlackDelivery:
    """Delivers events to /slack/events from `concurrency` connections, as Slack would."""

    def __init__(self, url: str, secret: str, *, concurrency: int = 16, duplicate_share: float = 0.1,
                 rate: float | None = None, seed: int = 11) -> None:
        self.url = url
        self.secret = secret
        self.concurrency = concurrency
        self.duplicate_share = duplicate_share
        self.rate = rate  # events a second at most (first deliveries), None for as fast as it goes
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.done = 0  # events finished (acked or given up)
        self._started = 0.0
        self._issued = 0
        self.finished_at = 0.0  # seconds into the run when the last event was done

    async def _pace(self) -> None:
        if self.rate:
            slot = self._started + self._issued / self.rate
            self._issued += 1
            await asyncio.sleep(max(0.0, slot - time.monotonic()))

    async def run(self, events: list[Event]) -> Stats:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        waiting = [e for e in events if not e.is_reply]
        for e in waiting:
            queue.put_nowait(e)
        remaining = len(events)
        finished = asyncio.Event()
        self._started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        # A connection per request, as from many Slack servers: the kernel spreads them over the workers.
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            def finish(event: Event, count: int = 1) -> None:
                nonlocal remaining
                remaining -= count
                self.done += count
                if remaining <= 0:
                    finished.set()

            async def worker() -> None:
                while not finished.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=0.2)
                    except TimeoutError:
                        continue
                    await self._pace()
                    await self.deliver(session, event)
                    finish(event)
                    for reply in event.replies:
                        if event.acked:
                            queue.put_nowait(reply)
                        else:
                            self.stats.replies_skipped += 1
                            finish(reply, 1 + _descendants(reply))

            if remaining:
                await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return self.stats

    async def deliver(self, session: aiohttp.ClientSession, event: Event) -> None:
        """One event: the first delivery (plus, sometimes, a concurrent duplicate), then retries."""
        if self.rng.random() < self.duplicate_share:
            self.stats.duplicates_sent += 1
            results = await asyncio.gather(self._post(session, event, 0),
                                           self._delayed(session, event, 1, self.rng.uniform(0, 0.05)))
            ok = any(results)
        else:
            ok = await self._post(session, event, 0)
        retry = 0
        while not ok and retry < len(RETRY_DELAYS):
            await asyncio.sleep(RETRY_DELAYS[retry])
            retry += 1
            ok = await self._post(session, event, retry)
        if not ok:
            self.stats.gave_up += 1
        self.finished_at = time.monotonic() - self._started

    async def _delayed(self, session: aiohttp.ClientSession, event: Event, retry: int, delay: float) -> bool:
        await asyncio.sleep(delay)
        return await self._post(session, event, retry)

    async def _post(self, session: aiohttp.ClientSession, event: Event, retry: int) -> bool:
        now = int(time.time())
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(now),
                   "X-Slack-Signature": sign(event.body.decode(), now, self.secret)}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
            self.stats.retried += 1
        self.stats.requests += 1
        event.deliveries += 1
        try:
            async with session.post(self.url, data=event.body, headers=headers) as response:
                await response.read()
                outcome = str(response.status)
                ok = 200 <= response.status < 300
        except TimeoutError:
            outcome, ok = "timeout", False
        except aiohttp.ClientError as exc:
            outcome, ok = type(exc).__name__, False
        self.stats.outcomes[outcome] += 1
        event.history.append(f"t+{time.monotonic() - self._started:.2f}s retry {retry}: {outcome}")
        if ok:
            event.acked = True
        return ok


def _descendants(event: Event) -> int:
    return sum(1 + _descendants(r) for r in event.replies)


def summary(events: list[Event]) -> dict[str, Any]:
    return {"events": len(events), "acked": sum(e.acked for e in events),
            "top_level": sum(not e.is_reply for e in events), "replies": sum(e.is_reply for e in events)}
