"""SQLite transactions take the write lock at BEGIN, so two processes on one file wait for each
other instead of failing with "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from storage.models import Customer
from storage.sqlite_engine import ImmediateSqliteClient


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


def _writer_held_by_another_process(url: str) -> int:
    """The writer lock file taken through a descriptor of its own, as another process takes it."""
    import fcntl
    import os

    fd = os.open(url.split("://", 1)[1] + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _writer_free(url: str) -> bool:
    """Could another process take the writer lock now?"""
    import fcntl
    import os

    fd = os.open(url.split("://", 1)[1] + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


async def test_a_write_in_one_go_commits_or_rolls_back_as_a_whole(database: str) -> None:
    client = connections.get("default")
    assert isinstance(client, ImmediateSqliteClient)
    await client.write_in_turn(lambda raw: raw.execute("UPDATE customer SET name = 'Acme Oyj' WHERE key = 'ACME'"))
    assert (await Customer.get(key="ACME")).name == "Acme Oyj"

    def half(raw: sqlite3.Connection) -> None:
        raw.execute("UPDATE customer SET name = 'Globex Oyj' WHERE key = 'GLOBEX'")
        raise RuntimeError("the second statement failed")

    with pytest.raises(RuntimeError):
        await client.write_in_turn(half)
    assert (await Customer.get(key="GLOBEX")).name == "Globex Ltd"
    assert _writer_free(database)  # and the writer lock is free again


async def test_a_write_in_one_go_waits_for_the_other_process_and_goes_the_moment_it_is_done(
        database: str) -> None:
    import os

    client = connections.get("default")
    assert isinstance(client, ImmediateSqliteClient)
    fd = _writer_held_by_another_process(database)
    try:
        assert not _writer_free(database)
        write = asyncio.create_task(client.write_in_turn(
            lambda raw: raw.execute("UPDATE customer SET name = 'Acme Oyj' WHERE key = 'ACME'")))
        await asyncio.sleep(0.05)
        assert not write.done()
    finally:
        os.close(fd)  # the other process lets go
    await asyncio.wait_for(write, timeout=1)
    assert (await Customer.get(key="ACME")).name == "Acme Oyj"
