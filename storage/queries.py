"""Read models for the CLI: what is stored, as plain JSON-ready dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Count, Sum

from storage.models import AuditEvent, Message, Ticket, TimeEntry


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def ticket_rows() -> list[dict[str, Any]]:
    return await ticket_rows_for(await Ticket.all().order_by("id"))


async def ticket_rows_for(tickets: list[Ticket]) -> list[dict[str, Any]]:
    await Ticket.fetch_for_list(tickets, "customer", "assignee")
    counts: dict[tuple[int, bool], int] = {}
    ids = [t.id for t in tickets]
    for row in await Message.filter(deleted_at__isnull=True, ticket_id__in=ids or [0]).annotate(
            n=Count("id")).group_by(
        "ticket_id", "internal"
    ).values("ticket_id", "internal", "n"):
        counts[(row["ticket_id"], bool(row["internal"]))] = row["n"]
    logged: dict[tuple[int, bool], int] = {}
    for row in await TimeEntry.all().annotate(m=Sum("minutes")).group_by("ticket_id", "billable").values(
        "ticket_id", "billable", "m"
    ):
        logged[(row["ticket_id"], bool(row["billable"]))] = int(row["m"] or 0)
    out = []
    for t in tickets:
        public = counts.get((t.id, False), 0)
        internal = counts.get((t.id, True), 0)
        out.append({
            "key": t.key,
            "customer": t.customer.key,
            "title": t.title,
            "type": t.type,
            "status": t.status,
            "priority": t.priority,
            "assignee": t.assignee.pid if t.assignee else None,
            "rank": t.rank,
            "created_at": iso(t.created_at),
            "messages": public + internal,
            "public_messages": public,
            "internal_notes": internal,
            "first_response_at": iso(t.first_response_at),
            "resolved_at": iso(t.resolved_at),
            "deadlines": {
                "first_response": iso(t.first_response_due),
                "next_response": iso(t.next_response_due),
                "resolution": iso(t.resolution_due),
            },
            "escalation_at": iso(t.escalation_at),
            "platform": t.platform,
            "csat": t.csat,
            "logged_minutes": logged.get((t.id, True), 0) + logged.get((t.id, False), 0),
            "billable_minutes": logged.get((t.id, True), 0),
        })
    return out


async def audit_rows(key: str) -> list[dict[str, Any]] | None:
    ticket = await Ticket.filter(key=key).first()
    if ticket is None:
        return None
    events = await AuditEvent.filter(ticket_id=ticket.id).order_by("created_at", "id")
    return [
        {"at": iso(e.created_at), "actor": e.actor, "channel": e.channel, "action": e.action, "detail": e.detail}
        for e in events
    ]


async def ticket_detail(key: str) -> dict[str, Any] | None:
    """One ticket with its whole conversation, internal notes included (the CLI is for operators)."""
    ticket = await Ticket.filter(key=key).first()
    if ticket is None:
        return None
    row = next(r for r in await ticket_rows_for([ticket]))
    messages = await Message.filter(ticket_id=ticket.id, deleted_at__isnull=True).order_by("created_at", "id")
    row["conversation"] = [
        {"at": iso(m.created_at), "author": m.author_name or m.author_kind, "author_kind": m.author_kind,
         "internal": m.internal, "text": m.text, "edited_at": iso(m.edited_at)}
        for m in messages
    ]
    return row
