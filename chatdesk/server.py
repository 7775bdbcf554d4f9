"""The one aiohttp server: chat adapters, /healthz, and the background workers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from adapters.email import app as mail_app
from bot.clock import Clock, SystemClock
from bot.core import Helpdesk
from chatdesk import board
from chatdesk.settings import Settings
from storage import db, inbox, outbox

log = logging.getLogger("chatdesk.server")

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DESK: web.AppKey[Helpdesk] = web.AppKey("desk", Helpdesk)
SENDERS: web.AppKey[dict[str, Any]] = web.AppKey("senders", dict[str, Any])
MAX_BODY = 1024 * 1024  # requests over 1 MiB are refused with 413

# Each adapter module offers `mount(app, settings, desk) -> sender or None`.
ADAPTERS = ("adapters.slack.app", "adapters.teams.app", "adapters.email.app")


async def healthz(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    now = desk.clock.now()
    try:
        lag = await outbox.lag_seconds(now)
        inbox_lag = await inbox.lag_seconds(now)
    except Exception as exc:
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        return web.json_response({"status": "error", "database": False, "outbox_lag_seconds": None,
                                  "inbox_lag_seconds": None}, status=503)
    senders: dict[str, Any] = request.app[SENDERS]
    return web.json_response({"status": "ok", "database": True, "outbox_lag_seconds": round(lag, 3),
                              "inbox_lag_seconds": round(inbox_lag, 3), "adapters": sorted(senders)})


def build_app(settings: Settings, clock: Clock | None = None, *, manage_db: bool = True,
              run_workers: bool = True) -> web.Application:
    wake = asyncio.Event()
    inbox_wake = asyncio.Event()
    # Messages go through the inbox when this process runs its worker; without workers (an
    # embedded app, the test harnesses) they are processed in the request, as one transaction.
    accepted = inbox.Inbox(wake=inbox_wake.set) if run_workers else None
    desk = Helpdesk(clock=clock or SystemClock(), on_queued=wake.set, inbox=accepted)
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[DESK] = desk
    senders: dict[str, Any] = {}
    app[SENDERS] = senders
    app.router.add_get("/healthz", healthz)
    board.mount(app, settings, desk.clock)  # GET /board and /board.json for the leads
    for name in ADAPTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        mount = getattr(module, "mount", None)
        if mount is None:
            continue
        sender = mount(app, settings, desk)
        if sender is not None:
            senders[name.split(".")[1]] = sender

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if manage_db:
            await db.init(settings.database_url)
        stop = asyncio.Event()
        tasks = []
        if run_workers:
            tasks.append(asyncio.create_task(outbox.run_worker(senders, desk.clock, stop, wake=wake)))
            tasks.append(asyncio.create_task(inbox.run_worker(desk.process_inbox_one, stop, inbox_wake, accepted)))
            tasks.extend(_extra_workers(desk, senders, stop))
            tasks.extend(mail_app.workers(settings.mail, desk, stop))  # the IMAP poller
        try:
            yield
        finally:
            if accepted is not None:
                await accepted.flush()
            stop.set()
            wake.set()
            inbox_wake.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            if manage_db:
                await db.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def _extra_workers(desk: Helpdesk, senders: dict[str, Any], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Background workers that live beside the outbox (the SLA reminder worker)."""
    try:
        reminders = importlib.import_module("bot.reminders")
    except ModuleNotFoundError:
        return []
    return [asyncio.create_task(reminders.run(desk, stop))]
