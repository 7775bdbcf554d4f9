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

Posts the customer sees (their acknowledgement first of all) are claimed before internal
notices, and posts to different destinations go out concurrently, one lane per destination,
so a busy triage channel never holds up a customer's thread. Within a lane rows go in id
order, so one destination's posts keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.types import Destination, Reply, adapter
from storage.db import param
from storage.models import OutboxMessage, Ticket
from storage.retry import backoff
from storage.sqlite_engine import ImmediateSqliteClient

log = logging.getLogger("chatdesk.outbox")

LEASE = timedelta(seconds=60)  # a claimed row is retried after this if its worker died
MAX_ATTEMPTS = 12
BATCH = 50
IN_FLIGHT = 100  # rows a worker holds at once, across all its lanes
REFILL = 25  # free slots a finished post waits for before it claims more (each claim is a write)
CLAIM_GAP = 0.05  # seconds between claims while they find rows; after an empty one the next is at once
CUSTOMER_FIRST, INTERNAL = 0, 1  # claim priorities
MARK_DELAY = 0.1  # seconds a delivered row waits for others to be marked sent with it
INTERNAL_WHILE_BUSY = 1.0  # while messages pour in, internal notices are claimed once in this many seconds
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
            created_at=now, priority=CUSTOMER_FIRST if destination.customer_visible else INTERNAL,
        )
    except IntegrityError:
        return None


ENQUEUE_COLUMNS = ("platform", "destination", "payload", "dedupe_key", "status", "attempts", "next_attempt_at",
                   "ticket_key", "created_at", "priority")  # in the order enqueue_many writes a row's values


async def enqueue_many(posts: list[tuple[Destination, Reply]], now: datetime) -> int:
    """Queue several posts in one statement; a post whose dedupe key is queued already (before, or
    earlier in `posts`) is left out. Returns how many were queued."""
    if not posts:
        return 0
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    fields_map = OutboxMessage._meta.fields_map
    at = fields_map["next_attempt_at"].to_db_value(now, OutboxMessage)  # the same for every row
    values: list[object] = []
    destinations, replies = adapter(Destination), adapter(Reply)
    for destination, reply in posts:
        # The JSON columns' text straight from the serialiser: the ORM would encode a dict of it
        # again, or decode a text to check it (a third of the cost of queueing a ticket's posts).
        values += (destination.platform.value, destinations.dump_json(destination).decode(),
                   replies.dump_json(reply).decode(), reply.dedupe, "pending", 0, at, reply.ticket_key, at,
                   CUSTOMER_FIRST if destination.customer_visible else INTERNAL)
    return len(await conn.execute_query_dict(_enqueue_sql(len(posts), postgres), values))


@functools.lru_cache(maxsize=64)
def _enqueue_sql(rows: int, postgres: bool) -> str:
    """The INSERT of `rows` posts, written once per row count."""
    width = len(ENQUEUE_COLUMNS)
    groups = ["(" + ",".join(param(n, postgres) for n in range(start + 1, start + width + 1)) + ")"
              for start in range(0, rows * width, width)]
    columns = ",".join(f'"{c}"' for c in ENQUEUE_COLUMNS)
    return (f'INSERT INTO "outbox" ({columns}) VALUES {",".join(groups)} '
            'ON CONFLICT ("dedupe_key") DO NOTHING RETURNING "id"')


async def _claim(platforms: list[str], now: datetime, limit: int, customer_only: bool = False,
                 sent: Sequence[OutboxMessage] = ()) -> list[OutboxMessage]:
    """Lease due rows to this worker; each claim counts as an attempt, so a row whose worker
    died mid-delivery comes back with attempts > 0 and is checked before it is posted again.
    Rows delivered since the last claim (`sent`) are marked sent in the same transaction."""
    if not platforms:
        return []
    client = connections.get("default")
    if isinstance(client, ImmediateSqliteClient):
        return await _claim_in_one_go(client, platforms, now, limit, customer_only, sent)
    async with in_transaction() as conn:
        if sent:
            await _write_marks(conn, sent)
        query = (OutboxMessage.filter(status="pending", platform__in=platforms, next_attempt_at__lte=now)
                 .order_by("priority", "id").limit(limit))
        if customer_only:
            query = query.filter(priority=CUSTOMER_FIRST)
        if conn.capabilities.dialect == "postgres":
            query = query.select_for_update(skip_locked=True)
        rows = await query.using_db(conn)
        if rows:
            await OutboxMessage.filter(id__in=[r.id for r in rows]).using_db(conn).update(
                next_attempt_at=now + LEASE, attempts=F("attempts") + 1
            )
            for row in rows:
                row.next_attempt_at = now + LEASE  # the lease: _release hands back only rows still under it
    return rows


async def _claim_in_one_go(client: ImmediateSqliteClient, platforms: list[str], now: datetime, limit: int,
                           customer_only: bool, sent: Sequence[OutboxMessage]) -> list[OutboxMessage]:
    """_claim on SQLite as a single UPDATE ... RETURNING, with the marks, in one write transaction
    run by the connection's thread (storage.sqlite_engine.write_in_turn)."""
    when = OutboxMessage._meta.fields_map["next_attempt_at"]
    lease = when.to_db_value(now + LEASE, OutboxMessage)
    due = when.to_db_value(now, OutboxMessage)
    only = ' AND "priority" = ?' if customer_only else ""
    kinds = ",".join("?" * len(platforms))
    sql = (f'UPDATE "outbox" SET "next_attempt_at" = ?, "attempts" = "attempts" + 1 WHERE "id" IN ('
           f'SELECT "id" FROM "outbox" WHERE "status" = \'pending\' AND "platform" IN ({kinds})'
           f' AND "next_attempt_at" <= ?{only} ORDER BY "priority", "id" LIMIT ?) RETURNING *')
    values = [lease, *platforms, due, *([CUSTOMER_FIRST] if customer_only else []), limit]
    marks = _mark_values(sent)

    def work(raw: sqlite3.Connection) -> list[sqlite3.Row]:
        if marks:
            raw.executemany(MARK_SENT_SQLITE, marks)
        return raw.execute(sql, values).fetchall()

    rows = [OutboxMessage._init_from_db(**dict(r)) for r in await client.write_in_turn(work)]
    for row in rows:
        row.attempts -= 1  # as read before the claim counted it (see _deliver)
    rows.sort(key=lambda r: (r.priority, r.id))
    return rows


async def _release(rows: list[OutboxMessage], now: datetime) -> None:
    """Hand back claimed rows that were not tried. Only a row still under this worker's lease: one
    whose lease ran out (this worker was held up) may be another worker's now, even mid-post."""
    leases: dict[datetime, list[int]] = {}
    for row in rows:
        leases.setdefault(row.next_attempt_at, []).append(row.id)
    for lease, ids in leases.items():
        await OutboxMessage.filter(id__in=ids, status="pending", next_attempt_at=lease).update(
            next_attempt_at=now, attempts=F("attempts") - 1
        )


class SentMarks:
    """Delivered rows marked sent together, one statement for the posts answered within MARK_DELAY
    instead of one each (on SQLite every write waits its turn for the one writer). A row posted and
    not yet marked is still leased; if the process dies before the mark, its next attempt reads the
    chat back and finds the post, so nothing is posted twice."""

    def __init__(self) -> None:
        self._rows: list[OutboxMessage] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, row: OutboxMessage) -> None:
        self._rows.append(row)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def take(self) -> list[OutboxMessage]:
        """The rows waiting to be marked, for a claim to mark in its own transaction."""
        rows, self._rows = self._rows, []
        return rows

    def give_back(self, rows: list[OutboxMessage]) -> None:
        """Rows a failed claim did not mark after all."""
        for row in rows:
            self.add(row)

    async def flush(self) -> None:
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        try:
            await asyncio.sleep(MARK_DELAY)
            while self._rows:
                rows, self._rows = self._rows, []
                try:
                    await _mark_sent(rows)
                except Exception:
                    log.exception("outbox: marking %s delivered rows sent failed; they are read back when retried",
                                  len(rows))
        finally:
            self._writer = None


async def _mark_sent(rows: Sequence[OutboxMessage]) -> None:
    client = connections.get("default")
    if isinstance(client, ImmediateSqliteClient):
        values = _mark_values(rows)
        await client.write_in_turn(lambda raw: raw.executemany(MARK_SENT_SQLITE, values))
        return
    async with in_transaction() as turn:
        await _write_marks(turn, rows)


async def _write_marks(conn: BaseDBAsyncClient, rows: Sequence[OutboxMessage]) -> None:
    """Mark delivered rows sent, inside the caller's transaction."""
    postgres = conn.capabilities.dialect == "postgres"
    await conn.execute_many(MARK_SENT_POSTGRES if postgres else MARK_SENT_SQLITE, _mark_values(rows))


MARK_SENT = ('UPDATE "outbox" SET "status" = \'sent\', "attempts" = {0}, "sent_at" = {1}, '
             '"platform_message_id" = {2} WHERE "id" = {3}')
MARK_SENT_SQLITE = MARK_SENT.format(*(param(n, False) for n in range(1, 5)))
MARK_SENT_POSTGRES = MARK_SENT.format(*(param(n, True) for n in range(1, 5)))


def _mark_values(rows: Sequence[OutboxMessage]) -> list[list[object]]:
    sent_at = OutboxMessage._meta.fields_map["sent_at"]
    return [[row.attempts, sent_at.to_db_value(row.sent_at, OutboxMessage), row.platform_message_id, row.id]
            for row in rows]


def lane_of(row: OutboxMessage) -> str:
    """Rows to the same destination share a lane and go out one after another, in id order."""
    return f"{row.platform}:{json.dumps(row.destination, sort_keys=True)}"


async def deliver_due(senders: Mapping[str, Sender], now: datetime, limit: int = BATCH) -> int:
    """Deliver what is due now, each destination's rows in order, destinations concurrently;
    returns how many posts went out."""
    if not senders:
        return 0
    lease_ends = time.monotonic() + LEASE.total_seconds()  # counted from before the claim, as the lease is
    rows = await _claim(list(senders), now, limit)
    lanes: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        lanes.setdefault(lane_of(row), []).append(row)
    marks = SentMarks()
    try:
        results = await asyncio.gather(*(_deliver_lane(lane, senders, lambda: now, lease_ends, marks)
                                         for lane in lanes.values()))
    finally:
        await marks.flush()
    return sum(results)


async def _deliver_lane(rows: list[OutboxMessage] | deque[OutboxMessage], senders: Mapping[str, Sender],
                        now: Callable[[], datetime], lease_ends: float, marks: SentMarks) -> int:
    """One destination's rows, one after another."""
    sent = 0
    while rows:
        row = rows.pop(0) if isinstance(rows, list) else rows.popleft()
        if lease_ends - time.monotonic() < LEASE.total_seconds() / 2:
            # A slow platform: the rest would be posted after their lease ran out, when another
            # worker may have claimed them too. Give them back; they are due again at once.
            log.warning("outbox: delivering a batch took over half the lease; %s rows handed back", len(rows) + 1)
            await _release([row, *rows], now())
            rows.clear()
            break
        if await _deliver(row, senders[row.platform], now(), lease_ends, marks):
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


async def _deliver(row: OutboxMessage, sender: Sender, now: datetime, lease_ends: float, marks: SentMarks) -> bool:
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
    marks.add(row)
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
                     wake: asyncio.Event | None = None, busy: Callable[[], bool] | None = None) -> None:
    """Deliver until `stop` is set; `wake` lets a handler skip the wait after queueing.

    Each destination has a lane that posts its rows in order; the worker keeps claiming while
    it holds fewer than IN_FLIGHT rows, so a new acknowledgement waits for a free slot, not
    for a slow lane to finish. While `busy()` (the web server takes messages faster than they
    are processed, a burst), it claims customers' posts and internal notices only once in
    INTERNAL_WHILE_BUSY seconds: the process's time goes to acknowledging, the customers'
    acknowledgements still go out, and the triage channel and DMs catch up after the burst."""
    now: Callable[[], datetime] = clock.now  # type: ignore[attr-defined]
    lanes: dict[str, deque[tuple[OutboxMessage, float]]] = {}  # each row with the end of its lease
    tasks: dict[str, asyncio.Task[None]] = {}
    freed = asyncio.Event()
    marks = SentMarks()
    waiter = wake or asyncio.Event()
    platforms = list(senders)
    internal_at = 0.0  # when internal notices were last claimed during a burst
    woken = True
    claimed_at = 0.0  # when the last claim that found rows was made

    def held() -> int:
        return sum(len(q) for q in lanes.values()) + len(tasks)

    async def lane(key: str) -> None:
        queue = lanes[key]
        try:
            while queue:
                row, lease_ends = queue.popleft()
                await _deliver_lane([row], senders, now, lease_ends, marks)
                freed.set()
        finally:
            lanes.pop(key, None)
            tasks.pop(key, None)
            freed.set()

    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            room = IN_FLIGHT - held()
            if senders and room > 0 and (room >= REFILL or woken):
                gap = claimed_at + CLAIM_GAP - time.monotonic()
                if gap > 0:
                    await asyncio.sleep(gap)  # rows keep coming: take them together, each claim is a write
                lease_ends = time.monotonic() + LEASE.total_seconds()  # from before the claim, as the lease
                customer_only = busy is not None and busy() and time.monotonic() - internal_at < INTERNAL_WHILE_BUSY
                if not customer_only:
                    internal_at = time.monotonic()
                sent = marks.take()
                try:
                    rows = await _claim(platforms, now(), min(room, BATCH), customer_only, sent)
                except BaseException:
                    marks.give_back(sent)
                    raise
                claimed_at = time.monotonic() if rows else 0.0
                for row in rows:
                    key = lane_of(row)
                    if key in lanes:
                        lanes[key].append((row, lease_ends))
                    else:
                        lanes[key] = deque([(row, lease_ends)])
                        tasks[key] = asyncio.create_task(lane(key))
                if len(rows) == min(room, BATCH):
                    await asyncio.sleep(0)
                    continue  # more may be due
        except Exception:
            log.exception("outbox sweep failed; retrying")
        freed.clear()
        waits = [asyncio.ensure_future(waiter.wait())]
        if tasks:
            waits.append(asyncio.ensure_future(freed.wait()))
        done, pending = await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        woken = waits[0] in done or not done  # new rows were queued, or the interval passed
        for w in pending:
            w.cancel()
    # Stopping: rows not begun are handed back at once; posts under way are finished.
    left = [row for queue in lanes.values() for row, _ in queue]
    for queue in lanes.values():
        queue.clear()
    if left:
        with contextlib.suppress(Exception):
            await _release(left, now())
    if tasks:
        await asyncio.wait(list(tasks.values()), timeout=LEASE.total_seconds() / 4)
    with contextlib.suppress(Exception):
        await marks.flush()
