"""Configuration read once: shared inside a batch, and with later batches while its version holds."""

from __future__ import annotations

import sqlite3

import pytest
from tortoise import connections

from bot import memo
from bot.clock import FakeClock
from storage import config_version, models
from storage.models import ChannelBinding, OutboxMessage, Person, Ticket
from tests.unit.test_inbox import desk_with_inbox, message
from tests.unit.test_statements import counting

CONFIG_SELECTS = tuple(f'FROM "{table}"' for table in config_version.CONFIG_TABLES)


async def test_outside_a_batch_every_read_goes_to_the_database() -> None:
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    assert [await memo.read("k", load), await memo.read("k", load)] == [1, 2]
    with memo.batch():
        assert [await memo.read("k", load), await memo.read("k", load), await memo.read("j", load)] == [3, 3, 4]
    assert await memo.read("k", load) == 5  # the batch's reads are gone with it


async def test_batches_of_one_version_share_their_reads_and_a_newer_version_reads_afresh() -> None:
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    memo.discard()
    with memo.batch((1, 7)):
        assert await memo.read("k", load) == 1
    with memo.batch((1, 7)):
        assert await memo.read("k", load) == 1  # kept from the earlier batch
    with memo.batch((1, 6)):
        assert await memo.read("k", load) == 2  # an older version keeps to itself
    with memo.batch((1, 7)):
        assert await memo.read("k", load) == 1
    with memo.batch((1, 8)):
        assert await memo.read("k", load) == 3
    with memo.batch((2, 8)):
        assert await memo.read("k", load) == 4  # another opening of the database: another database
    with pytest.raises(RuntimeError), memo.batch((2, 8)):
        raise RuntimeError("the batch's transaction is rolled back")
    with memo.batch((2, 8)):
        assert await memo.read("k", load) == 5  # a failed batch forgot what it had read


async def _version() -> int:
    got = await config_version.current()
    assert got is not None
    return got[1]


async def test_a_busy_worker_reads_the_configuration_once_while_it_stays_the_same(
        database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    assert await desk.process_inbox() == 1
    for n in (2, 3):
        await desk.accept_message(message(n))
        with counting() as statements:
            assert await desk.process_inbox() == 1
        config = [sql for sql in statements.sql if sql.startswith("SELECT") and any(t in sql for t in CONFIG_SELECTS)]
        assert not config, "a later batch read the configuration again:\n" + "\n".join(config)
    assert await Ticket.all().count() == 3


async def test_a_change_made_by_another_process_is_seen_by_the_next_batch(database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    assert await desk.process_inbox() == 1
    other = sqlite3.connect(database.split("://", 1)[1])  # hand-written SQL from outside chatdesk
    try:
        with other:
            other.execute("DELETE FROM channel_binding WHERE channel = 'C0ACME'")
    finally:
        other.close()
    await desk.accept_message(message(2))
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1


def _columns(model: type[models.Model]) -> list[str]:
    return [c for c in model._meta.fields_db_projection.values() if c != "id"]


CONFIG_MODELS = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, models.Model)
                 and m is not models.Model and m._meta.db_table in config_version.CONFIG_TABLES]


async def test_every_configuration_column_moves_the_version_and_a_ticket_number_does_not(
        any_database: str) -> None:
    assert {m._meta.db_table for m in CONFIG_MODELS} == set(config_version.CONFIG_TABLES)
    conn = connections.get("default")
    for model in CONFIG_MODELS:
        table = model._meta.db_table
        for column in _columns(model):
            before = await _version()
            await conn.execute_script(f'UPDATE "{table}" SET "{column}" = "{column}"')
            moved = await _version() > before
            assert moved != (column in config_version.CONFIG_TABLES[table]), f"{table}.{column}"
    before = await _version()
    await Person.create(pid="new", name="New", role="consultant")
    await Person.filter(pid="new").delete()
    assert await _version() == before + 2


async def test_a_channel_removed_between_batches_opens_no_more_tickets(database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    assert await desk.process_inbox() == 1
    await ChannelBinding.filter(channel="C0ACME").delete()  # as `config apply --prune` in another process
    await desk.accept_message(message(2))
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1


async def test_a_person_who_left_between_batches_gets_no_new_ticket_notices(database: str,
                                                                               clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    await desk.process_inbox()
    first = await Ticket.get(number=1)
    await Person.filter(pid="sanna").update(active=False)
    await desk.accept_message(message(2))
    await desk.process_inbox()
    second = await Ticket.get(number=2)
    def told(key: str) -> set[str]:
        return {str(r.destination.get("user")) for r in rows if r.ticket_key == key and r.destination.get("user")}

    rows = await OutboxMessage.all()
    assert "U0SANNA" in told(first.key) and "U0SANNA" not in told(second.key)
