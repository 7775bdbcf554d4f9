"""The landing: while someone else writes the SQLite database, accepts land beside it, and the
worker brings them into the inbox in accept order, once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from tortoise import connections

from bot.clock import FakeClock
from bot.identity import Who
from bot.types import Actor
from storage import inbox
from storage.landing import Landing
from storage.models import Contact, InboxEvent, Message, Ticket
from tests.unit.test_inbox import ROOT_TS, desk_with_inbox, message
from tests.unit.test_sqlite_engine import _writer_held_by_another_process


def _landing() -> Landing:
    landing = inbox._landing(connections.get("default"))
    assert landing is not None
    return landing


@contextlib.contextmanager
def _database_taken(database: str) -> Iterator[None]:
    """Another process holds the writer lock for the body's duration."""
    fd = _writer_held_by_another_process(database)
    try:
        yield
    finally:
        os.close(fd)


async def _landed_keys() -> list[str]:
    key = 1 + inbox.INSERT_COLUMNS.index("key")
    return [str(row[key]) for row in await _landing().landed(1000)]


async def test_an_accept_lands_while_another_process_writes_and_the_worker_brings_it_in(
        database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    with _database_taken(database):
        outcome = await desk.accept_message(message(1))  # answered although the database is taken
    assert not outcome.duplicate
    assert await InboxEvent.all().count() == 0
    assert await _landed_keys() == [inbox.inbox_key(message(1))]
    clock.advance(seconds=30)
    assert await inbox.lag_seconds(clock.now()) == pytest.approx(30)  # the health check sees it waiting

    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1
    assert await _landed_keys() == []  # forgotten once it is in the inbox
    assert (await InboxEvent.get()).status == "done"
    assert await inbox.lag_seconds(clock.now()) == 0


async def test_with_the_database_free_and_the_landing_empty_an_accept_goes_straight_into_the_inbox(
        database: str, clock: FakeClock) -> None:
    await desk_with_inbox(clock).accept_message(message(1))
    assert await InboxEvent.all().count() == 1
    assert await _landed_keys() == []


async def test_while_anything_waits_in_the_landing_later_accepts_land_behind_it(
        database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    with _database_taken(database):
        await desk.accept_message(message(1))  # the thread's root lands
    reply = message(2, thread=f"{1795417201}.000100")
    assert reply.place.thread == ROOT_TS
    await desk.accept_message(reply)  # the database is free now, but the root waits in the landing
    assert await InboxEvent.all().count() == 0
    assert await _landed_keys() == [inbox.inbox_key(message(1)), inbox.inbox_key(reply)]

    assert await desk.process_inbox() == 2
    rows = await InboxEvent.all().order_by("id")
    assert [r.message_id for r in rows] == [ROOT_TS, reply.message_id]  # the reply never overtakes its root
    assert await Ticket.all().count() == 1 and await Message.all().count() == 2


async def test_a_retry_stores_nothing_whether_the_first_delivery_is_in_the_inbox_or_the_landing(
        database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))  # into the inbox
    with _database_taken(database):
        assert (await desk.accept_message(message(1))).duplicate
        assert not (await desk.accept_message(message(2))).duplicate  # lands
        assert (await desk.accept_message(message(2))).duplicate
    assert await _landed_keys() == [inbox.inbox_key(message(2))]
    assert await desk.process_inbox() == 2
    assert await Ticket.all().count() == 2 and await InboxEvent.all().count() == 2


async def test_a_crash_after_the_commit_and_before_forgetting_stores_nothing_twice(
        database: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = desk_with_inbox(clock)
    with _database_taken(database):
        await desk.accept_message(message(1))

    async def crash(self: Landing, up_to: int) -> None:
        raise RuntimeError("the process died")

    monkeypatch.setattr(Landing, "forget", crash)
    with pytest.raises(RuntimeError):
        await desk.process_inbox_batch()
    assert await Ticket.all().count() == 1
    assert len(await _landed_keys()) == 1  # still landed: the next batch brings it in again
    monkeypatch.undo()

    clock.advance(seconds=1)
    await desk.process_inbox()
    assert await _landed_keys() == []
    assert await InboxEvent.all().count() == 1 and await Ticket.all().count() == 1


async def test_a_batch_that_fails_leaves_the_landed_rows_to_the_next(
        database: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = desk_with_inbox(clock)
    with _database_taken(database):
        await desk.accept_message(message(1))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(inbox, "_due_rows", broken)  # after the bring-in, before any row is taken
    with pytest.raises(RuntimeError):
        await desk.process_inbox_batch()
    monkeypatch.undo()
    assert await InboxEvent.all().count() == 0  # rolled back with the batch
    assert len(await _landed_keys()) == 1  # and so still landed
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1


async def test_erasing_a_contact_scrubs_what_waits_in_the_landing(database: str, clock: FakeClock) -> None:
    from bot.privacy import erase
    from bot.statuses import Role

    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    await desk.process_inbox()  # Cecilia (U0CUST) is a contact now
    contact = await Contact.get(user_id="U0CUST")
    with _database_taken(database):
        await desk.accept_message(message(2))  # her next message lands
        other = message(3, event_id="Ev-other")
        other = replace(other, actor=Actor(other.actor.platform, other.actor.tenant, "U0OTHER", "Olli"),
                        text="Cecilia <@U0CUST> asked about this too")
        await desk.accept_message(other)
    assert len(await _landed_keys()) == 2
    lead = Who(actor=Actor(other.actor.platform, "T0HOME", "U0LEAD", "Lea"), place=other.place, role=Role.LEAD)
    await erase(contact, lead, clock.now() + timedelta(seconds=1))
    landed = await _landing().landed(10)
    assert len(landed) == 1  # her own message is gone; the other one is kept, scrubbed
    payload = str(landed[0][1 + inbox.INSERT_COLUMNS.index("payload")])
    assert "U0CUST" not in payload and "Cecilia" not in payload and "Olli" in payload
