"""SQLite whose transactions take the write lock when they begin (BEGIN IMMEDIATE).

chatdesk serve runs the web server and the workers in two processes on one SQLite file. A
plain BEGIN takes the write lock at the first write: a transaction that read first, and finds
that the other process committed meanwhile, then fails at once with "database is locked"
(WAL snapshots cannot be upgraded), without waiting for busy_timeout. Taking the lock at
BEGIN makes the other process's transactions wait their turn instead. Reads outside a
transaction are not affected (WAL readers never wait for writers).
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
