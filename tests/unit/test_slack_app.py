"""adapters/slack/app.py mount() and the sender's classification of Web API failures."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack import app as slack_app
from adapters.slack.sender import SlackSender, delivery_error
from bot.core import Helpdesk
from chatdesk.settings import Settings


def test_mount_is_off_without_credentials() -> None:
    app = web.Application()
    assert slack_app.mount(app, Settings().slack(), Helpdesk()) is None
    assert slack_app.mount(app, Settings(slack_bot_token="xoxb-1").slack(), Helpdesk()) is None
    assert not [r for r in app.router.routes() if r.resource and r.resource.canonical == slack_app.EVENTS_PATH]


def test_mount_serves_events_and_returns_the_sender() -> None:
    app = web.Application()
    sender = slack_app.mount(app, Settings(slack_bot_token="xoxb-1", slack_signing_secret="s").slack(),
                             Helpdesk())
    assert isinstance(sender, SlackSender)
    routes = [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource]
    assert ("POST", slack_app.EVENTS_PATH) in routes
    assert app[slack_app.SLACK].sender is sender


def api_error(status: int, data: dict[str, Any], headers: dict[str, Any] | None = None) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="https://slack.com/api/chat.postMessage",
                                  req_args={}, data=data, headers=headers or {}, status_code=status)
    return SlackApiError("failed", response)


@pytest.mark.parametrize(("status", "data", "headers", "permanent", "retry_after"), [
    (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}, False, 7.0),
    (429, {"ok": False, "error": "ratelimited"}, {"retry-after": ["3"]}, False, 3.0),
    (429, {"ok": False, "error": "ratelimited"}, {}, False, 30.0),
    (500, {"ok": False, "error": "internal_error"}, {}, False, None),
    (503, {}, {}, False, None),
    (200, {"ok": False, "error": "fatal_error"}, {}, False, None),
    (200, {"ok": False, "error": "channel_not_found"}, {}, True, None),
    (200, {"ok": False, "error": "not_in_channel"}, {}, True, None),
    (200, {"ok": False, "error": "invalid_auth"}, {}, True, None),
    (200, {"ok": False, "error": "something_new"}, {}, True, None),
])
def test_delivery_errors(status: int, data: dict[str, Any], headers: dict[str, Any], permanent: bool,
                         retry_after: float | None) -> None:
    error = delivery_error(api_error(status, data, headers))
    assert error.permanent is permanent
    assert error.retry_after == retry_after
