"""Slack over Socket Mode: the same listeners as POST /slack/events, over a websocket that
chatdesk opens to Slack, so no public URL is needed (chatdesk.runtime runs the workers beside it)."""

from __future__ import annotations

import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack.app import SlackAdapter
from adapters.slack.config import SlackConfig

log = logging.getLogger("chatdesk.slack.socket")


class SocketModeError(ValueError):
    """Socket Mode cannot start: the message names the setting to fix."""


def check(config: SlackConfig) -> str:
    """The app-level token, or SocketModeError naming what is missing."""
    if not config.bot_token:
        raise SocketModeError("SLACK_BOT_TOKEN is not set: Socket Mode needs the bot token (xoxb-...) "
                              "to read and post messages")
    if not config.app_token:
        raise SocketModeError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                              "with the connections:write scope (Basic Information -> App-Level Tokens)")
    if not config.app_token.startswith("xapp-"):
        raise SocketModeError("SLACK_APP_TOKEN: an app-level token starts with xapp- "
                              "(the bot token, xoxb-..., goes in SLACK_BOT_TOKEN)")
    return config.app_token


class SocketConnection:
    """The websocket to Slack that feeds one adapter's listeners."""

    def __init__(self, adapter: SlackAdapter, app_token: str) -> None:
        self.handler = AsyncSocketModeHandler(adapter.bolt, app_token)

    async def connect(self) -> None:
        await self.handler.connect_async()
        log.info("connected to Slack over Socket Mode")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.handler.close_async()
