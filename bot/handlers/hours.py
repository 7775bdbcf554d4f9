"""`/helpdesk log` and `/helpdesk hours`: time on tickets and what is left of a customer's hours."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tortoise.functions import Sum

from bot import hours, timelog
from bot import tickets as svc
from bot.commands import Command
from bot.handlers.base import Env, Handlers, load_ticket, say
from bot.types import Field, Reply
from storage.models import Customer, Ticket, TimeEntry

TICKETS_SHOWN = 10

HANDLERS = Handlers()


@HANDLERS.command("log")
async def _log(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    minutes = cmd.get("duration")
    if minutes is None:
        return [await entries_reply(ticket)]
    billable = cmd.get("billing") != "nonbillable"
    done = await timelog.log_time(ticket, env.who, minutes, billable, cmd.get("text"), env.now)
    customer = await Customer.get(id=ticket.customer_id)
    kind = "" if billable else " non-billable"
    correction = " (correction)" if minutes < 0 else ""
    balance = hours.balance_text(customer.name, done.balance, done.balance.month)
    return [say(f"logged {hours.duration_text(minutes)}{kind}{correction} on {ticket.key} · {balance}",
                ticket_key=ticket.key, internal=True), *done.notices]


async def entries_reply(ticket: Ticket) -> Reply:
    entries = await TimeEntry.filter(ticket_id=ticket.id).order_by("created_at", "id")
    if not entries:
        return say(f"No time logged on {ticket.key} yet: `/helpdesk log {ticket.key} 1h30m what was done`",
                   ticket_key=ticket.key, internal=True)
    zone = ZoneInfo((await svc.sla_context(ticket.customer_id)).calendar.timezone)
    lines = [f"Time on {ticket.key}:"]
    for e in entries:
        local = e.created_at.astimezone(zone)
        kind = "billable" if e.billable else "non-billable"
        note = f" · {e.note}" if e.note else ""
        lines.append(f"• {local:%a %d %b %H:%M} · {e.person_name} · {hours.duration_text(e.minutes)} · {kind}{note}")
    total = sum(e.minutes for e in entries)
    billable = sum(e.minutes for e in entries if e.billable)
    lines.append(f"Total {hours.duration_text(total)}: {hours.duration_text(billable)} billable, "
                 f"{hours.duration_text(total - billable)} non-billable")
    return say("\n".join(lines), title=f"Time on {ticket.key}", ticket_key=ticket.key, internal=True)


@HANDLERS.command("hours")
async def _hours(env: Env, cmd: Command) -> list[Reply]:
    key, who = cmd.get("customer"), env.who
    if who.is_agent:
        customer = await Customer.filter(key=key).first() if key else who.customer
        if customer is None:
            known = ", ".join(c.key for c in await Customer.all().order_by("key")) or "none"
            raise svc.Refusal(f"no customer {key}; known customers: {known}" if key
                              else "name the customer: `/helpdesk hours ACME` (or `hours ACME 2026-11`)")
    else:
        customer = who.customer
        if customer is None or (key and key != customer.key):
            raise svc.Refusal("you can see your own organisation's hours only: `/helpdesk hours`")
    bal = await timelog.customer_balance(customer, cmd.get("month"), env.now)
    zone = (await svc.sla_context(customer.id)).calendar.timezone
    now_month = hours.month_of(env.now, zone)
    when = hours.month_name(bal.month, now_month)
    used = hours.duration_text(bal.billable_minutes)
    fields: list[Field] = []
    if bal.included_minutes is None:
        text = f"{customer.name}, {when}: {used} of billable time; the contract has no hour bank."
    else:
        of = hours.duration_text(bal.included_minutes)
        carried = (f" ({hours.duration_text(bal.carried_minutes)} carried from "
                   f"{hours.month_name(hours.shift_month(bal.month, -1), now_month)})" if bal.carried_minutes else "")
        fields.append(Field("Included", of + carried))
        remaining = bal.remaining_minutes or 0
        left = f"{hours.duration_text(remaining)} left" if remaining >= 0 else f"{hours.duration_text(-remaining)} over"
        text = f"{customer.name}, {when}: {used} of {of} used, {left}."
        fields.append(Field("Used", f"{used} billable"))
        fields.append(Field("Left" if remaining >= 0 else "Over", hours.duration_text(abs(remaining))))
    fields.append(Field("Non-billable", hours.duration_text(bal.nonbillable_minutes)))
    fields.append(Field("Tickets", await _tickets_text(customer, bal.month)))
    return [say(text, title=f"{customer.name} hours, {when}", fields=tuple(fields), internal=who.is_agent)]


async def _tickets_text(customer: Customer, month: str) -> str:
    """The tickets the month's billable time went to, most first."""
    rows = await TimeEntry.filter(customer_id=customer.id, month=month, billable=True).annotate(
        m=Sum("minutes")).group_by("ticket_id").values("ticket_id", "m")
    spent = sorted(((int(r["m"] or 0), r["ticket_id"]) for r in rows if r["m"]), reverse=True)
    if not spent:
        return "none"
    tickets = {t.id: t for t in await Ticket.filter(id__in=[tid for _, tid in spent])}
    shown = [f"{tickets[tid].key} {tickets[tid].title} · {hours.duration_text(m)}" for m, tid in spent[:TICKETS_SHOWN]]
    more = f"; and {len(spent) - TICKETS_SHOWN} more" if len(spent) > TICKETS_SHOWN else ""
    return "; ".join(shown) + more
