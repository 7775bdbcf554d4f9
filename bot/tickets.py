"""Ticket services: every change validates and audits; `save` then records the SLA results the
change earned and recomputes the deadlines, so no path can forget either.

Services change the ticket in memory and say what happened (a first response, a reply that
answers the customer, a resolution); `save` judges each against the deadlines as they stood
before the change, recomputes them and writes the row. Callers run these inside a
transaction (bot.core does), so a change, its audit event and the notices it queues commit
together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import clocks, memo
from bot.attachments import keep_file
from bot.config import Target
from bot.identity import Who
from bot.sla import Calendar
from bot.statuses import AGENT_TRANSITIONS, DONE_STATUSES, OPEN_STATUSES, PAUSING_STATUSES, Status
from bot.types import FileRef
from storage import rows
from storage.models import Attachment, AuditEvent, Contract, Customer, Message, Person, Ticket
from storage.numbering import next_ticket_number

APPROVAL_TYPES = ("change_request", "development")
PRIORITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
TITLE_LENGTH = 120
MESSAGE_LIMIT = 40_000


class Refusal(Exception):
    """A request that is understood but not allowed or not possible; the message says why."""


@dataclass(frozen=True)
class SlaContext:
    calendar: Calendar
    contract: Contract

    def target(self, priority: str) -> Target | None:
        raw = self.contract.targets.get(priority)
        return Target(**raw) if raw else None


async def sla_context(customer_id: int) -> SlaContext:
    async def load() -> SlaContext:
        contract = await Contract.filter(customers__id=customer_id).select_related("calendar").get()
        row = contract.calendar
        cal = Calendar.from_config({"timezone": row.timezone, "hours": row.hours, "holidays": row.holidays},
                                   f"calendars.{row.name}")
        return SlaContext(cal, contract)

    return await memo.read(("sla_context", customer_id), load)


async def audit(ticket: Ticket | None, who: Who | None, action: str, now: datetime, **detail: Any) -> None:
    await rows.add(
        AuditEvent,
        ticket_id=ticket.id if ticket else None,
        customer_id=ticket.customer_id if ticket else (who.customer.id if who and who.customer else None),
        actor=who.audit_actor if who else "system",
        channel=who.channel_label if who else "system",
        action=action,
        detail=detail,
        created_at=now,
    )


async def refresh_sla(ticket: Ticket, now: datetime, ctx: SlaContext | None = None,
                      sent: set[clocks.NoticeKey] | None = None,
                      views: list[clocks.ClockView] | None = None) -> None:
    """Recompute deadlines, escalation_at and the next notice time from the stored clock state.

    The SlaNotice rows are the record of what was sent (`sent` passes them in when the
    caller already has them), so notice_at is the earliest warning or breach still to send.
    `views` are the clocks at `now` when the caller has just computed them (the sweep does).
    """
    from storage.models import SlaNotice

    ctx = ctx or await sla_context(ticket.customer_id)
    target = ctx.target(ticket.priority)
    state = ticket.sla_state or clocks.new_state(ticket.created_at)
    due: dict[str, datetime | None] = {"first_response": None, "next_response": None, "resolution": None}
    notice: datetime | None = None
    if target is not None and ticket.status not in DONE_STATUSES:
        if views is None:
            views = clocks.view(state, ctx.calendar, target, ctx.contract.warn_at, now)
        for v in views:
            due[v.metric] = v.due
        if sent is None:
            sent = set()
            if ticket.id is not None and any(v.due is not None for v in views):
                stored = await SlaNotice.filter(ticket_id=ticket.id).values_list("metric", "kind", "due_at")
                sent = {clocks.notice_key(metric, kind, at) for metric, kind, at in stored}
        notice = clocks.next_notice_at(views, sent)
    ticket.first_response_due = due["first_response"]
    ticket.next_response_due = due["next_response"]
    ticket.resolution_due = due["resolution"]
    open_due = [d for d in due.values() if d is not None]
    ticket.escalation_at = min(open_due) if open_due else None
    ticket.notice_at = notice
    ticket.sla_state = state


ANSWERED = "answered_at"  # sla_state key: an agent answered the customer's message; save records it


def record_results(ticket: Ticket) -> None:
    """Met or missed for what the change did, against the deadlines stored before it."""
    state = ticket.sla_state
    results = state.get("results", {})
    if ticket.first_response_at is not None and "first_response" not in results:
        due = ticket.first_response_due
        clocks.record(state, "first_response", met=due is None or ticket.first_response_at <= due)
    answered = state.pop(ANSWERED, None)
    if answered and state.get("next_response_start"):
        due = ticket.next_response_due
        clocks.record(state, "next_response", met=due is None or datetime.fromisoformat(answered) <= due)
    if ticket.status == Status.RESOLVED and ticket.resolved_at is not None and "resolution" not in results:
        due = ticket.resolution_due
        clocks.record(state, "resolution", met=due is None or ticket.resolved_at <= due)


async def save(ticket: Ticket, now: datetime, ctx: SlaContext | None = None) -> None:
    """Every ticket change is written here: results recorded, deadlines recomputed, row saved."""
    record_results(ticket)
    await refresh_sla(ticket, now, ctx)
    ticket.updated_at = now
    if ticket.pk is None:
        await rows.insert(ticket)  # a new ticket: one INSERT without the ORM's save machinery
    else:
        await ticket.save()


def title_from(text: str, fallback: str = "Request without text") -> str:
    """The first non-empty line; a message with only a file or an image gets a title naming who sent it."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "") or fallback
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


async def create_ticket(who: Who, customer: Customer, text: str, now: datetime, *, platform: str, tenant: str,
                        channel: str, thread: str | None) -> Ticket:
    number = await next_ticket_number(customer.id)
    ctx = await sla_context(customer.id)
    ticket = Ticket(
        key=f"{customer.key}-{number}", number=number, customer_id=customer.id,
        contact_id=who.contact.id if who.contact else None, title=title_from(text, f"Request from {who.name}"),
        type="incident",
        status="new", priority="P3", team=ctx.contract.team, platform=platform, tenant=tenant,
        channel=channel, thread=thread, created_at=now, updated_at=now, sla_state=clocks.new_state(now),
    )
    await save(ticket, now, ctx)
    await audit(ticket, who, "created", now, title=ticket.title, priority=ticket.priority, type=ticket.type)
    return ticket


async def store_message(ticket: Ticket, who: Who | None, *, platform: str, message_id: str, text: str,
                        internal: bool, now: datetime, files: tuple[FileRef, ...] = (),
                        author_kind: str | None = None) -> Message:
    kind = author_kind or ("agent" if who and who.is_agent else "contact" if who and who.contact else "bot")
    message = await rows.insert(Message(
        ticket_id=ticket.id, platform=platform, channel=ticket.channel, platform_message_id=message_id,
        author_kind=kind,
        author_person_id=who.person.id if who and who.person else None,
        author_contact_id=who.contact.id if who and who.contact else None,
        author_name=who.name if who else "chatdesk", text=text[:MESSAGE_LIMIT], internal=internal,
        created_at=now,
    ))
    for f in files:
        if keep_file(f):
            await Attachment.create(message_id=message.id, platform_file_id=f.platform_file_id, name=f.name[:255],
                                    mimetype=f.mimetype, size=f.size, url=f.url)
    return message


async def on_agent_public_reply(ticket: Ticket, who: Who, now: datetime) -> None:
    """An agent's public reply is the first response (once) and answers any pending customer message;
    `save` records whether each was in time."""
    state = ticket.sla_state
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    if state.get("next_response_start") and not state.get(ANSWERED):
        state[ANSWERED] = now.isoformat()
    if ticket.status in (Status.NEW, Status.OPEN) and not needs_approval(ticket):
        await change_status(ticket, who, Status.IN_PROGRESS, now, reason="agent replied")


async def on_customer_message(ticket: Ticket, who: Who, now: datetime) -> list[str]:
    """A contact wrote in the thread: resume a ticket waiting on them, start next_response."""
    state = ticket.sla_state
    if ticket.first_response_at is not None and not state.get("next_response_start") \
            and ticket.status not in DONE_STATUSES:
        state["next_response_start"] = now.isoformat()
    if ticket.status == Status.WAITING_ON_CUSTOMER:
        await change_status(ticket, who, Status.IN_PROGRESS, now, reason="customer replied")
        return ["resumed"]
    return []


def needs_approval(ticket: Ticket) -> bool:
    return ticket.type in APPROVAL_TYPES and ticket.approval != "approved"


async def change_status(ticket: Ticket, who: Who | None, status: str, now: datetime, *, reason: str | None = None,
                        check: bool = False) -> None:
    old = ticket.status
    if status == old:
        return
    if check:
        allowed = AGENT_TRANSITIONS.get(old, ())
        if status not in allowed:
            options = ", ".join(allowed) or "nothing"
            raise Refusal(f"{ticket.key} is {old}; from there it can go to {options}")
        if status == "in_progress" and needs_approval(ticket) and old not in ("delivered_to_test", "in_production"):
            raise Refusal(f"not allowed: {ticket.key} is a {ticket.type.replace('_', ' ')}; work starts after the "
                          f"customer approves an estimate (`/helpdesk estimate {ticket.key} 6h scope...`)")
    state = ticket.sla_state
    was_paused = old in PAUSING_STATUSES
    will_pause = status in PAUSING_STATUSES
    if will_pause and not was_paused:
        clocks.pause(state, now)
    elif was_paused and not will_pause:
        clocks.resume(state, now)
    ticket.status = status
    if status == "resolved":
        ticket.resolved_at = now
    if status == "closed":
        ticket.closed_at = now
    if status in OPEN_STATUSES:
        ticket.closed_at = None
        if old in DONE_STATUSES:
            ticket.resolved_at = None
            state.get("results", {}).pop("resolution", None)
    await audit(ticket, who, "status", now, **{"from": old, "to": status, "reason": reason})


async def assign(ticket: Ticket, who: Who, person: Person, now: datetime) -> Person | None:
    previous = await Person.filter(id=ticket.assignee_id).first() if ticket.assignee_id else None
    if previous is not None and previous.id == person.id:
        return previous
    ticket.assignee_id = person.id
    ticket.rank = None
    if ticket.status == "new":
        await change_status(ticket, who, "open", now, reason="assigned")
    await audit(ticket, who, "assigned", now, **{"from": previous.pid if previous else None, "to": person.pid})
    return previous


async def set_priority(ticket: Ticket, who: Who, priority: str, now: datetime) -> str:
    old = ticket.priority
    ticket.priority = priority
    await audit(ticket, who, "priority", now, **{"from": old, "to": priority})
    return old


async def set_type(ticket: Ticket, who: Who, type_: str, now: datetime) -> str:
    old = ticket.type
    ticket.type = type_
    await audit(ticket, who, "type", now, **{"from": old, "to": type_})
    return old


async def rank(person: Person, keys: list[str], who: Who, now: datetime) -> list[Ticket]:
    tickets = {t.key: t for t in await Ticket.filter(key__in=keys)}
    missing = [k for k in keys if k not in tickets]
    if missing:
        raise Refusal(f"no ticket {', '.join(missing)}")
    foreign = [k for k in keys if tickets[k].assignee_id != person.id or tickets[k].status in DONE_STATUSES]
    if foreign:
        raise Refusal(f"{', '.join(foreign)} not in {person.pid}'s open queue; assign first "
                      f"(`/helpdesk assign {foreign[0]} @{person.pid}`)")
    unranked = await Ticket.filter(assignee_id=person.id, rank__not_isnull=True).exclude(key__in=keys)
    for t in unranked:
        await audit(t, who, "rank", now, person=person.pid, **{"from": t.rank, "to": None})
    await Ticket.filter(id__in=[t.id for t in unranked] or [0]).update(rank=None)
    ordered = []
    for position, key in enumerate(keys, start=1):
        t = tickets[key]
        old, t.rank = t.rank, position
        await save(t, now)
        if old != position:
            # Each ticket's own history shows where its lead put it.
            await audit(t, who, "rank", now, person=person.pid, **{"from": old, "to": position})
        ordered.append(t)
    return ordered


async def queue_for(person: Person) -> list[Ticket]:
    tickets = await Ticket.filter(assignee_id=person.id, status__in=OPEN_STATUSES).prefetch_related("customer")
    return sorted(tickets, key=queue_order)


def queue_order(t: Ticket) -> tuple[Any, ...]:
    return order_key(t.rank, t.priority, t.escalation_at, t.created_at)


FAR = datetime.max.replace(tzinfo=UTC)


def order_key(rank: int | None, priority: str, escalation_at: datetime | None, created_at: datetime) -> tuple[Any, ...]:
    """A queue's order: the lead's rank first, then priority, the next escalation and age."""
    return (rank is None, rank or 0, PRIORITY_ORDER.get(priority, 9), escalation_at or FAR, created_at)
