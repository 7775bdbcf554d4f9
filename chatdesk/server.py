"""The one aiohttp server: chat adapters, /healthz and the board, with the runtime's background workers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.core import Helpdesk
from chatdesk import board
from chatdesk.runtime import Background, Runtime
from chatdesk.settings import Settings
from storage import inbox, outbox

log = logging.getLogger("chatdesk.server")

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DESK: web.AppKey[Helpdesk] = web.AppKey("desk", Helpdesk)
SENDERS: web.AppKey[dict[str, Any]] = web.AppKey("senders", dict[str, Any])
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
MAX_BODY = 1024 * 1024  # requests over 1 MiB are refused with 413

# (platform, module): each module offers `mount(app, config, desk) -> sender or None`, its config
# the platform's small typed part of the settings (Settings.slack(), Settings.teams()).
ADAPTERS = (("slack", "adapters.slack.app"), ("teams", "adapters.teams.app"))


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
              run_workers: bool = True, background: Background | None = None,
              queued: Callable[[], None] | None = None) -> web.Application:
    """The server; with `background` its workers (all but the outbox) run there, in another process;
    with `queued`, this is that process: it wakes the web server's outbox."""
    runtime = Runtime(clock, workers=run_workers, keep=timedelta(days=settings.retention_days),
                      mail=settings.mail(), elsewhere=background, queued=queued)
    desk = runtime.desk
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[DESK] = desk
    app[SENDERS] = runtime.senders
    app.router.add_get("/healthz", healthz)
    board.mount(app, settings, desk.clock)  # GET /board and /board.json for the leads
    configs = {"slack": settings.slack(), "teams": settings.teams()}
    for name, module_name in ADAPTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        sender = module.mount(app, configs[name], desk)
        if sender is not None:
            runtime.senders[name] = sender

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with runtime.running(settings.database_url if manage_db else None):
            yield

    app.cleanup_ctx.append(lifecycle)
    return app
