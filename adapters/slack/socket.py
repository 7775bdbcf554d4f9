"""Slack over Socket Mode: the same listeners as POST /slack/events, over a websocket that
chatdesk opens to Slack, so no public URL is needed. The inbox and outbox workers (and the
SLA reminder worker, when present) run beside it, as they do under `chatdesk serve`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack.app import SlackAdapter
from bot.clock import Clock, SystemClock
from bot.core import Helpdesk
from chatdesk.settings import Settings
from storage import db, inbox, outbox

log = logging.getLogger("chatdesk.slack.socket")


class SocketModeError(ValueError):
    """Socket Mode cannot start: the message names the setting to fix."""


def check(settings: Settings) -> None:
    if not settings.slack_bot_token:
        raise SocketModeError("SLACK_BOT_TOKEN is not set: Socket Mode needs the bot token (xoxb-...) "
                              "to read and post messages")
    if not settings.slack_app_token:
        raise SocketModeError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                              "with the connections:write scope (Basic Information -> App-Level Tokens)")
    if not settings.slack_app_token.startswith("xapp-"):
        raise SocketModeError("SLACK_APP_TOKEN: an app-level token starts with xapp- "
                              "(the bot token, xoxb-..., goes in SLACK_BOT_TOKEN)")


async def run_socket_mode(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None,
                          manage_db: bool = True) -> None:
    """Serve Slack over Socket Mode until `stop` is set."""
    check(settings)
    assert settings.slack_app_token
    from chatdesk.server import _extra_workers

    wake = asyncio.Event()
    inbox_wake = asyncio.Event()
    accepted = inbox.Inbox(wake=inbox_wake.set)
    desk = Helpdesk(clock=clock or SystemClock(), on_queued=wake.set, inbox=accepted)
    if manage_db:
        await db.init(settings.database_url)
    adapter = SlackAdapter(settings, desk, socket_mode=True)
    await adapter.start()
    senders = {"slack": adapter.sender}
    workers = [asyncio.create_task(outbox.run_worker(senders, desk.clock, stop, wake=wake)),
               asyncio.create_task(inbox.run_worker(desk.process_inbox_batch, stop, inbox_wake, accepted)),
               *_extra_workers(desk, senders, stop)]
    handler = AsyncSocketModeHandler(adapter.bolt, settings.slack_app_token)
    try:
        await handler.connect_async()
        log.info("connected to Slack over Socket Mode")
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await handler.close_async()
        with contextlib.suppress(Exception):
            await accepted.flush()
        stop.set()
        wake.set()
        inbox_wake.set()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)
        await adapter.close()
        if manage_db:
            await db.close()
