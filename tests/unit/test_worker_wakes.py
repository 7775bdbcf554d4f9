"""The worker process follows the web server's wakes (new inbox rows) and wakes its outbox (queued posts)."""

from __future__ import annotations

import asyncio
import os

import pytest

from chatdesk.runtime import Runtime
from chatdesk.worker_process import WAKE_FD, _Wakes, follow_wakes, wake_web_server


async def test_an_i_sets_the_inbox_wake_and_the_end_of_input_stops_the_worker() -> None:
    runtime = Runtime(workers=False)
    stop = asyncio.Event()
    read, write = os.pipe()
    with os.fdopen(read, "rb", buffering=0) as source:
        follower = asyncio.create_task(follow_wakes(runtime, stop, source))
        os.write(write, b"x")  # not a wake
        await asyncio.sleep(0.05)
        assert not runtime.inbox_wake.is_set()
        os.write(write, b"i")
        await asyncio.sleep(0.05)
        assert runtime.inbox_wake.is_set() and not stop.is_set()
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
