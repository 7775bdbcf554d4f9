"""SQLite whose transactions take the write lock when they begin, in turn across processes.

chatdesk serve runs the web server and the workers in two processes on one SQLite file. A
plain BEGIN takes the write lock at the first write: a transaction that read first, and finds
that the other process committed meanwhile, then fails at once with "database is locked"
(WAL snapshots cannot be upgraded), without waiting for busy_timeout. So every transaction
begins with BEGIN IMMEDIATE.

SQLite's own wait for a busy database sleeps in growing steps (up to 100 ms) and so wakes
late: a web server whose insert waited behind a worker's batch slept on long after the batch
was done. Every chatdesk process therefore takes an exclusive lock on a file beside the
database (`<database>-writer`) for the span of each write transaction, and waits for it in
steps of a millisecond. Reads outside a transaction are not affected (WAL readers never wait).

A transaction of awaited statements holds that lock across every trip through the event loop,
and a busy web server's loop makes each trip long. Its small, frequent writes (outbox claims and
marks) therefore run with `write_in_turn`: the whole transaction in the connection's own thread,
which waits for the lock in the kernel and lets go of it the moment SQLite has committed. Accepts
do not wait for the lock at all: they land beside the database while it is taken (storage/landing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

from storage.landing import Landing

POLL = 0.001  # seconds between tries of the writer lock
T = TypeVar("T")


class WriterLock:
    """An exclusive lock on `<database>-writer`, shared by every process that opens the database.
    Within one process the ORM's own lock already lets one transaction run at a time."""

    def __init__(self, database: str) -> None:
        self.path = None if database in ("", ":memory:") or database.startswith("file::memory:") \
            else f"{database}-writer"
        self._fd: int | None = None

    def _file(self) -> int | None:
        """The lock file, opened on first use (None for a database in memory: nothing to share)."""
        if self.path is not None and self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    async def acquire(self) -> None:
        fd = self._file()
        if fd is None:
            return
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                await asyncio.sleep(POLL)

    def acquire_blocking(self) -> None:
        """acquire() for a thread: the kernel wakes it the moment the lock is free."""
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class _InTurn(SqliteTransactionContext):
    """A transaction that holds the writer lock from before BEGIN until after COMMIT or ROLLBACK."""

    def __init__(self, connection: Any, trxlock: asyncio.Lock, writer: WriterLock) -> None:
        super().__init__(connection, trxlock)
        self.writer = writer

    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.writer.acquire()
            try:
                await self.ensure_connection()
                self.token = get_connections().set(self.connection_name, self.connection)
                try:
                    await self.connection.begin()
                except BaseException:
                    get_connections().reset(self.token)
                    raise
            except BaseException:
                self.writer.release()
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            if not self.connection._finalized:
                if exc_type:
                    if exc_type is not TransactionManagementError:  # a failed BEGIN has nothing to roll back
                        await self.connection.rollback()
                else:
                    await self.connection.commit()
        finally:
            self.writer.release()  # before the process's next transaction may take its turn
            get_connections().reset(self.token)
            self._trxlock.release()


class ImmediateSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self.writer = WriterLock(file_path)
        self._landing: Landing | None = None

    def landing(self, columns: Sequence[str]) -> Landing | None:
        """The inbox's landing beside this database (storage.landing); None for one in memory."""
        if self.writer.path is None:
            return None
        if self._landing is None:
            self._landing = Landing(self.filename, columns, self.writer.path)
        return self._landing

    def _in_transaction(self) -> TransactionContext:
        return _InTurn(_ImmediateTransaction(self), self._lock, self.writer)

    async def write_in_turn(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` as one write transaction run in the connection's thread: in turn with
        this process's other transactions and every other process's, holding the writer lock only
        while SQLite works. `work` must not touch anything but the connection it is given.
        The thread takes and lets go of the lock itself: a caller cancelled meanwhile must not let
        go of it while the thread still writes."""
        async with self.acquire_connection() as connection:  # this process's one connection, its lock held
            def run() -> T:
                raw: sqlite3.Connection = connection._conn
                self.writer.acquire_blocking()
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    try:
                        result = work(raw)
                    except BaseException:
                        raw.execute("ROLLBACK")
                        raise
                    raw.execute("COMMIT")
                    return result
                finally:
                    self.writer.release()

            return await connection._execute(run)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._landing is not None:
            await self._landing.close()
            self._landing = None
        await super().close()
        self.writer.close()


client_class = ImmediateSqliteClient
