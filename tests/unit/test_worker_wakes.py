"""The worker process follows the web server's wakes: new inbox rows, queued posts, and accepts
waiting to be written (which a worker on SQLite makes way for between batches)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from bot.clock import FakeClock
from chatdesk.runtime import Runtime
from chatdesk.worker_process import WAKE_FD, _Wakes, follow_wakes, wake_web_server
from storage import inbox
from storage.inbox import RemoteAccepts
from tests.unit.test_inbox import desk_with_inbox, message
from tests.unit.test_sqlite_engine import _writer_held_by_another_process


async def test_each_byte_sets_its_wake_and_the_end_of_input_stops_the_worker() -> None:
    runtime = Runtime(workers=False)
    accepts = RemoteAccepts()
    stop = asyncio.Event()
    read, write = os.pipe()
    with os.fdopen(read, "rb", buffering=0) as source:
        follower = asyncio.create_task(follow_wakes(runtime, accepts, stop, source))
        os.write(write, b"w")
        await asyncio.sleep(0.05)
        assert accepts.waiting() and not runtime.inbox_wake.is_set()
        os.write(write, b"i")
        await asyncio.sleep(0.05)
        assert not accepts.waiting() and runtime.inbox_wake.is_set() and not stop.is_set()
        os.write(write, b"iw")  # a write done and the next one waiting already
        await asyncio.sleep(0.05)
        assert accepts.waiting() and accepts._writes == 2
        os.close(write)
        await asyncio.wait_for(follower, timeout=5)
    assert stop.is_set()


async def test_the_worker_process_wakes_the_web_servers_outbox_through_its_pipe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    monkeypatch.setenv(WAKE_FD, str(write))
    woken = asyncio.Event()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: _Wakes(woken.set), os.fdopen(read, "rb", buffering=0))
    try:
        queued = wake_web_server()
        queued()
        await asyncio.wait_for(woken.wait(), timeout=5)
    finally:
        transport.close()
        os.close(write)


async def test_the_worker_waits_for_a_waiting_write_only_on_sqlite_and_only_until_it_is_written(
        any_database: str) -> None:
    accepts = RemoteAccepts()
    await asyncio.wait_for(accepts.make_way(1.0), timeout=0.05)  # nothing waits: no wait at all
    accepts.writing()
    waiting = asyncio.create_task(accepts.make_way(1.0))
    await asyncio.sleep(0.02)
    if any_database.startswith("sqlite"):
        assert not waiting.done()
        accepts.written()
    else:
        assert waiting.done()  # PostgreSQL locks rows: the web server's insert never waits for a batch
    await asyncio.wait_for(waiting, timeout=1)


async def test_while_writes_keep_coming_the_worker_waits_for_one_of_them_not_for_a_pause(database: str) -> None:
    accepts = RemoteAccepts()
    accepts.writing()
    waiting = asyncio.create_task(accepts.make_way(0.01))
    await asyncio.sleep(0.01)
    accepts.written()
    accepts.writing()  # the next accepts wait at once: a busy web server never stops writing
    await asyncio.wait_for(waiting, timeout=0.05)
    assert accepts.waiting()


async def test_a_batch_ends_after_its_share_once_accepts_wait(database: str, clock: FakeClock,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox, "BATCH_SECONDS", 60.0)
    monkeypatch.setattr(inbox, "SHARE_SECONDS", 0.0)
    desk = desk_with_inbox(clock)
    for n in range(1, 6):
        await desk.accept_message(message(n))
    assert await desk.process_inbox_batch(yield_to=lambda: True) == 1
    assert await desk.process_inbox_batch(yield_to=lambda: False) == 4


async def test_the_worker_goes_on_once_the_web_server_has_the_database(database: str) -> None:
    accepts = RemoteAccepts()
    accepts.writing()
    fd = _writer_held_by_another_process(database)  # the web server's write has begun
    try:
        started = time.monotonic()
        await asyncio.wait_for(accepts.make_way(0.01), timeout=1)
        assert time.monotonic() - started < inbox.MAX_REST / 2
    finally:
        os.close(fd)
