"""Where the web server's accepts go while the SQLite database is being written by someone else.

SQLite has one writer at a time. While a burst arrives, the worker process makes tickets in
transactions of tens of milliseconds, and each accept (one insert, the only thing Slack waits
for) waited behind them: the worker held the writer lock about three quarters of the time, and
the web server's inserts waited 14 ms each on average.

So an accept takes the writer lock only if it is free this instant and nothing waits in the
landing; it then inserts into the inbox directly. Otherwise it inserts the rows into
`<database>-landing`, a small SQLite file of its own that only this process's accepts write,
and is done. The worker brings the landed rows into the inbox at the start of its next batch,
in its own transaction and in the order they were accepted (`landed`, then the inbox insert,
then `forget` after the commit). The order of messages is kept: while anything waits in the
landing, every later accept lands behind it. A crash between the commit and `forget` brings
the same rows in again, and the inbox key (unique) stores nothing twice.

Both files are written by a thread of this class's own, with connections of its own, so an
accept never waits for the event loop's connection or the ORM's transaction lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


def insert_sql(columns: Sequence[str], rows: int, table: str = "inbox") -> str:
    """`rows` rows in one SQLite statement; a key stored before stores nothing (its key is returned
    only when it was new)."""
    names = ",".join(f'"{c}"' for c in columns)
    group = "(" + ",".join("?" * len(columns)) + ")"
    return (f'INSERT INTO "{table}" ({names}) VALUES {",".join([group] * rows)} '
            'ON CONFLICT ("key") DO NOTHING RETURNING "key"')


class Landing:
    """The landing of one SQLite database, as one process uses it (the web server to accept into it,
    the worker to bring rows in from it)."""

    def __init__(self, database: str, columns: Sequence[str], writer_path: str) -> None:
        self.database = database
        self.path = f"{database}-landing"
        self.columns = tuple(columns)
        self.key_index = self.columns.index("key")
        self.writer_path = writer_path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="chatdesk-landing")
        self._inbox: sqlite3.Connection | None = None
        self._landing: sqlite3.Connection | None = None
        self._writer: int | None = None  # a descriptor of its own: flock locks belong to the open file

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    # -- in the thread -----------------------------------------------------------------------

    def _open(self) -> tuple[sqlite3.Connection, sqlite3.Connection, int]:
        if self._inbox is None:
            self._inbox = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
            self._inbox.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if self._landing is None:
            landing = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            landing.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            landing.execute("PRAGMA journal_mode=WAL")
            landing.execute("PRAGMA synchronous=NORMAL")  # as the database itself (storage.db.init)
            columns = ",".join(f'"{c}" UNIQUE NOT NULL' if c == "key" else f'"{c}"' for c in self.columns)
            landing.execute(f'CREATE TABLE IF NOT EXISTS "landing" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, {columns})')
            self._landing = landing
        if self._writer is None:
            self._writer = os.open(self.writer_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._inbox, self._landing, self._writer

    def _accept(self, rows: list[tuple[Any, ...]]) -> set[str]:
        inbox, landing, writer = self._open()
        try:
            fcntl.flock(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # someone writes the database now: land
        else:
            try:
                if landing.execute('SELECT 1 FROM "landing" LIMIT 1').fetchone() is None:
                    return _write(inbox, insert_sql(self.columns, len(rows)), [v for row in rows for v in row])
            finally:
                fcntl.flock(writer, fcntl.LOCK_UN)
        keys = [row[self.key_index] for row in rows]
        known = {k for (k,) in inbox.execute(
            f'SELECT "key" FROM "inbox" WHERE "key" IN ({",".join("?" * len(keys))})', keys)}
        rows = [row for row in rows if row[self.key_index] not in known]  # a retry of a stored message
        if not rows:
            return set()
        return _write(landing, insert_sql(self.columns, len(rows), "landing"), [v for row in rows for v in row])

    def _landed(self, limit: int) -> list[tuple[Any, ...]]:
        if self._landing is None and not os.path.exists(self.path):
            return []  # nothing was ever landed: no file to make
        _, landing, _ = self._open()
        names = ",".join(f'"{c}"' for c in ("id", *self.columns))
        return landing.execute(f'SELECT {names} FROM "landing" ORDER BY "id" LIMIT ?', (limit,)).fetchall()

    def _forget(self, up_to: int) -> None:
        _, landing, _ = self._open()
        landing.execute('DELETE FROM "landing" WHERE "id" <= ?', (up_to,))

    def _rewrite(self, needles: list[str], change: Callable[[str], str | None]) -> None:
        if self._landing is None and not os.path.exists(self.path):
            return
        _, landing, _ = self._open()
        lowered = [n.lower() for n in needles if n]  # as LIKE matches them
        landing.execute("BEGIN IMMEDIATE")
        try:
            for landing_id, payload in landing.execute('SELECT "id", "payload" FROM "landing"').fetchall():
                text = str(payload)
                if not any(n in text.lower() for n in lowered):
                    continue
                new = change(text)
                if new is None:
                    landing.execute('DELETE FROM "landing" WHERE "id" = ?', (landing_id,))
                elif new != text:
                    landing.execute('UPDATE "landing" SET "payload" = ? WHERE "id" = ?', (new, landing_id))
        except BaseException:
            landing.execute("ROLLBACK")
            raise
        landing.execute("COMMIT")

    def _close(self) -> None:
        for connection in (self._inbox, self._landing):
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
        self._inbox = self._landing = None
        if self._writer is not None:
            with contextlib.suppress(OSError):
                os.close(self._writer)
            self._writer = None

    # -- the event loop's side ---------------------------------------------------------------

    async def accept(self, rows: list[tuple[Any, ...]]) -> set[str]:
        """Store inbox rows (values in `columns` order, as the database stores them): into the inbox
        when it is free now and nothing waits in the landing, else into the landing. Returns the
        keys that were new (a key already in the inbox or the landing is a retry)."""
        return await self._run(lambda: self._accept(rows))

    async def landed(self, limit: int) -> list[tuple[Any, ...]]:
        """The first `limit` landed rows, in accept order: (landing id, *values)."""
        return await self._run(lambda: self._landed(limit))

    async def forget(self, up_to: int) -> None:
        """Delete the landed rows up to this landing id (they are in the inbox now)."""
        await self._run(lambda: self._forget(up_to))

    async def rewrite(self, needles: list[str], change: Callable[[str], str | None]) -> None:
        """Give each landed row whose payload contains one of `needles` the payload `change` makes of
        it; None deletes the row (erasure)."""
        await self._run(lambda: self._rewrite(needles, change))

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # a loop that is closing may refuse new work
            await self._run(self._close)
        self._thread.shutdown(wait=True)


def _write(connection: sqlite3.Connection, sql: str, values: list[Any]) -> set[str]:
    """One insert as its own transaction; the keys it stored."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        stored = {str(k) for (k,) in connection.execute(sql, values).fetchall()}
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return stored
