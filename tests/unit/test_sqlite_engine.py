"""SQLite transactions take the write lock at BEGIN, so two processes on one file wait for each
other instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3

import pytest
from tortoise.transactions import in_transaction

from storage.models import Customer


def _other_process(url: str) -> sqlite3.Connection:
    """A second connection to the file, as the other chatdesk process holds one (no waiting)."""
    return sqlite3.connect(url.split("://", 1)[1], timeout=0, isolation_level=None)


async def test_a_transaction_that_reads_first_holds_the_write_lock_from_its_start(database: str) -> None:
    other = _other_process(database)
    try:
        async with in_transaction():
            await Customer.get(key="ACME")  # a read first, as the inbox worker's batch does
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE customer SET name = name WHERE key = 'GLOBEX'")
            await Customer.filter(key="ACME").update(name="Acme Oyj")  # so its own write cannot fail
        other.execute("UPDATE customer SET name = 'Globex' WHERE key = 'GLOBEX'")  # free again after the commit
    finally:
        other.close()
    assert (await Customer.get(key="ACME")).name == "Acme Oyj"


async def test_reads_outside_a_transaction_never_wait_for_the_other_process(database: str) -> None:
    other = _other_process(database)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE customer SET name = 'Acme (being edited)' WHERE key = 'ACME'")
        assert (await Customer.get(key="ACME")).name == "Acme Oy"  # the last committed state
        other.execute("ROLLBACK")
    finally:
        other.close()
