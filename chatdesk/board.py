"""The leads' board: GET /board (an HTML page) and GET /board.json (what it polls).

Each consultant's open tickets in the lead's rank order with the SLA time left, coloured by
urgency: breached, warning (under 25 % of the target left), ok, paused. Open tickets nobody
is assigned to come last. The page is self-contained (inline CSS and script, nothing
fetched from elsewhere, which its Content-Security-Policy also enforces) and refreshes
itself by polling /board.json every few seconds; /board.json carries the same markup the
page was first served with, so there is one renderer.

Both answer 401 unless the request carries one of the org config's `board.tokens`
(chatdesk/board_auth.py: a bearer token, or `?token=...` once for a session cookie).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from adapters.slack import links as slack_links
from adapters.teams import links as teams_links
from bot.board import BoardState, Placed
from bot.clock import Clock
from bot.statuses import status_label
from bot.views import TYPE_NAMES, when
from chatdesk.board_auth import BoardAuth
from chatdesk.settings import Settings

AUTH: web.AppKey[BoardAuth] = web.AppKey("board_auth", BoardAuth)
CLOCK: web.AppKey[Clock] = web.AppKey("board_clock")
REFRESH_SECONDS = 5
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
}


def mount(app: web.Application, settings: Settings, clock: Clock) -> None:
    """Add /board and /board.json; the tokens are read once from the org config."""
    config = settings.org_config()
    app[AUTH] = BoardAuth(tuple(config.board.tokens) if config else (), clock)
    app[CLOCK] = clock
    app[BOARD] = LiveBoard()
    app.router.add_get("/board", board_page)
    app.router.add_get("/board.json", board_json)


BOARD: web.AppKey[LiveBoard] = web.AppKey("board_state")
TITLE_SHOWN = 300  # a longer title is cut: a 50k-character title must not push its column off screen
DEFAULT_LIMIT = 50  # cards per column; ?limit= up to MAX_LIMIT, the rest counted
MAX_LIMIT = 1000
HOURS_EVERY = 60.0  # seconds between readings of the customers' hour banks


class LiveBoard:
    """The board's state, shared by every poll: updated from changed rows, rebuilt in the background."""

    def __init__(self) -> None:
        self.state: BoardState | None = None
        self.lock = asyncio.Lock()
        self.rebuilding: asyncio.Task[None] | None = None
        # The cards of the last poll, reused while their ticket row, urgency and minute left are the same:
        # a poll then renders only what changed.
        self.cards: dict[int, tuple[dict[str, Any], tuple[Any, ...], dict[str, Any], str]] = {}
        self.hours: tuple[float, list[dict[str, Any]]] | None = None  # (when read, each customer's month)

    async def hours_left(self, now: datetime) -> list[dict[str, Any]]:
        """Each customer's hours left this month, read at most once a minute (they change only when time is logged)."""
        if self.hours is None or time.monotonic() - self.hours[0] > HOURS_EVERY:
            from bot.timelog import hours_left_this_month

            rows = [{"customer": key, "month": b.month, "included_minutes": b.included_minutes + b.carried_minutes,
                     "billable_minutes": b.billable_minutes,
                     "remaining_minutes": b.included_minutes + b.carried_minutes - b.billable_minutes,
                     "warn_at": b.warn_at}
                    for key, b in (await hours_left_this_month(now)).items() if b.included_minutes is not None]
            self.hours = (time.monotonic(), rows)
        return self.hours[1]

    def card(self, p: Placed, customers: dict[int, dict[str, Any]], zone: str,
             fresh: dict[int, tuple[dict[str, Any], tuple[Any, ...], dict[str, Any], str]]) -> dict[str, Any]:
        row = p.row
        sig = (p.urgency, round(p.left) if p.left is not None else None, zone)
        hit = self.cards.get(row["id"])
        if hit is not None and hit[0] is row and hit[1] == sig:
            fresh[row["id"]] = hit
            return hit[2]
        card = card_json(p, customers, zone)
        fresh[row["id"]] = (row, sig, card, card_html(card))
        return card

    def html(self, card: dict[str, Any], ticket_id: int) -> str:
        hit = self.cards.get(ticket_id)
        return hit[3] if hit is not None and hit[2] is card else card_html(card)

    async def columns(self, now: datetime, customer: str | None, limit: int) -> list[dict[str, Any]]:
        async with self.lock:
            if self.state is None:
                state = BoardState()
                await state.load(now, time.monotonic())
                self.state = state
            else:
                await self.state.update(now, time.monotonic())
                if self.state.stale(time.monotonic()) and self.rebuilding is None:
                    self.rebuilding = asyncio.create_task(self._rebuild(now))
            return self.state.columns(now, customer, limit)

    async def _rebuild(self, now: datetime) -> None:
        try:
            state = BoardState()
            await state.load(now, time.monotonic())
            async with self.lock:
                self.state = state
        finally:
            self.rebuilding = None


def thread_link(row: dict[str, Any]) -> str | None:
    if not row["thread"]:
        return None
    if row["platform"] == "slack":
        return slack_links.thread_link(row["tenant"], row["channel"], row["thread"])
    if row["platform"] == "teams":
        return teams_links.thread_link(row["tenant"], row["channel"], row["thread"])
    return None


def _left_text(minutes: float | None, urgency: str, status: str) -> str:
    if urgency == "paused":
        return f"paused ({status_label(status)})"
    if minutes is None:
        return "no SLA clock running"
    text = _hours(minutes)
    return f"{text} business time left" if minutes >= 0 else f"{text} business time late"


def _hours(minutes: float) -> str:
    """Business time in hours and minutes: "3d" would read as calendar days."""
    h, m = divmod(round(abs(minutes)), 60)
    return f"{h}h {m:02d}m" if h else f"{m}m"


def card_json(p: Placed, customers: dict[int, dict[str, Any]], zone: str) -> dict[str, Any]:
    row = p.row
    due = row["escalation_at"]
    return {
        "key": row["key"], "customer": customers[row["customer_id"]]["key"], "title": row["title"],
        "type": row["type"], "type_name": TYPE_NAMES.get(row["type"], row["type"]), "priority": row["priority"],
        "rank": row["rank"], "status": row["status"], "status_label": status_label(row["status"]),
        "due": due.astimezone(UTC).isoformat() if due else None, "due_local": when(due, zone) if due else "",
        "left": _left_text(p.left, p.urgency, row["status"]),
        "left_business_minutes": round(p.left, 1) if p.left is not None else None,
        "urgency": p.urgency, "link": thread_link(row), "id": row["id"],
    }


def default_zone(board: LiveBoard) -> str:
    """The calendar most customers are on: one zone for the whole board, named in its header."""
    org = board.state.org if board.state else None
    if org is None or not org.customer_calendar:
        return "UTC"
    names = Counter(org.customer_calendar.values())
    return org.calendars[names.most_common(1)[0][0]].timezone


class BadQuery(ValueError):
    pass


def _query(request: web.Request) -> tuple[str | None, str | None, int]:
    customer = request.query.get("customer", "").strip().upper() or None
    zone = request.query.get("tz", "").strip() or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadQuery(f"tz: unknown time zone {zone!r} (an IANA name such as Europe/Helsinki)") from None
    try:
        limit = min(MAX_LIMIT, max(1, int(request.query.get("limit", DEFAULT_LIMIT))))
    except ValueError:
        raise BadQuery("limit: a number of cards per column") from None
    return customer, zone, limit


async def board_data(request: web.Request, now: datetime) -> dict[str, Any]:
    """Columns of cards: consultants, then leads, then the unassigned, each sorted by what needs attention."""
    customer, zone, limit = _query(request)
    board = request.app[BOARD]
    columns = await board.columns(now, customer, limit)
    assert board.state is not None and board.state.org is not None
    org = board.state.org
    zone = zone or default_zone(board)
    out = []
    fresh: dict[int, Any] = {}
    for column in columns:
        out.append({"person": column["person"], "name": column["name"], "role": column["role"],
                    "count": column["count"],
                    "tickets": [board.card(p, org.customers, zone, fresh) for p in column["tickets"]]})
    board.cards = fresh
    hours = [h for h in await board.hours_left(now) if customer is None or h["customer"] == customer]
    return {"generated_at": now.isoformat(), "timezone": zone, "customer": customer,
            "customers": sorted(c["key"] for c in org.customers.values()), "columns": out, "hours": hours}


def _title(text: str) -> str:
    return text if len(text) <= TITLE_SHOWN else text[: TITLE_SHOWN - 1] + "…"


def card_html(c: dict[str, Any]) -> str:
    rank = f"#{c['rank']}" if c["rank"] else "unranked"
    due = f"<span class=due>due {escape(c['due_local'])}</span>" if c["due_local"] else ""
    key = escape(c["key"])
    if c["link"]:
        key = f'<a href="{escape(c["link"])}" target=_blank rel="noopener noreferrer">{key}</a>'
    return (
        f'<li class="card {escape(c["urgency"])}" data-key="{escape(c["key"])}">'
        f'<div class=top><b>{key}</b><span class=prio>{escape(c["priority"])} · {rank}</span></div>'
        f'<div class=meta>{escape(c["type_name"])} · {escape(c["status_label"])}</div>'
        f'<div class=title>{escape(c["customer"])}: {escape(_title(c["title"]))}</div>'
        f'<div class=left>{escape(c["left"])}</div>{due}</li>'
    )


def render_hours(data: dict[str, Any]) -> str:
    """A column of each customer's prepaid hours left this month: red when over, amber near the end."""
    if not data.get("hours"):
        return ""
    items = []
    for h in data["hours"]:
        included, left = h["included_minutes"], h["remaining_minutes"]
        if left < 0:
            urgency, text = "breached", f"over by {_hours(-left)} of {_hours(included)}"
        else:
            urgency = "warning" if included and h["billable_minutes"] >= h["warn_at"] * included else "ok"
            text = f"{_hours(left)} of {_hours(included)} left"
        items.append(f'<li class="chip {urgency}" data-customer="{escape(h["customer"])}">'
                     f'<b>{escape(h["customer"])}</b> <span class=left>{escape(text)}</span></li>')
    month = escape(data["hours"][0]["month"])
    return f'<h2>Prepaid hours, {month}</h2><ol>{"".join(items)}</ol>'


def render_columns(data: dict[str, Any], board: LiveBoard | None = None) -> str:
    parts = []
    for column in data["columns"]:
        cards = [board.html(c, c["id"]) if board else card_html(c) for c in column["tickets"]]
        more = column["count"] - len(column["tickets"])
        if more > 0:
            cards.append(f"<li class=more>{more} more not shown</li>")
        body = "".join(cards) or "<li class=empty>no open tickets</li>"
        role = f' <span class=role>{escape(column["role"])}</span>' if column["role"] == "lead" else ""
        parts.append(f'<section class=column data-person="{escape(column["person"] or "")}">'
                     f'<h2>{escape(column["name"])}{role} <small>{column["count"]}</small></h2><ol>{body}</ol>'
                     f'</section>')
    return "".join(parts)


def render_filter(data: dict[str, Any]) -> str:
    options = ['<option value="">all customers</option>'] + [
        f'<option{" selected" if key == data["customer"] else ""}>{escape(key)}</option>'
        for key in data["customers"]]
    return f'<select id=customer aria-label="customer">{"".join(options)}</select>'


def _bad(message: str) -> web.Response:
    return web.Response(status=400, text=f"400: {message}\n", headers=HEADERS)


async def board_json(request: web.Request) -> web.Response:
    if (refused := await request.app[AUTH].check(request, HEADERS)) is not None:
        return refused
    try:
        data = await board_data(request, request.app[CLOCK].now())
    except BadQuery as exc:
        return _bad(str(exc))
    return web.json_response({**data, "html": render_columns(data, request.app[BOARD]),
                              "hours_html": render_hours(data)}, headers=HEADERS)


async def board_page(request: web.Request) -> web.Response:
    if (refused := await request.app[AUTH].check(request, HEADERS)) is not None:
        return refused
    try:
        every = min(300, max(1, int(request.query.get("refresh", REFRESH_SECONDS))))
    except ValueError:
        every = REFRESH_SECONDS
    now = request.app[CLOCK].now()
    try:
        data = await board_data(request, now)
    except BadQuery as exc:
        return _bad(str(exc))
    local = now.astimezone(ZoneInfo(data["timezone"]))
    page = PAGE.format(columns=render_columns(data, request.app[BOARD]), hours=render_hours(data),
                       generated=escape(local.strftime("%H:%M:%S ") + (local.tzname() or "")),
                       zone_json=json.dumps(data["timezone"]),
                       every=every * 1000, zone=escape(data["timezone"]),
                       filter=render_filter(data))
    return web.Response(text=page, content_type="text/html", headers=HEADERS)


PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>chatdesk board</title>
<style>
body{{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}}
header{{display:flex;flex-wrap:wrap;gap:.4rem 1.5rem;align-items:baseline;padding:.8rem 1.2rem;background:#111827;
color:#f9fafb}}
header h1{{font-size:1.1rem;margin:0}} header .legend span{{margin-right:.8rem;white-space:nowrap}}
.hours{{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5rem 1rem;padding:.6rem 1rem 0}}
.hours:empty{{display:none}} .hours h2{{font-size:.95rem;margin:0}}
.hours ol{{flex-direction:row;flex-wrap:wrap}}
.chip{{background:#fff;border-radius:6px;padding:.3rem .6rem;border-left:6px solid #16a34a}}
main{{display:flex;gap:1rem;padding:1rem;align-items:flex-start;overflow-x:auto}}
.column{{flex:1 1 15rem;min-width:14rem;max-width:24rem;background:#e5e7eb;border-radius:8px;padding:.6rem}}
.column h2{{font-size:1rem;margin:.2rem .3rem .6rem}} .column h2 small{{color:#6b7280;font-weight:normal}}
.role{{font-size:.75em;font-weight:normal;background:#374151;color:#f9fafb;border-radius:4px;padding:0 .3em}}
ol{{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.5rem}}
.card{{background:#fff;border-radius:6px;padding:.5rem .6rem;border-left:6px solid #9ca3af;overflow-wrap:anywhere}}
.card .top{{display:flex;justify-content:space-between;gap:.5rem}} .card .title{{margin:.2rem 0}}
.card .meta{{color:#4b5563;font-size:.85em}} .card a{{color:inherit}}
.card .left{{font-weight:600}} .card .due{{color:#6b7280;font-size:.85em}}
.breached{{border-left-color:#dc2626;background:#fee2e2}} .breached .left{{color:#b91c1c}}
.warning{{border-left-color:#f59e0b;background:#fef3c7}} .warning .left{{color:#b45309}}
.ok{{border-left-color:#16a34a}} .ok .left{{color:#15803d}}
.paused{{border-left-color:#9ca3af;background:#f3f4f6;color:#4b5563}}
.empty,.more{{color:#6b7280;padding:.3rem}} .stale{{color:#fca5a5}}
.dot{{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.3em}}
@media (max-width:640px){{main{{flex-direction:column;align-items:stretch}} .column{{flex:1 1 auto}}}}
</style></head>
<body><header><h1>chatdesk board</h1><span id=updated>updated {generated}</span>
<span id=zone>times in {zone}</span>{filter}
<span class=legend><span><i class=dot style="background:#dc2626"></i>breached</span>
<span><i class=dot style="background:#f59e0b"></i>under 25 % left</span>
<span><i class=dot style="background:#16a34a"></i>ok</span>
<span><i class=dot style="background:#9ca3af"></i>paused</span></span></header>
<section id=hours class=hours>{hours}</section>
<main id=board>{columns}</main>
<script>
(function () {{
  var updated = document.getElementById("updated");
  function query() {{
    var params = new URLSearchParams(location.search);
    params.delete("token");
    return params.toString();
  }}
  document.getElementById("customer").addEventListener("change", function (e) {{
    var params = new URLSearchParams(location.search);
    if (e.target.value) {{ params.set("customer", e.target.value); }} else {{ params.delete("customer"); }}
    location.search = params.toString();
  }});
  function refresh() {{
    fetch("board.json?" + query(), {{credentials: "same-origin", cache: "no-store"}})
      .then(function (r) {{ if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); }})
      .then(function (data) {{
        document.getElementById("board").innerHTML = data.html;
        document.getElementById("hours").innerHTML = data.hours_html;
        updated.textContent = "updated " + new Date(data.generated_at).toLocaleTimeString("en-GB",
          {{timeZone: {zone_json}, timeZoneName: "short"}});
        updated.className = "";
      }})
      .catch(function (e) {{ updated.textContent = "not updated: " + e.message; updated.className = "stale"; }});
  }}
  setInterval(refresh, {every});
}})();
</script></body></html>
"""
