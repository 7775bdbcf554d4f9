"""The leads' board: GET /board and /board.json over HTTP, then the page in headless Chromium
(live refresh, nothing loaded from elsewhere, a screenshot in test-output/)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FakeClock
from chatdesk.server import build_app
from chatdesk.settings import Settings
from tests.conftest import ORG_YAML
from tests.scenarios.console_driver import ConsoleWorld

TOKEN = "test-board-token-0123456789"  # tests/fixtures/org.yaml board.tokens
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


async def play_queues(world: ConsoleWorld) -> None:
    """Olli: ACME-3 (#1, ok), ACME-1 (#2, P2, under 25 % left), ACME-2 (waiting: paused);
    Sanna: ACME-4 (P1, breached); ACME-5 unassigned."""
    customer = await world.person("customer:ACME")
    for text in ("Mail bounces", "Wiki is down", "VPN is slow", "Payroll export fails"):
        await customer.say(":top")
        await customer.say(text)
    maija = await world.person("lead:maija")
    for key in ("ACME-1", "ACME-2", "ACME-3"):
        await maija.say(f"/helpdesk assign {key} @olli")
    await maija.say("/helpdesk assign ACME-4 @sanna")
    await maija.say("/helpdesk rank @olli ACME-3 ACME-1")
    await maija.say("/helpdesk priority ACME-4 P1")  # first response within 30 minutes
    await maija.say("/helpdesk priority ACME-1 P2")  # first response within 60 minutes
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk wait ACME-2 Which wiki page?")
    world.clock.advance(minutes=50)
    await customer.say(":top")
    await customer.say("Need a new laptop")  # ACME-5
    world.take()


@pytest.fixture
async def client(database: str, clock: FakeClock) -> AsyncIterator[tuple[TestClient[Any, Any], ConsoleWorld]]:
    world = ConsoleWorld(clock)
    await play_queues(world)
    app = build_app(Settings(database_url=database, config_path=ORG_YAML), clock, manage_db=False,
                    run_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield c, world


def cards(html: str, person: str) -> list[tuple[str, str]]:
    """(key, urgency) of each card in a person's column, in order."""
    column = re.search(rf'<section class=column data-person="{person}">(.*?)</section>', html)
    assert column, f"no column for {person!r}"
    return re.findall(r'<li class="card (\w+)" data-key="([A-Z]+-\d+)"', column.group(1))


async def test_board_needs_a_token(client: tuple[TestClient[Any, Any], ConsoleWorld]) -> None:
    c, _ = client
    for path, headers in [("/board", {}), ("/board?token=wrong-token-0123456789", {}), ("/board?token=", {}),
                          ("/board", {"Authorization": "Bearer nope"}), ("/board", {"Authorization": TOKEN}),
                          ("/board.json", {}), ("/board.json?token=" + TOKEN[:-1], {})]:
        response = await c.get(path, headers=headers)
        assert response.status == 401, (path, headers)
        assert "ACME" not in await response.text()
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_board_shows_each_consultants_queue_in_rank_order_with_urgency(
        client: tuple[TestClient[Any, Any], ConsoleWorld]) -> None:
    c, _ = client
    response = await c.get("/board", params={"token": TOKEN})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    by_header = await (await c.get("/board", headers={"Authorization": f"Bearer {TOKEN}"})).text()
    assert by_header == html

    olli = cards(html, "olli")
    assert olli == [("ok", "ACME-3"), ("warning", "ACME-1"), ("paused", "ACME-2")]
    assert cards(html, "sanna") == [("breached", "ACME-4")]
    assert cards(html, "") == [("ok", "ACME-5")]  # the unassigned column
    assert cards(html, "maija") == []  # a lead's column, empty
    assert "Maija <span class=role>lead</span>" in html
    assert "10m business time left" in html  # ACME-1: 60 minutes target, 50 used
    assert "20m business time late" in html  # ACME-4: 30 minutes target, 50 used
    assert "times in Europe/Helsinki" in html
    assert "paused (waiting on customer)" in html
    assert "Mail bounces" in html and "P2 · #2" in html
    # Self-contained: no URL of anywhere else, no external script, style or image.
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", html)
    assert "<style>" in html and "setInterval(refresh" in html


async def test_board_json_carries_the_data_and_the_same_markup(
        client: tuple[TestClient[Any, Any], ConsoleWorld]) -> None:
    c, world = client
    response = await c.get("/board.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    data = await response.json()
    olli = next(col for col in data["columns"] if col["person"] == "olli")
    assert [t["key"] for t in olli["tickets"]] == ["ACME-3", "ACME-1", "ACME-2"]
    first = olli["tickets"][0]
    assert {"key", "customer", "title", "priority", "rank", "status", "due", "left", "urgency"} <= set(first)
    assert (first["customer"], first["rank"], first["urgency"]) == ("ACME", 1, "ok")
    page = await (await c.get("/board", params={"token": TOKEN})).text()
    assert data["html"] in page

    maija = await world.person("lead:maija")
    await maija.say("/helpdesk assign ACME-5 @olli")
    data = await (await c.get("/board.json", params={"token": TOKEN})).json()
    olli = next(col for col in data["columns"] if col["person"] == "olli")
    assert "ACME-5" in [t["key"] for t in olli["tickets"]]


# -- in a real browser ------------------------------------------------------------------------------


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        await self.ws.send_json({"id": self.last_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive(timeout=15)).data)
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, seconds: float = 10) -> Any:
        for _ in range(int(seconds * 10)):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[DevTools]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,800",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                pages = [t for t in await (await session.get(f"http://127.0.0.1:{port}/json/list")).json()
                         if t["type"] == "page"]
                if pages:
                    break
                await asyncio.sleep(0.05)
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
async def test_board_in_headless_chromium_refreshes_live(
        client: tuple[TestClient[Any, Any], ConsoleWorld], tmp_path: Path) -> None:
    c, world = client
    base = str(c.make_url("/"))
    async with chromium(tmp_path) as page:
        await page.call("Network.enable")
        await page.call("Page.enable")
        await page.call("Page.navigate", url=f"{base}board?token={TOKEN}&refresh=1")
        await page.wait_for("document.readyState === 'complete' && !!document.querySelector('.card')")
        order = await page.evaluate(
            "[...document.querySelectorAll('section[data-person=\"olli\"] .card')].map(e => e.dataset.key)")
        assert order == ["ACME-3", "ACME-1", "ACME-2"]
        colours = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.card')].map("
            "e => [e.dataset.key, getComputedStyle(e).borderLeftColor]))")
        assert colours["ACME-4"] == "rgb(220, 38, 38)"  # breached: red
        assert colours["ACME-1"] == "rgb(245, 158, 11)"  # under 25 % left: amber
        assert colours["ACME-3"] == "rgb(22, 163, 74)"  # ok: green
        assert colours["ACME-2"] == "rgb(156, 163, 175)"  # paused: grey

        maija = await world.person("lead:maija")
        await maija.say("/helpdesk assign ACME-5 @olli")  # the page must pick this up by itself
        await page.wait_for("!!document.querySelector('section[data-person=\"olli\"] [data-key=\"ACME-5\"]')")
        assert await page.evaluate("document.getElementById('updated').className") == ""

        shot = await page.call("Page.captureScreenshot", format="png")
        OUTPUT.mkdir(exist_ok=True)
        png = base64.b64decode(shot["data"])
        (OUTPUT / "board.png").write_bytes(png)
        assert png.startswith(b"\x89PNG") and len(png) > 10_000

        requested = [e["params"]["request"]["url"] for e in page.events
                     if e.get("method") == "Network.requestWillBeSent"]
        assert requested and all(url.startswith(base) for url in requested), requested
        assert any("/board.json" in url for url in requested)
