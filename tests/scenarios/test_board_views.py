"""The board as a lead reads it: filter, one labelled zone, links to the chat, long titles, two screen sizes."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatdesk.board import _title
from storage.models import Customer, Person, Ticket
from tests.scenarios.console_driver import ConsoleWorld
from tests.scenarios.test_board import CHROMIUM, OUTPUT, TOKEN, cards, chromium, client

__all__ = ["client"]  # the fixture, shared with test_board.py
Client = tuple[TestClient[Any, Any], ConsoleWorld]
LONG = "Printerspoolerqueue" * 10 + "X" * 9  # 199 characters without a space to break at


async def add_chat_tickets(world: ConsoleWorld) -> None:
    """GLOBEX-1 from Slack with a very long title, GLOBEX-2 from Teams, both Olli's."""
    now = world.clock.now()
    globex = await Customer.get(key="GLOBEX")
    olli = await Person.get(pid="olli")
    due = now + timedelta(hours=3)
    await Ticket.create(key="GLOBEX-1", number=1, customer_id=globex.id, title=LONG, platform="slack", type="development",
                        tenant="T0GLOBEX", channel="C0GLOBEX", thread="1700000000.000100", assignee_id=olli.id,
                        created_at=now, updated_at=now, escalation_at=due, resolution_due=due)
    await Ticket.create(key="GLOBEX-2", number=2, customer_id=globex.id, title="Teams login", platform="teams",
                        tenant="tenant-1", channel="19:globex@thread.tacv2", thread="1700000000001",
                        assignee_id=olli.id, created_at=now, updated_at=now, escalation_at=due, resolution_due=due)


async def test_customer_filter_and_labelled_zone(client: Client) -> None:
    c, world = client
    await add_chat_tickets(world)
    html = await (await c.get("/board", params={"token": TOKEN, "customer": "globex"})).text()
    assert {key for _, key in cards(html, "olli")} == {"GLOBEX-1", "GLOBEX-2"}
    assert "ACME-" not in html.split("<main")[1]
    assert "<option selected>GLOBEX</option>" in html
    assert "times in Europe/Helsinki" in html
    data = await (await c.get("/board.json", params={"token": TOKEN, "tz": "America/New_York"})).json()
    assert data["timezone"] == "America/New_York"
    card = next(t for col in data["columns"] for t in col["tickets"] if t["key"] == "ACME-3")
    assert card["due_local"].endswith("EST")
    bad = await c.get("/board.json", params={"token": TOKEN, "tz": "Mars/Olympus"})
    assert bad.status == 400 and "unknown time zone" in await bad.text()
    assert (await c.get("/board.json", params={"token": TOKEN, "limit": "x"})).status == 400


async def test_cards_link_to_their_chat_thread_show_type_and_cut_long_titles(client: Client) -> None:
    c, world = client
    await add_chat_tickets(world)
    data = await (await c.get("/board.json", params={"token": TOKEN})).json()
    by_key = {t["key"]: t for col in data["columns"] for t in col["tickets"]}
    assert by_key["GLOBEX-1"]["link"] == \
        "https://app.slack.com/client/T0GLOBEX/C0GLOBEX/thread/C0GLOBEX-1700000000.000100"
    assert by_key["GLOBEX-2"]["link"].startswith("https://teams.microsoft.com/l/message/19%3Aglobex%40thread.tacv2/")
    assert "tenantId=tenant-1" in by_key["GLOBEX-2"]["link"]
    assert by_key["ACME-1"]["link"] is None  # a console ticket has nowhere to open
    assert by_key["GLOBEX-1"]["type_name"] == "Development"
    assert by_key["ACME-2"]["status_label"] == "waiting on customer"
    html = data["html"]
    assert 'href="https://app.slack.com/client/T0GLOBEX/C0GLOBEX/thread/' in html
    assert LONG in html
    assert _title("y" * 50_000) == "y" * 299 + "…"  # a title stored longer than the column allows


async def test_a_column_shows_its_first_cards_and_counts_the_rest(client: Client) -> None:
    c, _ = client
    data = await (await c.get("/board.json", params={"token": TOKEN, "limit": "1"})).json()
    olli = next(col for col in data["columns"] if col["person"] == "olli")
    assert [t["key"] for t in olli["tickets"]] == ["ACME-3"] and olli["count"] == 3
    assert "2 more not shown" in data["html"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
async def test_board_screenshots_fit_the_screen(client: Client, tmp_path: Path, width: int, height: int) -> None:
    c, world = client
    await add_chat_tickets(world)
    base = str(c.make_url("/"))
    async with chromium(tmp_path) as page:
        await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=width < 500)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=f"{base}board?token={TOKEN}")
        await page.wait_for("document.readyState === 'complete' && !!document.querySelector('.card')")
        # The long title wraps inside its card, and its card inside its column.
        overflow = await page.evaluate(
            "[...document.querySelectorAll('.card')].filter(e => e.scrollWidth > e.clientWidth + 1"
            " || e.getBoundingClientRect().right > e.closest('.column').getBoundingClientRect().right + 1)"
            ".map(e => e.dataset.key)")
        assert overflow == []
        # Every column is on screen: nothing to scroll sideways to.
        assert await page.evaluate("Math.max(...[...document.querySelectorAll('.column')]"
                                   ".map(e => e.getBoundingClientRect().right))") <= width
        if width < 500:
            # On a phone the columns stack: nothing is wider than the screen.
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
        assert await page.evaluate("document.getElementById('zone').textContent") == "times in Europe/Helsinki"
        shot = await page.call("Page.captureScreenshot", format="png")
        OUTPUT.mkdir(exist_ok=True)
        png = base64.b64decode(shot["data"])
        (OUTPUT / f"board-{width}x{height}.png").write_bytes(png)
        assert png.startswith(b"\x89PNG") and len(png) > 10_000


async def test_each_customers_hours_left_this_month_are_shown(client: Client) -> None:
    c, world = client
    await add_chat_tickets(world)
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk log ACME-1 17h VPN rebuild")  # gold: 20h a month, warned at 80 %
    await olli.say("/helpdesk log GLOBEX-1 11h")  # silver: 10h a month
    await olli.say("/helpdesk log GLOBEX-2 2h nonbillable")
    data = await (await c.get("/board.json", params={"token": TOKEN})).json()
    hours = {h["customer"]: h for h in data["hours"]}
    assert (hours["ACME"]["included_minutes"], hours["ACME"]["remaining_minutes"]) == (20 * 60, 3 * 60)
    assert hours["GLOBEX"]["remaining_minutes"] == -60
    section = data["hours_html"]
    page = await (await c.get("/board", params={"token": TOKEN})).text()
    assert section in page and "Prepaid hours" in section
    assert '<li class="chip warning" data-customer="ACME">' in section and "3h 00m of 20h 00m left" in section
    assert '<li class="chip breached" data-customer="GLOBEX">' in section and "over by 1h 00m" in section
    only = await (await c.get("/board.json", params={"token": TOKEN, "customer": "ACME"})).json()
    assert [h["customer"] for h in only["hours"]] == ["ACME"]
