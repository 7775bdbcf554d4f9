"""The fake Slack Web API with a memory: what chatdesk posts can be read back, as from Slack.

It is tests/scenarios/slack_harness.py's FakeSlackApi (calls recorded, `fail()` for 429 and
5xx answers), plus:

- every successful chat.postMessage is kept per channel with its message metadata; a post to
  a user id lands in that user's DM channel (`D` + the user id without its `U`), as in Slack;
- conversations.replies (a thread, oldest first), conversations.history (a channel's
  top-level messages, newest first) with oldest/latest/limit/cursor, and conversations.open,
  answering metadata only with include_all_metadata=true, as Slack does;
- faults that happen after Slack has posted: `lose_answers` (posted, then answered 503),
  `drop_answers` (posted, then the connection closed without an answer) and `hold_next_post`
  (posted, then the answer waits until released: a test kills the poster meanwhile).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.scenarios.slack_harness import BOT_ID, BOT_USER, FakeSlackApi


def ts_value(ts: str) -> Decimal:
    return Decimal(ts)


@dataclass
class HeldPost:
    """A post that Slack made and whose answer waits: who asked (their address) and the message."""

    peer: tuple[str, int]
    message: dict[str, Any]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class SlackWithHistory(FakeSlackApi):
    """A fake Web API on 127.0.0.1 that keeps posts and answers history reads."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.now = now or time.time  # the clock message ts come from
        self.channels: dict[str, list[dict[str, Any]]] = defaultdict(list)  # channel -> messages, oldest first
        self.lose_answers = 0  # the next N posts are stored and answered 503
        self.drop_answers = 0  # the next N posts are stored and their connection closed unanswered
        self.lost: list[dict[str, Any]] = []  # messages posted whose answer was lost or dropped
        self.held: HeldPost | None = None
        self._seq = itertools.count(1)

    async def start(self) -> SlackWithHistory:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    # -- test controls -------------------------------------------------------------------------

    def hold_next_post(self) -> HeldPost:
        """Post the next chat.postMessage, then keep its answer until `release` is set."""
        self.held = HeldPost(("", 0), {})
        return self.held

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every message posted (optionally in one channel), with its channel."""
        chans = [channel] if channel else list(self.channels)
        return [{**m, "channel": c} for c in chans for m in self.channels.get(c, [])]

    def by_key(self) -> dict[str, list[dict[str, Any]]]:
        """Posted messages by the dedupe key in their metadata."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in self.messages():
            key = ((m.get("metadata") or {}).get("event_payload") or {}).get("dedupe")
            out[key or ""].append(m)
        return out

    # -- the API -------------------------------------------------------------------------------

    async def _respond(self, request: web.Request, method: str, answer: dict[str, Any]) -> web.Response:
        if method == "chat.postMessage" and answer.get("ok"):
            return await self._after_post(request, answer)
        return web.json_response(answer)

    async def _after_post(self, request: web.Request, answer: dict[str, Any]) -> web.Response:
        if self.held is not None and not self.held.arrived.is_set():
            held = self.held
            held.peer = request.transport.get_extra_info("peername") if request.transport else ("", 0)
            held.message = answer["message"]
            held.arrived.set()
            await held.release.wait()
            self.lost.append(answer["message"])
            return web.json_response(answer)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            self.lost.append(answer["message"])
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        if self.drop_answers > 0:
            self.drop_answers -= 1
            self.lost.append(answer["message"])
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more is written on the dropped connection
        return web.json_response(answer)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            return self._post(body)
        if method == "conversations.open":
            user = str(body.get("users") or "").split(",")[0]
            if not user:
                return {"ok": False, "error": "users_list_not_supplied"}
            return {"ok": True, "channel": {"id": dm_channel(user)}}
        if method == "conversations.replies":
            return self._read(body, thread=str(body.get("ts") or ""))
        if method == "conversations.history":
            return self._read(body, thread=None)
        return super()._answer(method, body)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if channel.startswith(("U", "W")):
            channel = dm_channel(channel)
        now = self.now()
        ts = f"{int(now)}.{next(self._seq) % 1_000_000:06d}"
        message: dict[str, Any] = {"type": "message", "text": body.get("text"), "user": BOT_USER, "bot_id": BOT_ID,
                                   "ts": ts}
        if body.get("thread_ts"):
            message["thread_ts"] = str(body["thread_ts"])
        if isinstance(body.get("metadata"), dict):
            message["metadata"] = body["metadata"]
        self.channels[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _read(self, body: dict[str, Any], thread: str | None) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if channel not in self.channels and not channel.startswith(("C", "D", "G")):
            return {"ok": False, "error": "channel_not_found"}
        if thread is not None and not thread:
            return {"ok": False, "error": "thread_not_found"}
        inclusive = str(body.get("inclusive", "0")).lower() in ("1", "true")
        oldest = ts_value(str(body["oldest"])) if body.get("oldest") else None
        latest = ts_value(str(body["latest"])) if body.get("latest") else None
        with_metadata = str(body.get("include_all_metadata", "0")).lower() in ("1", "true")
        limit = max(1, min(int(body.get("limit") or 100), 999))
        start = int(body.get("cursor") or 0)

        def wanted(m: dict[str, Any]) -> bool:
            if thread is not None:
                in_place = m["ts"] == thread or m.get("thread_ts") == thread
            else:
                in_place = "thread_ts" not in m or m["thread_ts"] == m["ts"]
            value = ts_value(m["ts"])
            after = oldest is None or value > oldest or (inclusive and value == oldest)
            before = latest is None or value < latest or (inclusive and value == latest)
            return in_place and after and before

        found = [m for m in self.channels.get(channel, []) if wanted(m)]
        if thread is None:
            found.reverse()  # history: newest first
        page = found[start:start + limit]
        if not with_metadata:
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(found)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}


def dm_channel(user: str) -> str:
    return "D" + user[1:]
