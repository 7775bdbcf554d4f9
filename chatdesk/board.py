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

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from aiohttp import web

from bot import clocks
from bot import tickets as svc
from bot.clock import Clock
from bot.statuses import PAUSING_STATUSES, status_label
from bot.views import time_left, when
from chatdesk.board_auth import BoardAuth
from chatdesk.settings import Settings
from storage.models import Customer, Person, Ticket

AUTH: web.AppKey[BoardAuth] = web.AppKey("board_auth", BoardAuth)
CLOCK: web.AppKey[Clock] = web.AppKey("board_clock")
WARNING_LEFT = 0.25  # under this fraction of a target left, a ticket shows as a warning
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
    app.router.add_get("/board", board_page)
    app.router.add_get("/board.json", board_json)


@dataclass(frozen=True)
class Card:
    key: str
    customer: str
    title: str
    priority: str
    rank: int | None
    status: str
    due: str | None  # ISO-8601 UTC of the earliest open deadline
    due_local: str
    left: str
    urgency: str  # breached | warning | ok | paused | none

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _card(ticket: Ticket, customer: Customer, ctx: svc.SlaContext, now: datetime) -> Card:
    due = ticket.escalation_at
    if ticket.status in PAUSING_STATUSES:
        urgency, left = "paused", f"paused ({status_label(ticket.status)})"
    elif due is None:
        urgency, left = "none", "no SLA clock running"
    elif due <= now:
        urgency, left = "breached", time_left(due, now)
    else:
        urgency, left = "ok", time_left(due, now)
        target = ctx.target(ticket.priority)
        views = clocks.view(ticket.sla_state, ctx.calendar, target, ctx.contract.warn_at, now) if target else []
        soonest = min((v for v in views if v.due is not None), key=lambda v: v.due or now, default=None)
        if soonest and (not soonest.target_minutes
                        or (soonest.target_minutes - soonest.used_minutes) < WARNING_LEFT * soonest.target_minutes):
            urgency = "warning"
    return Card(ticket.key, customer.key, ticket.title, ticket.priority, ticket.rank, ticket.status,
                due.isoformat() if due else None, when(due, ctx.calendar.timezone) if due else "", left, urgency)


async def board_data(now: datetime) -> dict[str, Any]:
    """Columns of cards: each active person with open tickets in queue order, then the unassigned."""
    contexts: dict[int, svc.SlaContext] = {}
    customers = {c.id: c for c in await Customer.all()}

    async def cards(tickets: list[Ticket]) -> list[dict[str, Any]]:
        out = []
        for t in tickets:
            if t.customer_id not in contexts:
                contexts[t.customer_id] = await svc.sla_context(t.customer_id)
            out.append(_card(t, customers[t.customer_id], contexts[t.customer_id], now).to_json())
        return out

    columns: list[dict[str, Any]] = []
    for person in await Person.filter(active=True).order_by("pid"):
        queue = await svc.queue_for(person)
        if queue or person.role == "consultant":
            columns.append({"person": person.pid, "name": person.name, "tickets": await cards(queue)})
    unassigned = await Ticket.filter(assignee_id__isnull=True, status__in=svc.OPEN_STATUSES)
    unassigned.sort(key=svc.queue_order)
    columns.append({"person": None, "name": "Unassigned", "tickets": await cards(unassigned)})
    return {"generated_at": now.isoformat(), "columns": columns}


def render_columns(data: dict[str, Any]) -> str:
    parts = []
    for column in data["columns"]:
        cards = []
        for c in column["tickets"]:
            rank = f"#{c['rank']}" if c["rank"] else "unranked"
            due = f"<span class=due>due {escape(c['due_local'])}</span>" if c["due_local"] else ""
            cards.append(
                f'<li class="card {escape(c["urgency"])}" data-key="{escape(c["key"])}">'
                f'<div class=top><b>{escape(c["key"])}</b><span>{escape(c["priority"])} · {rank}</span></div>'
                f'<div class=title>{escape(c["customer"])}: {escape(c["title"])}</div>'
                f'<div class=left>{escape(c["left"])}</div>{due}</li>'
            )
        body = "".join(cards) or "<li class=empty>no open tickets</li>"
        count = len(column["tickets"])
        parts.append(f'<section class=column data-person="{escape(column["person"] or "")}">'
                     f'<h2>{escape(column["name"])} <small>{count}</small></h2><ol>{body}</ol></section>')
    return "".join(parts)


async def board_json(request: web.Request) -> web.Response:
    if (refused := await request.app[AUTH].check(request, HEADERS)) is not None:
        return refused
    data = await board_data(request.app[CLOCK].now())
    return web.json_response({**data, "html": render_columns(data)}, headers=HEADERS)


async def board_page(request: web.Request) -> web.Response:
    if (refused := await request.app[AUTH].check(request, HEADERS)) is not None:
        return refused
    try:
        every = min(300, max(1, int(request.query.get("refresh", REFRESH_SECONDS))))
    except ValueError:
        every = REFRESH_SECONDS
    now = request.app[CLOCK].now()
    data = await board_data(now)
    page = PAGE.format(columns=render_columns(data), generated=escape(now.strftime("%H:%M:%S UTC")),
                       every=every * 1000)
    return web.Response(text=page, content_type="text/html", headers=HEADERS)


PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>chatdesk board</title>
<style>
body{{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}}
header{{display:flex;gap:1.5rem;align-items:baseline;padding:.8rem 1.2rem;background:#111827;color:#f9fafb}}
header h1{{font-size:1.1rem;margin:0}} header .legend span{{margin-right:.8rem}}
main{{display:flex;gap:1rem;padding:1rem;align-items:flex-start;overflow-x:auto}}
.column{{flex:0 0 18rem;background:#e5e7eb;border-radius:8px;padding:.6rem}}
.column h2{{font-size:1rem;margin:.2rem .3rem .6rem}} .column h2 small{{color:#6b7280;font-weight:normal}}
ol{{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.5rem}}
.card{{background:#fff;border-radius:6px;padding:.5rem .6rem;border-left:6px solid #9ca3af}}
.card .top{{display:flex;justify-content:space-between}} .card .title{{margin:.2rem 0}}
.card .left{{font-weight:600}} .card .due{{color:#6b7280;font-size:.85em}}
.breached{{border-left-color:#dc2626;background:#fee2e2}} .breached .left{{color:#b91c1c}}
.warning{{border-left-color:#f59e0b;background:#fef3c7}} .warning .left{{color:#b45309}}
.ok{{border-left-color:#16a34a}} .ok .left{{color:#15803d}}
.paused{{border-left-color:#9ca3af;background:#f3f4f6;color:#4b5563}}
.empty{{color:#6b7280;padding:.3rem}} .stale{{color:#fca5a5}}
.dot{{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.3em}}
</style></head>
<body><header><h1>chatdesk board</h1><span id=updated>updated {generated}</span>
<span class=legend><span><i class=dot style="background:#dc2626"></i>breached</span>
<span><i class=dot style="background:#f59e0b"></i>under 25 % left</span>
<span><i class=dot style="background:#16a34a"></i>ok</span>
<span><i class=dot style="background:#9ca3af"></i>paused</span></span></header>
<main id=board>{columns}</main>
<script>
(function () {{
  var updated = document.getElementById("updated");
  function refresh() {{
    fetch("board.json", {{credentials: "same-origin", cache: "no-store"}})
      .then(function (r) {{ if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); }})
      .then(function (data) {{
        document.getElementById("board").innerHTML = data.html;
        updated.textContent = "updated " + new Date(data.generated_at).toISOString().slice(11, 19) + " UTC";
        updated.className = "";
      }})
      .catch(function (e) {{ updated.textContent = "not updated: " + e.message; updated.className = "stale"; }});
  }}
  setInterval(refresh, {every});
}})();
</script></body></html>
"""
