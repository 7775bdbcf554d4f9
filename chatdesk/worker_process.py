"""`chatdesk serve` as two processes: the web server acknowledges, the worker process makes tickets.

One Python process uses one core. Acknowledging Slack and Teams (checking signatures, one insert
into the inbox) and turning inbox rows into tickets and posts each want most of one, so under
load one process starved the other: while a burst arrived, tickets were made at a fifth of the
rate they were made after it. Now the web server's runtime only accepts, and a child process
runs the inbox, outbox, reminder, retention and mail workers on the same database.

The web server wakes the child through its standard input, a byte per wake: `i` when new inbox
rows are committed (or landed: storage/landing.py). The child runs at a lower priority
(worker_niceness). The web server delivers the outbox itself: once a burst is acknowledged it has
a core to spare, and the child then makes tickets at its full rate. The child wakes it with `o`,
through a pipe of its own (CHATDESK_WAKE_FD), when it queues posts. The child stops when its
standard input closes, so it never outlives the web server, even one killed outright; a child
that exits while the web server runs is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from chatdesk.runtime import STOP_TIMEOUT, Runtime
from storage.db import is_postgres

if TYPE_CHECKING:
    from chatdesk.settings import Settings

log = logging.getLogger("chatdesk.server")

WAKE_INBOX = b"i"  # inbox rows committed
WAKE_OUTBOX = b"o"  # posts queued (from the worker process)
WAKE_FD = "CHATDESK_WAKE_FD"  # the worker process's end of the pipe that wakes the web server's outbox
RESTART_DELAY = 1.0  # seconds before a worker process that exited is started again
MAX_RESTART_DELAY = 30.0  # one that keeps dying soon after its start waits twice as long each time, up to this
STEADY = 10.0  # seconds a worker process must have run for its next restart to wait RESTART_DELAY again
# The worker process yields the processor to the web server when both want it: Slack waits for the
# web server's answer (and retries after 3 s), while a ticket made 10 ms later is not noticed. How
# much is a balance, measured on 2 cores during a burst of 1,500 events: the lower the worker's
# priority, the faster the answers and the fewer tickets made while the burst lasts. On PostgreSQL
# the worker's queries also run in the database's own processes, at full priority: there 3 kept
# the answers at 0.37-0.52x a bare insert's rate (2 gave 0.27-0.30x); on SQLite 2 gave 0.37-0.56x.
WORKER_NICENESS = 2
WORKER_NICENESS_POSTGRES = 3


def worker_niceness(database_url: str) -> int:
    return WORKER_NICENESS_POSTGRES if is_postgres(database_url) else WORKER_NICENESS


class WorkerProcess:
    """The web server's side: starts the worker process, wakes it, restarts it, stops it."""

    def __init__(self, host: str) -> None:
        self.argv = [sys.executable, "-m", "chatdesk.cli", "serve", "--role", "worker", "--host", host]
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._queued: Callable[[], None] = lambda: None
        self._wakes: asyncio.ReadTransport | None = None

    def wake_inbox(self) -> None:
        self._send(WAKE_INBOX)

    def _send(self, signal: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return  # a worker process starting or restarting looks at the inbox first anyway
        with contextlib.suppress(ConnectionError, RuntimeError):
            process.stdin.write(signal)

    async def start(self, queued: Callable[[], None]) -> None:
        """Start the worker process; `queued` is called when it has queued posts."""
        self._stopping = False
        self._queued = queued
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        read, write = os.pipe()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, env={**os.environ, WAKE_FD: str(write)},
                pass_fds=(write,))
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        if self._wakes is not None:
            self._wakes.close()
        self._wakes, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: _Wakes(self._queued), os.fdopen(read, "rb", buffering=0))
        log.info("worker process %s started", self._process.pid)

    async def _supervise(self) -> None:
        delay = RESTART_DELAY
        while not self._stopping and self._process is not None:
            started = time.monotonic()
            code = await self._process.wait()
            if self._stopping:
                return
            delay = RESTART_DELAY if time.monotonic() - started >= STEADY else min(delay * 2, MAX_RESTART_DELAY)
            log.error("worker process exited with %s; starting it again in %.0f s (messages wait in the inbox)",
                      code, delay)
            await asyncio.sleep(delay)  # a Ctrl-C reaches both processes: the server is stopping too
            if self._stopping:
                return
            await self._spawn()

    async def stop(self) -> None:
        """Close its standard input, give its workers time to finish their items, then end it."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        process = self._process
        if self._wakes is not None:
            self._wakes.close()
            self._wakes = None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT + 5)
        except TimeoutError:
            log.warning("worker process %s did not stop in time; killing it", process.pid)
            process.kill()
            await process.wait()


class _Wakes(asyncio.Protocol):
    """The web server's end of the worker process's wake pipe."""

    def __init__(self, queued: Callable[[], None]) -> None:
        self.queued = queued

    def data_received(self, data: bytes) -> None:
        if WAKE_OUTBOX in data:
            self.queued()


def wake_web_server() -> Callable[[], None]:
    """In the worker process: a call that wakes the web server's outbox (CHATDESK_WAKE_FD)."""
    fd = int(os.environ[WAKE_FD])
    os.set_blocking(fd, False)

    def queued() -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError):  # a full pipe will wake it anyway
            os.write(fd, WAKE_OUTBOX)

    return queued


async def follow_wakes(runtime: Runtime, stop: asyncio.Event, source: IO[Any] | None = None) -> None:
    """The worker process's side: wake its workers as standard input (`source`) says; `stop` at its end."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), source or sys.stdin)
        while chunk := await reader.read(4096):
            if WAKE_INBOX in chunk:
                runtime.inbox_wake.set()
    finally:
        stop.set()  # the web server is gone (or stopping): so are we


def run_worker(settings: Settings) -> None:
    """The worker process: the server's runtime and adapters (to send posts) without its HTTP site."""
    from aiohttp import web

    from chatdesk.lifecycle import stop_on_signals
    from chatdesk.server import RUNTIME, build_app

    with contextlib.suppress(OSError):
        os.nice(worker_niceness(settings.database_url))

    async def main() -> None:
        app = build_app(settings, queued=wake_web_server())
        runtime = app[RUNTIME]
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()  # opens the database and starts the workers
        stop = stop_on_signals()
        wakes = asyncio.create_task(follow_wakes(runtime, stop))
        try:
            await stop.wait()
        finally:
            wakes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wakes
            await runner.cleanup()

    asyncio.run(main())
