"""The transactional outbox: posts are rows first, deliveries second.

A handler's replies are written in the same transaction as the change they report,
so a crash never loses one; a worker delivers due rows through a per-platform
sender, retrying 429/5xx with backoff and honouring Retry-After.

Claiming a row counts an attempt and leases the row. A row claimed before may
already be in the chat: its worker died after posting and before marking it sent,
or the platform posted it and the answer was lost. Before such a row is posted
again, a sender that can read the chat back is asked whether the earlier attempt got
through: `find_posted(destination, reply, since)` gives the message id of a post tagged
with `reply.dedupe` made since about `since`, or None, and raises DeliveryError when the
chat cannot be read now. If it did get through, the row is marked sent with that message.
Every post carries a key for that check: its dedupe key, or `outbox:<row id>`.
A worker calls the platform for a row only while it holds the lease: rows not begun
by half the lease are handed back, and a call that would outlast three quarters of
it is abandoned (and read back on the next attempt), so two workers never post one
row at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.types import Destination, Reply
from storage.models import OutboxMessage, Ticket
from storage.retry import backoff

log = logging.getLogger("chatdesk.outbox")

LEASE = timedelta(seconds=60)  # a claimed row is retried after this if its worker died
MAX_ATTEMPTS = 12
BATCH = 50
T = TypeVar("T")


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


async def _claim(platforms: list[str], now: datetime, limit: int) -> list[OutboxMessage]:
    """Lease due rows to this worker; each claim counts as an attempt, so a row whose worker
    died mid-delivery comes back with attempts > 0 and is checked before it is posted again."""
    async with in_transaction() as conn:
        query = (OutboxMessage.filter(status="pending", platform__in=platforms, next_attempt_at__lte=now)
                 .order_by("id").limit(limit))
        if conn.capabilities.dialect == "postgres":
            query = query.select_for_update(skip_locked=True)
        rows = await query.using_db(conn)
        if rows:
            await OutboxMessage.filter(id__in=[r.id for r in rows]).using_db(conn).update(
                next_attempt_at=now + LEASE, attempts=F("attempts") + 1
            )
    return rows


async def _release(rows: list[OutboxMessage], now: datetime) -> None:
    """Hand back claimed rows that were not tried, before their lease runs out."""
    await OutboxMessage.filter(id__in=[r.id for r in rows], status="pending").update(
        next_attempt_at=now, attempts=F("attempts") - 1
    )


async def deliver_due(senders: Mapping[str, Sender], now: datetime, limit: int = BATCH) -> int:
    """Deliver what is due now; returns how many posts went out."""
    if not senders:
        return 0
    lease_ends = time.monotonic() + LEASE.total_seconds()  # counted from before the claim, as the lease is
    rows = await _claim(list(senders), now, limit)
    sent = 0
    for i, row in enumerate(rows):
        if lease_ends - time.monotonic() < LEASE.total_seconds() / 2:
            # A slow platform: the rest would be posted after their lease ran out, when another
            # worker may have claimed them too. Give them back; they are due again at once.
            log.warning("outbox: delivering a batch took over half the lease; %s rows handed back", len(rows) - i)
            await _release(rows[i:], now)
            break
        if await _deliver(row, senders[row.platform], now, lease_ends):
            sent += 1
    return sent


async def _within_lease(call: Callable[[], Awaitable[T]], lease_ends: float) -> T:
    """Make a platform call only while this worker holds the row. Once the lease runs out another
    worker may take the row, so a call that would end after three quarters of it is abandoned
    (a DeliveryError: the next attempt reads back whether it got through)."""
    left = lease_ends - time.monotonic() - LEASE.total_seconds() / 4
    if left <= 0:
        raise DeliveryError("the outbox lease ran out before the call was made")
    try:
        return await asyncio.wait_for(call(), timeout=left)
    except TimeoutError:
        raise DeliveryError(f"no answer within the outbox lease ({left:.1f} s); it may have been posted") from None


async def _deliver(row: OutboxMessage, sender: Sender, now: datetime, lease_ends: float) -> bool:
    destination = Destination.from_json(row.destination)
    reply = Reply.from_json(row.payload)
    if not reply.dedupe:
        reply = replace(reply, dedupe=f"outbox:{row.id}")  # the key an earlier attempt's post is found by
    claimed_before = row.attempts > 0
    row.attempts += 1  # as _claim counted it in the database
    try:
        message_id = None
        if claimed_before:
            message_id = await _within_lease(lambda: _posted_before(row, sender, destination, reply), lease_ends)
        if message_id is None:
            message_id = await _within_lease(lambda: sender.send(destination, reply), lease_ends)
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


async def _posted_before(row: OutboxMessage, sender: Sender, destination: Destination, reply: Reply) -> str | None:
    """The message an earlier attempt of this row already posted, if the sender can find one."""
    find = getattr(sender, "find_posted", None)
    if find is None:
        return None
    message_id: str | None = await find(destination, reply, row.created_at)
    if message_id is not None:
        log.info("outbox %s: an earlier attempt already posted it (%s); not posting again", row.id, message_id,
                 extra={"outbox_id": row.id, "ticket": row.ticket_key})
    return message_id


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
