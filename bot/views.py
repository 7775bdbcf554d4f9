"""How tickets read in chat: one place for the wording every adapter shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot import clocks
from bot.quoting import cut, quote
from bot.quoting import title as shown_title
from bot.statuses import status_label
from bot.types import Audience, Button, Field, Reply
from storage.models import Person, Ticket

MAX_SUGGESTIONS = 3

TYPE_NAMES = {
    "incident": "Incident", "service_request": "Service request", "change_request": "Change request",
    "development": "Development",
}


def when(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """`Tue 24 Nov 14:30 EET`; with `now`, just `14:30 EET` on the same local day as now."""
    if moment is None:
        return "—"
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    text = f"{local:%H:%M} {local.tzname()}"
    return text if now is not None and local.date() == now.astimezone(tz).date() else f"{local:%a %d %b} {text}"


def time_left(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "paused or met"
    minutes = (due - now).total_seconds() / 60
    return f"{clocks.minutes_text(minutes)} left" if minutes >= 0 else f"{clocks.minutes_text(minutes)} late"


def ticket_fields(ticket: Ticket, assignee: Person | None, zone: str, now: datetime,
                  for_customer: bool) -> tuple[Field, ...]:
    fields = [
        Field("Status", status_label(ticket.status)),
        Field("Type", TYPE_NAMES.get(ticket.type, ticket.type)),
        Field("Priority", ticket.priority),
        Field("Assignee", assignee.name if assignee else "unassigned"),
    ]
    if not for_customer:
        if ticket.first_response_due:
            fields.append(Field("First response due", f"{when(ticket.first_response_due, zone)} "
                                                      f"({time_left(ticket.first_response_due, now)})"))
        if ticket.next_response_due:
            fields.append(Field("Next response due", f"{when(ticket.next_response_due, zone)} "
                                                     f"({time_left(ticket.next_response_due, now)})"))
        if ticket.resolution_due:
            fields.append(Field("Resolution due", f"{when(ticket.resolution_due, zone)} "
                                                  f"({time_left(ticket.resolution_due, now)})"))
        if ticket.rank:
            fields.append(Field("Rank", str(ticket.rank)))
    if ticket.estimate_minutes:
        fields.append(Field("Estimate", f"{clocks.minutes_text(ticket.estimate_minutes)}"
                                        f" ({ticket.approval or 'not sent'})"))
    if ticket.resolution:
        fields.append(Field("Resolution", ticket.resolution))
    return tuple(fields)


def agent_buttons(key: str) -> tuple[Button, ...]:
    return (
        Button("Claim", f"claim {key}", style="primary"),
        Button("Assign", f"assign {key}", needs_input="Assign to (e.g. @olli)"),
        Button("Priority", f"priority {key}", needs_input="Priority (P1-P4)"),
        Button("Resolve", f"resolve {key}", needs_input="Resolution the customer sees"),
    )


def triage_announcement(ticket: Ticket, customer_name: str, text: str) -> Reply:
    """The triage post of a new ticket; the customer's words in it are quoted, so they ping nobody."""
    excerpt = cut(quote(text), 500)
    title = shown_title(ticket.title)
    return Reply(
        text=f"New ticket {ticket.key} from {customer_name}: {title}",
        title=f"{ticket.key}: {title}",
        fields=(Field("Customer", customer_name), Field("Priority", ticket.priority),
                Field("Type", TYPE_NAMES[ticket.type]), Field("Message", excerpt)),
        buttons=agent_buttons(ticket.key),
        audience=Audience.TRIAGE, ticket_key=ticket.key, internal=True, kind="notice",
        dedupe=f"triage:{ticket.key}",
    )


def suggestion_lines(suggestions: Sequence[Any]) -> list[str]:
    if not suggestions:
        return []
    lines = ["These articles may help meanwhile:"]
    lines += [f"• {s.title}" + (f" <{s.url}>" if getattr(s, "url", None) else "") for s in suggestions]
    return lines


def solved_buttons(key: str, suggestions: Sequence[Any]) -> tuple[Button, ...]:
    """One "Solved it" button per suggestion: a contact's click is recorded for the article."""
    return tuple(Button(f"Solved it: {_short(s.title)}", f"kb solved {key} {s.id}") for s in suggestions)


def _short(title: str, limit: int = 28) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"
