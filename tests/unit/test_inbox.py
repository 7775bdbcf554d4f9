"""The durable inbox: accept now, process once, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from bot.clock import FakeClock
from bot.config import load_config
from bot.core import Helpdesk
from bot.types import Actor, FileRef, IncomingMessage, Outcome, Place, Platform
from storage import db, inbox
from storage.config_apply import apply_config
from storage.inbox import Inbox
from storage.models import Contract, Customer, InboxEvent, Message, ProcessedEvent, Ticket, TimeEntry
from tests.conftest import MONDAY_9_HELSINKI, ORG_YAML, POSTGRES_URL, _pg_database, _pg_drop

ROOT_TS = "1795417201.000100"


async def _no_suggestions(text: str, limit: int) -> list[Any]:
    return []


def message(n: int, *, thread: str | None = None, channel: str = "C0ACME", event_id: str | None = None,
            **extra: Any) -> IncomingMessage:
    ts = f"{1795417200 + n}.000100"
    return IncomingMessage(
        event_id=event_id or f"Ev{n:06d}",
        actor=Actor(Platform.SLACK, "T0GLOBEX" if channel == "C0GLOBEX" else "T0ACME", "U0CUST", "Cecilia"),
        place=Place(Platform.SLACK, "T0HOME", channel, thread), message_id=ts, text=f"Problem {n}: VPN drops",
        **extra)


def desk_with_inbox(clock: FakeClock) -> Helpdesk:
    return Helpdesk(clock=clock, suggest=_no_suggestions, inbox=Inbox())


def test_a_message_survives_the_round_trip_through_json() -> None:
    msg = message(1, thread=ROOT_TS, files=(FileRef("log.txt", "text/plain", 12, "https://files.slack.com/x",
                                                    "F1"),), sent_at=MONDAY_9_HELSINKI, edited=True)
    assert inbox.deserialise(inbox.serialise(msg)) == msg


async def test_a_duplicate_accept_stores_once(any_database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    first, again, *_ = await asyncio.gather(*(desk.accept_message(message(1)) for _ in range(4)))
    later = await desk.accept_message(message(1))
    assert not first.duplicate and again.duplicate and later.duplicate
    assert await InboxEvent.all().count() == 1
    assert await Ticket.all().count() == 0  # acknowledged, not processed yet
    assert await desk.process_inbox() == 1
    assert await desk.accept_message(message(1)) == Outcome(duplicate=True)  # a retry after processing
    assert await desk.process_inbox() == 0
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    assert (await InboxEvent.get()).status == "done"


async def test_a_ticket_keeps_the_time_it_was_accepted(any_database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    accepted_at = clock.now()
    await desk.accept_message(message(1))
    clock.advance(minutes=10)
    await desk.process_inbox()
    ticket = await Ticket.get()
    assert ticket.created_at == accepted_at
    assert (await Message.get()).created_at == accepted_at


async def test_a_crash_before_processing_is_processed_after_restart_once(any_db_url: str, clock: FakeClock) -> None:
    await db.init(any_db_url)
    try:
        await apply_config(load_config(ORG_YAML))
        await desk_with_inbox(clock).accept_message(message(1))  # acknowledged; then the process dies
    finally:
        await db.close()
    await db.init(any_db_url)
    try:
        desk = desk_with_inbox(clock)
        assert await inbox.lag_seconds(clock.now() + timedelta(seconds=3)) == 3.0
        assert await desk.process_inbox() == 1
        assert await desk.process_inbox() == 0
        assert await inbox.lag_seconds(clock.now()) == 0.0
        assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    finally:
        await db.close()


async def test_a_failed_processing_is_rolled_back_and_retried(any_database: str, clock: FakeClock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    real = desk.route

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise ConnectionError("database went away")

    monkeypatch.setattr(desk, "route", broken)
    assert await desk.process_inbox() == 1
    row = await InboxEvent.get()
    assert (row.status, row.attempts) == ("pending", 1) and "database went away" in (row.last_error or "")
    assert await Ticket.all().count() == 0 and await ProcessedEvent.all().count() == 0
    assert (await Customer.get(key="ACME")).next_number == 1  # the ticket number went back too
    monkeypatch.setattr(desk, "route", real)
    assert await desk.process_inbox() == 0  # backing off
    clock.advance(seconds=2)
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1 and (await Ticket.get()).key == "ACME-1"


async def test_a_row_run_again_after_its_commit_was_lost_stores_nothing_twice(any_database: str,
                                                                             clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    await desk.process_inbox()
    await InboxEvent.all().update(status="pending")  # as if marking it done had not been stored
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    assert (await InboxEvent.get()).status == "done"


async def test_a_reply_waits_for_its_pending_root(any_database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    await desk.accept_message(message(2, thread=ROOT_TS))
    root = await InboxEvent.get(message_id=ROOT_TS)
    root.next_attempt_at = clock.now() + timedelta(seconds=5)  # the root is backing off after a failure
    await root.save()
    assert await desk.process_inbox() == 1  # the reply was looked at and put back
    reply = await InboxEvent.get(message_id="1795417202.000100")
    assert reply.status == "pending" and reply.next_attempt_at > clock.now()
    assert await Message.all().count() == 0
    clock.advance(seconds=5)
    assert await desk.process_inbox() == 2
    ticket = await Ticket.get()
    assert ticket.thread == ROOT_TS
    assert await Message.filter(ticket_id=ticket.id).count() == 2


async def test_without_an_inbox_a_message_is_processed_at_once(any_database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, suggest=_no_suggestions)
    seen: list[Outcome] = []
    desk.after_message.append(lambda msg, outcome: seen.append(outcome))
    outcome = await desk.accept_message(message(1))
    assert outcome.ticket_key == "ACME-1" and seen == [outcome]
    assert await InboxEvent.all().count() == 0


async def test_the_worker_processes_what_is_accepted(any_database: str, clock: FakeClock) -> None:
    wake = asyncio.Event()
    accepted = Inbox(wake=wake.set)
    desk = Helpdesk(clock=clock, suggest=_no_suggestions, inbox=accepted)
    seen: list[Outcome] = []
    desk.after_message.append(lambda msg, outcome: seen.append(outcome))
    stop = asyncio.Event()
    worker = asyncio.create_task(inbox.run_worker(desk.process_inbox_one, stop, wake, accepted, interval=60))
    try:
        await desk.accept_message(message(1))
        for _ in range(1000):  # up to 10 s on a busy machine, far below the 60 s interval
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen and seen[0].ticket_key == "ACME-1"  # woken by the accept, not by the interval
    finally:
        stop.set()
        wake.set()
        await asyncio.wait_for(worker, timeout=5)


@pytest.mark.postgres
async def test_two_workers_on_postgres_never_process_a_row_twice(pg_url: str, clock: FakeClock) -> None:
    await db.init(pg_url)
    try:
        await apply_config(load_config(ORG_YAML))
        desk = desk_with_inbox(clock)
        count = 200
        await asyncio.gather(*(desk.accept_message(message(n, channel=("C0ACME", "C0GLOBEX")[n % 2]))
                               for n in range(count)))
        handled: list[str] = []
        real = desk._accepted

        async def counting(msg: IncomingMessage, accepted_at: Any) -> Outcome:
            handled.append(msg.event_id)
            return await real(msg, accepted_at)

        desk._accepted = counting  # type: ignore[method-assign]
        first, second = await asyncio.gather(desk.process_inbox(), desk.process_inbox())
        assert first + second == count and min(first, second) > 0  # both workers took part
        assert len(handled) == len(set(handled)) == count
        assert await Ticket.all().count() == count
        keys = await Ticket.all().values_list("key", flat=True)
        assert len(set(keys)) == count
        assert await InboxEvent.filter(status="done").count() == count
    finally:
        await db.close()


# -- the migration ---------------------------------------------------------------------------------------


async def _upgrade_from_0001(url: str) -> None:
    from tortoise.migrations.api import migrate as run_migrations

    await run_migrations(config=db.tortoise_config(url), target="models.0001_initial")
    from tortoise import Tortoise

    await Tortoise.close_connections()
    await db.init(url)
    try:
        # Rows written with 0001's columns (today's models have columns 0001 lacks).
        conn = connections.get("default")
        await conn.execute_script(
            "INSERT INTO calendar (name, timezone, hours, holidays) VALUES ('office', 'UTC', '{}', '[]');"
            "INSERT INTO contract (name, calendar_id, warn_at, targets) VALUES ('gold', 1, 0.75, '{}');"
            "INSERT INTO customer (key, name, contract_id, next_number) VALUES ('ACME', 'Acme Oy', 1, 1);"
            "INSERT INTO customer (key, name, contract_id, next_number) VALUES ('GLOBEX', 'Globex', 1, 1);")
        with pytest.raises(Exception):  # noqa: B017 (the driver's "no such table")
            await conn.execute_query("SELECT count(*) FROM inbox")
    finally:
        await db.close()
    await db.migrate(url)
    await db.init(url)
    try:
        assert await Customer.all().count() == 2  # the data from before the upgrade is still there
        assert await InboxEvent.all().count() == 0
        assert (await Contract.get(name="gold")).hours is None  # no hour bank until the config sets one
        assert await TimeEntry.all().count() == 0
    finally:
        await db.close()


async def test_upgrade_from_0001_on_sqlite(tmp_path: Path) -> None:
    await _upgrade_from_0001(f"sqlite://{tmp_path / 'old.sqlite3'}")


@pytest.mark.postgres
async def test_upgrade_from_0001_on_postgres() -> None:
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL not set")
    name, url = await _pg_database()
    try:
        await _upgrade_from_0001(url)
    finally:
        await _pg_drop(name)




async def test_healthz_reports_the_inbox_lag(database: str, clock: FakeClock) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from chatdesk.server import build_app
    from chatdesk.settings import Settings

    app = build_app(Settings(database_url=database, config_path=ORG_YAML), clock, manage_db=False,
                    run_workers=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with client.get("/healthz") as resp:
            assert (await resp.json())["inbox_lag_seconds"] == 0
        await desk_with_inbox(clock).accept_message(message(1))
        clock.advance(seconds=4)
        async with client.get("/healthz") as resp:
            data = await resp.json()
        assert data["inbox_lag_seconds"] == 4.0 and data["outbox_lag_seconds"] == 0


def test_stored_rows_written_before_the_type_adapter_still_read() -> None:
    """Rows queued by an older version (isoformat offsets, keys left out) deserialise the same."""
    old = ('{"event_id": "Ev1", "actor": {"platform": "slack", "tenant": "T", "user_id": "U"}, '
           '"place": {"platform": "slack", "tenant": "T", "channel": "C", "thread": null}, "message_id": "1.0", '
           '"text": "hi", "files": [{"name": "a.png"}], "sent_at": "2026-11-23T07:00:00+00:00"}')
    msg = inbox.deserialise(old)
    assert msg.actor.platform is Platform.SLACK and msg.files[0].name == "a.png"
    assert msg.sent_at is not None and msg.sent_at.utcoffset() is not None
    assert inbox.deserialise(inbox.serialise(msg)) == msg
