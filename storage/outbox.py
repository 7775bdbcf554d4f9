"""The transactional outbox: posts are rows first, deliveries second.

A handler's replies are written in the same transaction as the change they report,
so a crash never loses one; a worker delivers due rows through a per-platform
sender, retrying 429/5xx with backoff and honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.types import Destination, Reply
from storage.models import OutboxMessage, Ticket

log = logging.getLogger("chatdesk.outbox")

LEASE = timedelta(seconds=60)  # a claimed row is retried after this if its worker died
MAX_ATTEMPTS = 12
BATCH = 50


class DeliveryError(Exception):
    """A failed post. `retry_after` (seconds) comes from the platform; permanent ones are not retried."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, destination: Destination, reply: Reply) -> str | None:
        """Post and return the platform's message id (or None); raise DeliveryError on failure."""


async def enqueue(destination: Destination, reply: Reply, now: datetime) -> OutboxMessage | None:
    """Queue a post; with a dedupe key an identical notice already queued is not queued again."""
    if reply.dedupe and await OutboxMessage.filter(dedupe_key=reply.dedupe).exists():
        return None
    try:
        return await OutboxMessage.create(
            platform=destination.platform.value, destination=destination.to_json(), payload=reply.to_json(),
            dedupe_key=reply.dedupe, status="pending", next_attempt_at=now, ticket_key=reply.ticket_key,
            created_at=now,
        )
    except IntegrityError:
        return None


def backoff(attempts: int) -> float:
    """Exponential with jitter: 1, 2, 4 ... seconds, at most 10 minutes."""
    base = min(600.0, 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


async def _claim(platforms: list[str], now: datetime, limit: int) -> list[OutboxMessage]:
    async with in_transaction() as conn:
        query = (OutboxMessage.filter(status="pending", platform__in=platforms, next_attempt_at__lte=now)
                 .order_by("id").limit(limit))
        if conn.capabilities.dialect == "postgres":
            query = query.select_for_update(skip_locked=True)
        rows = await query.using_db(conn)
        if rows:
            await OutboxMessage.filter(id__in=[r.id for r in rows]).using_db(conn).update(
                next_attempt_at=now + LEASE
            )
    return rows


async def deliver_due(senders: Mapping[str, Sender], now: datetime, limit: int = BATCH) -> int:
    """Deliver what is due now; returns how many posts went out."""
    if not senders:
        return 0
    rows = await _claim(list(senders), now, limit)
    sent = 0
    for row in rows:
        if await _deliver(row, senders[row.platform], now):
            sent += 1
    return sent


async def _deliver(row: OutboxMessage, sender: Sender, now: datetime) -> bool:
    destination = Destination.from_json(row.destination)
    reply = Reply.from_json(row.payload)
    row.attempts += 1
    try:
        message_id = await sender.send(destination, reply)
    except DeliveryError as exc:
        row.last_error = str(exc)[:2000]
        if exc.permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            log.error("outbox %s failed for good after %s attempts: %s", row.id, row.attempts, exc)
        else:
            delay = exc.retry_after if exc.retry_after is not None else backoff(row.attempts)
            row.next_attempt_at = now + timedelta(seconds=delay)
        await row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return False
    except Exception as exc:  # a sender bug must not stop the worker; the row is retried later
        log.exception("outbox %s: unexpected error", row.id)
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts))
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        await row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return False
    row.status = "sent"
    row.sent_at = now
    row.platform_message_id = message_id
    await row.save(update_fields=["attempts", "status", "sent_at", "platform_message_id"])
    if reply.kind == "thread_root" and reply.ticket_key and message_id:
        # A ticket opened by command gets its thread when the bot's first post lands.
        await Ticket.filter(key=reply.ticket_key, thread__isnull=True).update(thread=message_id)
    return True


async def lag_seconds(now: datetime) -> float:
    """Age of the oldest undelivered post that is due: the health check's outbox lag."""
    oldest = await OutboxMessage.filter(status="pending").order_by("created_at").first()
    return max(0.0, (now - oldest.created_at).total_seconds()) if oldest else 0.0


async def run_worker(senders: Mapping[str, Sender], clock: object, stop: asyncio.Event, interval: float = 0.5,
                     wake: asyncio.Event | None = None) -> None:
    """Deliver until `stop` is set; `wake` lets a handler skip the wait after queueing."""
    while not stop.is_set():
        try:
            while await deliver_due(senders, clock.now()):  # type: ignore[attr-defined]
                pass
        except Exception:
            log.exception("outbox sweep failed; retrying")
        waiter = wake or asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout=interval)
        if wake is not None:
            wake.clear()
