"""One desk and its background workers (inbox, outbox, SLA reminders, the mailbox poller), started and
stopped the same way under `chatdesk serve` and `chatdesk socket`.

`chatdesk serve` runs them in a process of their own beside the web server (chatdesk/worker_process.py),
so acknowledging the platforms and making tickets each have a core: the web server's runtime then
has `elsewhere` set, accepts into the inbox, wakes that process and delivers the outbox itself (the
one core-hungry job the web server has time for once a burst is acknowledged); the worker
process's runtime has `queued` set and runs every worker but the outbox, which it wakes instead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, Protocol

from adapters.email import app as mail_app
from adapters.email.config import MailConfig
from bot import reminders
from bot.clock import Clock, SystemClock
from bot.core import Helpdesk
from kb import service as kb_service
from storage import db, inbox, outbox, retention

STOP_TIMEOUT = 10  # seconds each worker gets to finish its current item on shutdown
# Inbox workers per process on PostgreSQL: a ticket is a dozen round trips, and while one worker
# waits for the database another works (SKIP LOCKED keeps them apart). SQLite has one writer.
POSTGRES_INBOX_WORKERS = 4


class Background(Protocol):
    """Workers that run somewhere else (another process) and are woken from here."""

    def wake_inbox(self) -> None: ...

    async def start(self, queued: Callable[[], None]) -> None: ...

    async def stop(self) -> None: ...


class Runtime:
    """A Helpdesk wired to its workers. Without workers (an embedded app, the test harnesses) messages
    are processed in the request, as one transaction; with them they go through the inbox."""

    def __init__(self, clock: Clock | None = None, *, workers: bool = True,
                 keep: timedelta = retention.OUTBOX_RETENTION, mail: MailConfig | None = None,
                 elsewhere: Background | None = None, queued: Callable[[], None] | None = None) -> None:
        self.outbox_wake = asyncio.Event()
        self.inbox_wake = asyncio.Event()
        self.elsewhere = elsewhere
        wake_inbox = elsewhere.wake_inbox if elsewhere else self.inbox_wake.set
        self.inbox = inbox.Inbox(wake=wake_inbox) if workers or elsewhere else None
        self.queued = queued  # in the worker process: wakes the web server's outbox
        self.desk = Helpdesk(clock=clock or SystemClock(), on_queued=queued or self.outbox_wake.set, inbox=self.inbox)
        self.senders: dict[str, Any] = {}  # platform -> sender, filled by the adapters
        self.workers = workers
        self.keep = keep  # how long processed inbox rows and delivered posts are kept
        self.mail = mail  # with CHATDESK_SMTP_URL replies go out by mail; with CHATDESK_IMAP_URL mail comes in
        mail_sender = mail_app.sender(mail)
        if mail_sender is not None:
            self.senders["email"] = mail_sender
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self.workers and not self.elsewhere:
            return
        self._stop.clear()
        deliver = [] if self.queued else [
            asyncio.create_task(outbox.run_worker(self.senders, self.desk.clock, self._stop, wake=self.outbox_wake,
                                                  busy=self.inbox.busy if self.inbox else None))]
        if self.elsewhere:
            self._tasks = deliver
            return
        kb_service.start()  # loads the saved knowledge-base index (or builds it) in the background
        postgres = db.dialect() == "postgres"
        inbox_workers = POSTGRES_INBOX_WORKERS if postgres else 1
        self._tasks = [
            *deliver,
            *(asyncio.create_task(inbox.run_worker(self.desk.process_inbox_batch, self._stop, self.inbox_wake,
                                                   self.inbox))
              for _ in range(inbox_workers)),
            asyncio.create_task(reminders.run(self.desk, self._stop)),
            asyncio.create_task(retention.run_worker(self.desk.clock, self._stop, keep=self.keep)),
            *mail_app.workers(self.mail, self.desk, self._stop),
        ]

    async def stop(self) -> None:
        """Store what the inbox holds, then let each worker finish its current item."""
        if self.inbox is not None:
            with contextlib.suppress(Exception):
                await self.inbox.flush()
        if self.elsewhere is not None:
            await self.elsewhere.stop()
        self._stop.set()
        self.outbox_wake.set()
        self.inbox_wake.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=STOP_TIMEOUT)
        self._tasks = []
        await kb_service.stop()

    @contextlib.asynccontextmanager
    async def running(self, database_url: str | None) -> AsyncIterator[Runtime]:
        """The database opened (when a URL is given), the workers running, for the body's duration."""
        if database_url:
            await db.init(database_url)
        try:
            self.start()
            if self.elsewhere is not None:
                await self.elsewhere.start(self.outbox_wake.set)
            try:
                yield self
            finally:
                await self.stop()
        finally:
            if database_url:
                await db.close()
