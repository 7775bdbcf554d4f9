"""Slack as the tests see it: a fake Web API that records every call, and a client that
sends correctly signed requests to the real app from chatdesk.server.build_app.

    async with slack_world(clock) as slack:
        response = await slack.http.event(slack.fixture("message_in_shared_channel.json"))
        await slack.drain()                      # deliver the outbox through the real SlackSender
        slack.api.posts("C0ACME")                # what chat.postMessage was asked to post there

The fake can be told to fail a method (`api.fail("chat.postMessage", status=429, retry_after=7)`),
serves files under /files-pri/ to the bot token only, and answers auth.test as the home
workspace's bot (U0BOT / B0BOT in T0HOME).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import Clock
from chatdesk import server
from chatdesk.settings import Settings
from storage import outbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
HOME_TEAM = "T0HOME"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
SLACK_FILES = "https://files.slack.com/"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_text(name))
    return data


def with_event(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of an Events API envelope with fields of the inner event changed
    (`event_id` changes the envelope's)."""
    out = copy.deepcopy(payload)
    if "event_id" in changes:
        out["event_id"] = changes.pop("event_id")
    out["event"].update(changes)
    return out


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class ApiCall:
    method: str
    body: dict[str, Any]
    authorization: str | None
    ok: bool = False  # answered with ok: true
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int
    error: str
    retry_after: float | None
    times: int


class FakeSlackApi:
    """The Slack Web API on 127.0.0.1: records calls, answers like Slack, fails on request."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.failures: dict[str, list[Failure]] = {}
        self.files: dict[str, tuple[bytes, str, float]] = {}
        self.file_requests: list[str] = []
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.socket_url: str | None = None  # what apps.connections.open answers, for Socket Mode tests
        self.socket_envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_connected = asyncio.Event()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        return f"{self.root}api/"

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/"

    async def start(self) -> FakeSlackApi:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/files-pri/{path:.*}", self._file)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls -------------------------------------------------------------------------

    def fail(self, method: str, *, status: int = 429, error: str = "ratelimited", retry_after: float | None = None,
             times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this failure."""
        self.failures.setdefault(method, []).append(Failure(status, error, retry_after, times))

    def serve_file(self, path: str, data: bytes, content_type: str = "application/octet-stream",
                   delay: float = 0.0) -> None:
        """Serve /files-pri/<path> to the bot token."""
        self.files[path] = (data, content_type, delay)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Bodies of chat.postMessage calls that succeeded, optionally to one channel."""
        return [c.body for c in self.calls if c.method == "chat.postMessage" and c.ok
                and (channel is None or c.body.get("channel") == channel)]

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        return [b for b in self.called("chat.postEphemeral") if user is None or b.get("user") == user]

    # -- handlers ------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.content_type == "application/json":
            body = json.loads(raw or "{}")
        else:
            body = dict(parse_qsl(raw, keep_blank_values=True))
        body.update(request.query)
        for key in ("blocks", "metadata", "view"):
            if isinstance(body.get(key), str):
                with suppress(ValueError):
                    body[key] = json.loads(body[key])
        call = ApiCall(method, body, request.headers.get("Authorization"))
        self.calls.append(call)
        queue = self.failures.get(method)
        if queue:
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            headers = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else {}
            return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)
        if call.authorization != f"Bearer {BOT_TOKEN}" and method != "apps.connections.open":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        call.ok = True
        return await self._respond(request, method, self._answer(method, body))

    async def _respond(self, request: web.Request, method: str, answer: dict[str, Any]) -> web.Response:
        """Send the answer; a subclass may hold, lose or drop it to play network faults."""
        return web.json_response(answer)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://example-support.slack.com/", "team": "Example Support",
                    "user": "chatdesk", "team_id": HOME_TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = f"{1795420000 + next(self._ts)}.000100"
            return {"ok": True, "channel": body.get("channel"), "ts": ts,
                    "message": {"type": "message", "text": body.get("text"), "user": BOT_USER, "bot_id": BOT_ID,
                                "ts": ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1795420000 + next(self._ts)}.000200"}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V0FAKE{next(self._ts)}", **(body.get("view") or {})}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url or "ws://127.0.0.1:1/"}
        return {"ok": True}

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.file_requests.append(path)
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        if path not in self.files:
            return web.Response(status=404)
        data, content_type, delay = self.files[path]
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=data, content_type=content_type)


    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, push queued envelopes, record the app's acknowledgements."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A0CHATDESK"}})
        self.socket_connected.set()

        async def push() -> None:
            while True:
                await ws.send_json(await self.socket_envelopes.get())

        pusher = asyncio.create_task(push())
        try:
            async for message in ws:
                if message.type == web.WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(message.data))
        finally:
            pusher.cancel()
        return ws

    async def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the app to acknowledge a Socket Mode envelope."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in self.socket_acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no acknowledgement for envelope {envelope_id}")


class SignedClient:
    """POSTs to /slack/events the way Slack does: v0 HMAC signature over timestamp and body."""

    def __init__(self, client: TestClient, secret: str = SIGNING_SECRET) -> None:
        self.client = client
        self.secret = secret

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
                   retry_num: int | None = None, headers: dict[str, str] | None = None) -> Response:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, secret or self.secret),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            all_headers["X-Slack-Retry-Num"] = str(retry_num)
            all_headers["X-Slack-Retry-Reason"] = "http_timeout"
        all_headers.update(headers or {})
        started = time.perf_counter()
        async with self.client.post("/slack/events", data=body.encode(), headers=all_headers) as resp:
            text = await resp.text()
            return Response(resp.status, text, time.perf_counter() - started, dict(resp.headers))

    async def event(self, payload: dict[str, Any], **kw: Any) -> Response:
        return await self.post(json.dumps(payload), "application/json", **kw)

    async def command(self, form: str | dict[str, str], **kw: Any) -> Response:
        body = form if isinstance(form, str) else urlencode(form)
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def interaction(self, payload: dict[str, Any], **kw: Any) -> Response:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)


@dataclass
class Response:
    status: int
    text: str
    seconds: float
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


class SlackWorld:
    def __init__(self, api: FakeSlackApi, client: TestClient, app: web.Application, clock: Clock) -> None:
        self.api = api
        self.client = client
        self.http = SignedClient(client)
        self.app = app
        self.clock = clock

    @property
    def sender(self) -> Any:
        return self.app[server.SENDERS]["slack"]

    @property
    def adapter(self) -> Any:
        from adapters.slack.app import SLACK

        return self.app[SLACK]

    def fixture(self, name: str) -> dict[str, Any]:
        """A JSON fixture with Slack's file host pointed at the fake."""
        return json.loads(fixture_text(name).replace(SLACK_FILES, self.api.root))

    def command(self, text: str, user: str = "U0LEAD", channel: str = "C0TRIAGE", **extra: str) -> str:
        """slash_command.txt with another text, caller and channel."""
        form = dict(parse_qsl(fixture_text("slash_command.txt"), keep_blank_values=True))
        form.update(text=text, user_id=user, channel_id=channel, **extra)
        form["trigger_id"] = f"{form['trigger_id']}.{next(_triggers)}"
        return urlencode(form)

    async def drain(self) -> int:
        """Deliver everything due now through the Slack sender; returns how many posts went out."""
        sent = 0
        while True:
            n = await outbox.deliver_due({"slack": self.sender}, self.clock.now())
            sent += n
            if not n:
                return sent


_triggers = itertools.count(1)


def settings_for(api: FakeSlackApi, database_url: str) -> Settings:
    return Settings(database_url=database_url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                    slack_api_url=api.url)


@asynccontextmanager
async def slack_world(clock: Clock, database_url: str = "sqlite://:memory:", *, run_workers: bool = False,
                      only_slack: bool = True) -> AsyncIterator[SlackWorld]:
    """The real app (chatdesk.server.build_app) on an open database, Slack pointed at a fake API.

    The database must already be open (the `database` fixture); only_slack leaves the other
    adapters out so these tests depend on nothing but Slack."""
    api = await FakeSlackApi().start()
    adapters = (("slack", "adapters.slack.app"),) if only_slack else server.ADAPTERS
    try:
        with mock.patch.object(server, "ADAPTERS", adapters):
            app = server.build_app(settings_for(api, database_url), clock, manage_db=False,
                                   run_workers=run_workers)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            yield SlackWorld(api, client, app, clock)
        finally:
            await client.close()
    finally:
        await api.close()
