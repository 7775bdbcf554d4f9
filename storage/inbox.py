"""The durable inbox: an inbound message is a row first, a ticket second.

Accepting a message is one insert, so the adapter can acknowledge the platform at
once; the work a message causes (a ticket, its audit, its queued posts) runs in a
worker. Accepts that arrive within a few milliseconds share one transaction (group
commit, here one INSERT ... ON CONFLICT DO NOTHING). The key (channel|event_id) is
unique: a retried delivery finds its row and stores nothing.

The worker takes due rows in id order (SKIP LOCKED on PostgreSQL, so several workers
never take the same row), handles a batch of them, each in its own savepoint, and marks
them done in the same transaction: a crash before the commit leaves the rows pending and
they run again, and the ProcessedEvent rows written by that handling keep it
exactly-once. A batch stops after BATCH_SECONDS, so on SQLite (one connection) the
outbox never waits long for it. A reply whose thread root (or an edit whose message) is
still pending waits for it.

On SQLite an accept does not wait for the worker's transaction either: it goes into the
landing beside the database (storage/landing.py), which the worker brings into the inbox at
the start of its next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.types import IncomingMessage, Outcome, adapter, delivery_key
from storage import db
from storage.landing import Landing, insert_sql
from storage.models import InboxEvent
from storage.retry import backoff
from storage.sqlite_engine import ImmediateSqliteClient

log = logging.getLogger("chatdesk.inbox")

MAX_ATTEMPTS = 8
WAIT_FOR_ROOT = timedelta(milliseconds=200)  # a reply whose root is still pending looks again after this
BUSY_RATE = 150.0  # accepts per second above which acknowledging comes first (more than the worker can process)
RATE_WINDOW = 0.1  # seconds
INGEST_SHARE = 1.0  # while busy, the worker rests this many times as long as a batch took
MAX_REST = 0.1  # seconds: the longest rest, however slow the last batch was
BATCH = 10  # rows per transaction (more are seldom reached within BATCH_SECONDS)
BATCH_SECONDS = 0.05  # a batch takes no further row after this
# SQLite: one writer, one worker. Accepts do not wait for its batches (they land beside the
# database), so a batch may be longer; a commit costs about as much as a row (its pages are
# written to the log), and 25 rows to a transaction made 6 % more tickets per second than 10.
SQLITE_BATCH = 25
SQLITE_BATCH_SECONDS = 0.15
BRING_IN = 500  # landed rows brought into the inbox per batch (storage/landing.py)
BRING_CHUNK = 100  # rows per insert statement when bringing them in


def serialise(msg: IncomingMessage) -> str:
    return adapter(IncomingMessage).dump_json(msg).decode()


def deserialise(text: str) -> IncomingMessage:
    return adapter(IncomingMessage).validate_json(text)


def inbox_key(msg: IncomingMessage) -> str:
    """The same key the ProcessedEvent row gets; a message without an event id is never a duplicate."""
    return delivery_key(msg.place.channel, msg.event_id or f"~{uuid.uuid4().hex}")


class Inbox:
    """Accepts messages into the inbox table, several accepts to a transaction."""

    def __init__(self, wake: Callable[[], None] | None = None, max_batch: int = 500) -> None:
        self.wake = wake  # wakes the inbox worker
        self.max_batch = max_batch
        self._waiting = 0  # accepts not yet written
        self._rate_window = (0.0, 0, 0)  # (start of the current 0.1 s window, accepts in it, in the one before)
        self._batch: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, msg: IncomingMessage, now: datetime) -> bool:
        """Store the message for processing; False when its key is already in the inbox (a retry)."""
        row = {"platform": msg.place.platform.value, "key": inbox_key(msg), "channel": msg.place.channel,
               "message_id": msg.message_id, "payload": serialise(msg), "status": "pending", "attempts": 0,
               "next_attempt_at": now, "created_at": now}
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.append((row, future))
        self._count_accept()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches())
        self._waiting += 1
        try:
            return await asyncio.shield(future)  # a caller that goes away does not cancel the others' write
        finally:
            self._waiting -= 1

    def _count_accept(self) -> None:
        start, count, before = self._rate_window
        now = time.monotonic()
        if now - start >= RATE_WINDOW:
            start, count, before = now, 0, (count if now - start < 2 * RATE_WINDOW else 0)
        self._rate_window = (start, count + 1, before)

    def busy(self) -> bool:
        """Are messages waiting to be acknowledged, or arriving faster than the worker could process
        them (a burst)?"""
        if self._waiting:
            return True
        start, count, before = self._rate_window
        elapsed = time.monotonic() - start
        if elapsed >= 2 * RATE_WINDOW:
            return False
        if elapsed >= RATE_WINDOW:
            return count / RATE_WINDOW > BUSY_RATE
        return (count + before) / (RATE_WINDOW + elapsed) > BUSY_RATE

    async def flush(self) -> None:
        """Wait until every accept made so far is written (shutdown, tests)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def make_way(self, worked: float) -> None:
        """The worker, between batches: while busy, rest as long as the batch took (at most MAX_REST)
        and let the accepts that came in meanwhile be written first."""
        if self.busy():
            await asyncio.sleep(min(MAX_REST, worked * INGEST_SHARE))
            await self.flush()

    async def _write_batches(self) -> None:
        try:
            await asyncio.sleep(0)  # let the accepts that are ready now join this batch
            while self._batch:
                batch, self._batch = self._batch[: self.max_batch], self._batch[self.max_batch :]
                fresh = []
                try:
                    fresh = await _insert(batch)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    if self.wake and any(fresh):
                        self.wake()
                for (_, future), new in zip(batch, fresh, strict=True):
                    if not future.done():
                        future.set_result(new)
        finally:
            self._writer = None


async def _insert(batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> list[bool]:
    """One statement for the whole batch; which rows were new (a key stored before, or earlier in
    the same batch, is not)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    fields_map = InboxEvent._meta.fields_map
    rows = {row["key"]: row for row, _ in reversed(batch)}  # the first of each key
    landing = _landing(conn)
    if landing is not None:
        inserted = await landing.accept([tuple(fields_map[c].to_db_value(row[c], InboxEvent) for c in INSERT_COLUMNS)
                                         for row in rows.values()])
        return _fresh(batch, inserted)
    if postgres:
        # One statement text whatever the batch's size, so it is prepared once: a VALUES list of
        # 1 to 500 rows was a new statement for nearly every batch of a burst.
        columns_of = [[fields_map[c].to_db_value(row[c], InboxEvent) for row in rows.values()] for c in INSERT_COLUMNS]
        stored = await conn.execute_query_dict(POSTGRES_INSERT, columns_of)
        return _fresh(batch, {str(r["key"]) for r in stored})
    values = [fields_map[c].to_db_value(row[c], InboxEvent) for row in rows.values() for c in INSERT_COLUMNS]
    sql = insert_sql(INSERT_COLUMNS, len(rows))
    if isinstance(conn, ImmediateSqliteClient):  # a database in memory: in this process alone
        stored = await conn.write_in_turn(lambda raw: raw.execute(sql, values).fetchall())
    else:
        async with in_transaction() as turn:
            stored = await turn.execute_query_dict(sql, values)
    return _fresh(batch, {str(r["key"]) for r in stored})


def _fresh(batch: list[tuple[dict[str, Any], asyncio.Future[bool]]], inserted: set[str]) -> list[bool]:
    fresh: list[bool] = []
    for row, _ in batch:
        fresh.append(row["key"] in inserted)
        inserted.discard(row["key"])  # a second accept of the same key in this batch is a retry
    return fresh


INSERT_COLUMNS = ("platform", "key", "channel", "message_id", "payload", "status", "attempts", "next_attempt_at",
                  "created_at")
# PostgreSQL: the batch as one array per column, in INSERT_COLUMNS order.
POSTGRES_INSERT = (
    'INSERT INTO "inbox" ("platform", "key", "channel", "message_id", "payload", "status", "attempts", '
    '"next_attempt_at", "created_at") '
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], "
    "$8::timestamptz[], $9::timestamptz[]) "
    'ON CONFLICT ("key") DO NOTHING RETURNING "key"')


def _landing(conn: Any) -> Landing | None:
    """The landing of a SQLite database in a file (accepts never wait for a worker's transaction);
    `conn` may be a transaction of that database."""
    for _ in range(100):  # a transaction's parent, a savepoint's transaction, ...
        if isinstance(conn, ImmediateSqliteClient):
            return conn.landing(INSERT_COLUMNS)
        conn = getattr(conn, "_parent", None)
        if conn is None:
            break
    return None


async def _bring_in(conn: Any, landing: Landing) -> int:
    """Insert the landed rows into the inbox, in accept order, in the caller's transaction; the last
    landing id brought in (0: none), to be forgotten once that transaction is committed."""
    landed = await landing.landed(BRING_IN)
    for start in range(0, len(landed), BRING_CHUNK):
        chunk = landed[start : start + BRING_CHUNK]
        await conn.execute_query(insert_sql(INSERT_COLUMNS, len(chunk)), [v for row in chunk for v in row[1:]])
    return int(landed[-1][0]) if landed else 0


async def rewrite_landed(needles: list[str], change: Callable[[str], str | None]) -> None:
    """Rewrite the payload of every landed row that contains one of `needles` (None: delete the row).
    For erasure: what waits in the landing is scrubbed there, at once and for good."""
    landing = _landing(connections.get("default"))
    if landing is not None and needles:
        await landing.rewrite(needles, change)


Handle = Callable[[IncomingMessage, datetime], Awaitable[Outcome]]


async def process_next(handle: Handle, now: datetime) -> tuple[IncomingMessage, Outcome | None] | None:
    """Take the first due row, handle it and mark it done, all in one transaction.

    Returns None when nothing is due; else the message and its outcome (None when the row was
    put back: its thread root is still pending, or handling failed and it is retried later)."""
    results = await process_batch(handle, now, limit=1)
    return results[0] if results else None


async def process_batch(handle: Handle, now: datetime, limit: int | None = None,
                        seconds: float | None = None) -> list[tuple[IncomingMessage, Outcome | None]]:
    """Take up to `limit` due rows and handle them in id order in one transaction, each in a
    savepoint (a failure undoes that row's handling alone); stop taking rows after `seconds`.
    Landed rows are brought into the inbox first. Returns each handled row's message and outcome
    (None: put back or failed, retried later)."""
    landing = _landing(connections.get("default"))  # (inside the transaction this is its wrapper)
    sqlite = db.dialect() == "sqlite"
    limit = (SQLITE_BATCH if sqlite else BATCH) if limit is None else limit
    seconds = (SQLITE_BATCH_SECONDS if sqlite else BATCH_SECONDS) if seconds is None else seconds
    results: list[tuple[IncomingMessage, Outcome | None]] = []
    landed = 0
    async with in_transaction() as conn:
        if landing is not None:
            landed = await _bring_in(conn, landing)
        rows = await _due_rows(conn, now, limit)
        started = time.monotonic()
        done: list[int] = []
        for row in rows:
            if done and time.monotonic() - started > seconds:
                break  # the rest stay pending for the next batch
            msg = deserialise(row.payload)
            if await _waits_for_earlier(row, msg, done):
                row.next_attempt_at = now + WAIT_FOR_ROOT
                await row.save(using_db=conn, update_fields=["next_attempt_at"])
                results.append((msg, None))
                continue
            outcome: Outcome | None
            try:
                async with in_transaction():  # a savepoint: a failure undoes the handling, not the batch
                    outcome = await handle(msg, row.created_at)
            except IntegrityError:
                outcome = Outcome(duplicate=True)  # a concurrent delivery of the same event stored it
            except Exception as exc:
                log.exception("inbox %s: handling failed", row.id)
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts, jitter=False))
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    log.error("inbox %s failed for good after %s attempts", row.id, row.attempts)
                await row.save(using_db=conn, update_fields=["attempts", "last_error", "next_attempt_at", "status"])
                results.append((msg, None))
                continue
            done.append(row.id)
            results.append((msg, outcome))
        if done:
            postgres = conn.capabilities.dialect == "postgres"
            marks = ",".join(db.param(n, postgres) for n in range(1, len(done) + 1))
            await conn.execute_query(f'UPDATE "inbox" SET "status" = \'done\' WHERE "id" IN ({marks})', done)
    if landing is not None and landed:
        await landing.forget(landed)
    return results


@functools.lru_cache(maxsize=8)
def _due_sql(postgres: bool, one_channel: bool) -> str:
    """The due rows in id order, written once (the ORM builds a query afresh each time, which cost a
    batch of one row more than a third of its time); on PostgreSQL locked, skipping locked rows."""
    columns = ",".join(f'"{c}"' for c in InboxEvent._meta.fields_db_projection.values())
    where = f'"status" = \'pending\' AND "next_attempt_at" <= {db.param(1, postgres)}'
    if one_channel:
        where += f' AND "channel" = {db.param(3, postgres)} AND "id" > {db.param(4, postgres)}'
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    return f'SELECT {columns} FROM "inbox" WHERE {where} ORDER BY "id" LIMIT {db.param(2, postgres)}{lock}'


async def _due_rows(conn: Any, now: datetime, limit: int) -> list[InboxEvent]:
    due = InboxEvent._meta.fields_map["next_attempt_at"].to_db_value(now, InboxEvent)
    if conn.capabilities.dialect != "postgres":
        return [InboxEvent._init_from_db(**r) for r in await conn.execute_query_dict(_due_sql(False, False),
                                                                                        [due, limit])]
    # One channel's rows (one customer's) per batch: a ticket locks its customer's counter until the
    # commit, and two workers each holding one and wanting the other's deadlock.
    rows = [InboxEvent._init_from_db(**r) for r in await conn.execute_query_dict(_due_sql(True, False), [due, 1])]
    if rows and limit > 1:
        more = await conn.execute_query_dict(_due_sql(True, True), [due, limit - 1, rows[0].channel, rows[0].id])
        rows += [InboxEvent._init_from_db(**r) for r in more]
    return rows


async def _waits_for_earlier(row: InboxEvent, msg: IncomingMessage, done: list[int]) -> bool:
    """A reply waits for its thread's root, an edit or deletion for its message, while still pending
    (rows handled earlier in this batch are done already)."""
    if not (msg.edited or msg.deleted or (msg.place.thread and msg.place.thread != msg.message_id)):
        return False  # a new message waits for nothing; a second delivery of it is caught as a duplicate
    ids = {msg.message_id}
    if msg.place.thread:
        ids.add(msg.place.thread)
    query = InboxEvent.filter(status="pending", channel=row.channel, message_id__in=list(ids), id__lt=row.id)
    if done:
        query = query.exclude(id__in=done)
    return await query.exists()


async def lag_seconds(now: datetime) -> float:
    """Age of the oldest message accepted and not yet processed: the health check's inbox lag."""
    oldest = await InboxEvent.filter(status="pending").order_by("id").first()
    ages = [oldest.created_at] if oldest else []
    landing = _landing(connections.get("default"))
    if landing is not None:
        first = await landing.landed(1)
        if first:
            ages.append(db.stored_time(first[0][1 + INSERT_COLUMNS.index("created_at")]))
    return max(0.0, (now - min(ages)).total_seconds()) if ages else 0.0


async def run_worker(process_one: Callable[[], Awaitable[bool | int]], stop: asyncio.Event, wake: asyncio.Event,
                     inbox: Inbox | None = None, interval: float = 0.5) -> None:
    """Process due rows (a batch per call of `process_one`) until `stop` is set. Between batches it
    makes way for this process's accepts (Inbox.make_way), so acknowledging and processing share
    its time."""
    while not stop.is_set():
        wake.clear()
        try:
            while not stop.is_set():
                started = time.monotonic()
                if not await process_one():
                    break
                if inbox is not None:
                    await inbox.make_way(time.monotonic() - started)
        except Exception:
            log.exception("inbox sweep failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)
