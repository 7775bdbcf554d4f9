"""A ticket's conversation, as the person asking may read it: agents see internal notes, marked."""

from __future__ import annotations

from datetime import datetime

from bot.commands import Command
from bot.handlers.base import Env, Handlers, load_ticket, say
from bot.types import Reply
from bot.views import when
from storage.models import Calendar as CalendarRow
from storage.models import Contract, Customer, Message, Ticket

HANDLERS = Handlers()
MAX_SHOWN = 50  # the latest messages; a chat post has to stay readable
MAX_CHARS = 600  # of one message


async def zone_name(ticket: Ticket) -> str:
    customer = await Customer.get(id=ticket.customer_id)
    contract = await Contract.get(id=customer.contract_id)
    return (await CalendarRow.get(id=contract.calendar_id)).timezone


async def conversation(ticket: Ticket, *, internal: bool) -> list[Message]:
    """Messages in order; internal notes only for agents; deleted messages never."""
    query = Message.filter(ticket_id=ticket.id, deleted_at__isnull=True)
    if not internal:
        query = query.filter(internal=False)
    return list(await query.order_by("created_at", "id"))


def author(message: Message) -> str:
    name = message.author_name or {"bot": "chatdesk", "agent": "support", "contact": "customer"}.get(
        message.author_kind, message.author_kind)
    return name


def lines(messages: list[Message], zone: str, *, limit: int | None = MAX_SHOWN,
          max_chars: int | None = MAX_CHARS) -> list[str]:
    shown = messages[-limit:] if limit else messages
    out = []
    if limit and len(messages) > limit:
        out.append(f"… {len(messages) - limit} earlier messages not shown")
    for m in shown:
        text = " ".join(m.text.split()) or "(no text: a file or an image)"
        if max_chars and len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        mark = " [internal note]" if m.internal else ""
        edited = " (edited)" if m.edited_at else ""
        out.append(f"{stamp(m.created_at, zone)} {author(m)}{mark}: {text}{edited}")
    return out


def stamp(moment: datetime, zone: str) -> str:
    return when(moment, zone)


@HANDLERS.command("history")
async def _history(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    agent = env.who.is_agent
    messages = await conversation(ticket, internal=agent)
    zone = await zone_name(ticket)
    if not messages:
        return [say(f"{ticket.key} has no messages yet.", ticket_key=ticket.key)]
    head = f"{ticket.key}: {ticket.title} — conversation, times in {zone}"
    if agent:
        head += " (internal notes marked; only you see this)"
    return [say("\n".join([head, *lines(messages, zone)]), ticket_key=ticket.key, internal=agent)]
