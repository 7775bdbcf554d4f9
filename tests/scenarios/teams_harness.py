"""Plays Teams: activities POSTed to chatdesk's /api/messages, a fake Bot Framework connector behind.

The fake connector records every /v3/conversations/... call (path and JSON) and can
answer 429 or 5xx a given number of times. Activities come from the recorded shapes
in tests/fixtures/teams/, with serviceUrl pointed at the fake. The server runs in
emulator mode (CHATDESK_TEAMS_EMULATOR, no MICROSOFT_APP_ID) unless told otherwise; the outbox is delivered
explicitly with `deliver()` so tests are deterministic.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FakeClock
from chatdesk.server import SENDERS, build_app
from chatdesk.settings import Settings
from storage import outbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teams"
RECORDED_SERVICE_URL = "https://smba.trafficmanager.net/emea/"
TENANT = "6f1c2a4e-0d3b-4c8e-9a57-2b1e8d4f0acd"
ACME = "19:acme@thread.tacv2"
TRIAGE = "19:triage@thread.tacv2"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Call:
    method: str
    path: str  # decoded, relative to the serviceUrl: /v3/conversations/19:acme@thread.tacv2;messageid=1/activities
    body: dict[str, Any]
    status: int

    @property
    def conversation(self) -> str | None:
        parts = self.path.split("/")
        return parts[3] if len(parts) > 3 else None

    @property
    def text(self) -> str:
        """Everything a person would read in the posted activity (text and card), for assertions."""
        activity = self.body.get("activity", self.body) if self.path == "/v3/conversations" else self.body
        return json.dumps(activity, ensure_ascii=False)

    @property
    def card(self) -> dict[str, Any] | None:
        activity = self.body.get("activity", self.body) if self.path == "/v3/conversations" else self.body
        for att in activity.get("attachments") or ():
            if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return att["content"]  # type: ignore[no-any-return]
        return None


@dataclass
class FakeConnector:
    """The Bot Framework connector a bot posts to (serviceUrl), recording what it was sent."""

    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    server: TestServer | None = None
    ids: itertools.count = field(default_factory=lambda: itertools.count(1795500000000))  # type: ignore[type-arg]
    # The roster a GET /v3/conversations/{id}/members answers with; conversations not listed get 404.
    rosters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Bodies larger than this get 413, as Teams answers messages over its 28 KB limit (None: no limit).
    max_bytes: int | None = None

    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` calls with `status` (and a Retry-After header when given)."""
        self.failures.extend([(status, retry_after)] * times)

    @property
    def service_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/teams/"))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def posts(self, conversation: str | None = None) -> list[Call]:
        """Successful posts, optionally only those into one conversation (a thread id includes ;messageid=)."""
        return [c for c in self.calls if c.status < 300 and c.method != "GET"
                and (conversation is None or c.conversation == conversation)]

    def created(self) -> list[Call]:
        """Successful create-conversation calls (new channel threads and 1:1 chats)."""
        return [c for c in self.calls if c.status < 300 and c.path == "/v3/conversations"]

    def take(self) -> list[Call]:
        out, self.calls[:] = list(self.calls), []
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        path = path[path.index("/v3/"):] if "/v3/" in path else path
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if self.max_bytes is not None and len(raw) > self.max_bytes:
            self.calls.append(Call(request.method, path, body, 413))
            return web.json_response({"error": {"code": "MessageSizeTooBig", "message": "too big"}}, status=413)
        if self.failures:
            status, wait = self.failures.pop(0)
            self.calls.append(Call(request.method, path, body, status))
            headers = {"Retry-After": str(int(wait) if float(wait).is_integer() else wait)} if wait else {}
            return web.json_response({"error": {"code": "Throttled" if status == 429 else "ServiceError",
                                                "message": "fake failure"}}, status=status, headers=headers)
        if request.method == "GET" and path.endswith("/members"):
            roster = self.rosters.get(path.split("/")[3])
            self.calls.append(Call(request.method, path, body, 404 if roster is None else 200))
            if roster is None:
                return web.json_response({"error": {"code": "NotFound", "message": "no roster"}}, status=404)
            return web.json_response(roster)
        self.calls.append(Call(request.method, path, body, 201))
        new_id = str(next(self.ids))
        if path == "/v3/conversations":
            channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
            if channel:
                return web.json_response({"id": f"{channel};messageid={new_id}", "activityId": new_id}, status=201)
            member = ((body.get("members") or [{}])[0]).get("id", "someone")
            return web.json_response({"id": f"a:personal-{member}", "activityId": new_id}, status=201)
        return web.json_response({"id": new_id}, status=201)


class TeamsWorld:
    """chatdesk's server (build_app) with Teams pointed at a FakeConnector."""

    def __init__(self, clock: FakeClock, db_url: str, app_id: str = "", app_password: str = "") -> None:
        self.clock = clock
        self.connector = FakeConnector()
        self.settings = Settings(database_url=db_url, microsoft_app_id=app_id, microsoft_app_password=app_password,
                                 teams_emulator=not app_id, host="127.0.0.1")
        self.app = build_app(self.settings, clock, manage_db=False, run_workers=False)
        self.client: TestClient | None = None  # type: ignore[type-arg]
        self._ids = itertools.count(1795600000000)

    async def start(self) -> TeamsWorld:
        await self.connector.start()
        self.client = TestClient(TestServer(self.app))
        await self.client.start_server()
        return self

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        await self.connector.close()

    def activity(self, name: str, **changes: Any) -> dict[str, Any]:
        """A recorded activity with serviceUrl at the fake connector and top-level keys replaced."""
        activity = copy.deepcopy(fixture(name))
        activity["serviceUrl"] = self.connector.service_url
        activity.update(changes)
        return activity

    def message(self, name: str, text: str, **changes: Any) -> dict[str, Any]:
        """A recorded message with new text and a fresh id (another message of the same shape)."""
        activity = self.activity(name, text=text, id=str(next(self._ids)), **changes)
        activity.pop("attachments", None)
        if "<at>" not in text:
            activity["entities"] = [e for e in activity.get("entities", []) if e.get("type") != "mention"]
        return activity

    async def post(self, activity: dict[str, Any] | bytes | str, headers: dict[str, str] | None = None) -> int:
        """POST to /api/messages and return the HTTP status."""
        assert self.client is not None
        data = activity if isinstance(activity, bytes | str) else json.dumps(activity)
        response = await self.client.post("/api/messages", data=data,
                                          headers={"Content-Type": "application/json", **(headers or {})})
        await response.read()
        return response.status

    async def deliver(self) -> int:
        """Deliver everything the outbox has due now through the TeamsSender; returns how many went out."""
        senders = {"teams": self.app[SENDERS]["teams"]}
        total = 0
        while sent := await outbox.deliver_due(senders, self.clock.now()):
            total += sent
        return total
