"""The ticket commands: open, show, queue, assign, prioritise, rank, status, wait, notes, replies,
resolve, close, reopen and the SLA view."""

from __future__ import annotations

from bot import clocks
from bot import tickets as svc
from bot.commands import Command, help_text
from bot.handlers.base import Env, Handlers, load_ticket, person_for, public, say, store_public, triage, zone_of
from bot.handlers.knowledge import learn_from_resolution
from bot.identity import ensure_contact
from bot.process import delivery_card, route_new_ticket
from bot.queues import queue_lines, sla_left
from bot.quoting import quote
from bot.quoting import title as shown_title
from bot.statuses import REACHED_ONLY_BY, Role, Status, status_label
from bot.timelabels import business, business_left, due_in_zone, hours
from bot.timelog import estimate_line
from bot.types import Audience, Button, Field, Platform, Reply
from bot.views import (
    MAX_SUGGESTIONS,
    TYPE_NAMES,
    buttons_for,
    solved_buttons,
    suggestion_lines,
    ticket_fields,
    triage_announcement,
    when,
)
from storage.models import ChannelBinding, Customer, Person, Ticket

HANDLERS = Handlers()


@HANDLERS.command("help")
async def _help(env: Env, cmd: Command) -> list[Reply]:
    role = None if env.who.role == Role.STRANGER else env.who.role
    return [say(help_text(cmd.get("topic"), role))]


@HANDLERS.command("new")
async def _new(env: Env, cmd: Command) -> list[Reply]:
    who, text = env.who, cmd.get("text", "")
    customer: Customer | None = None
    if cmd.get("customer"):
        customer = await Customer.filter(key=cmd.get("customer")).first()
        if customer is None and who.customer is None:
            # An agent named a customer chatdesk does not know: say so rather than ask for a customer.
            known = ", ".join([str(k) for k in await Customer.all().order_by("key").values_list("key", flat=True)])
            raise svc.Refusal(f"no customer {cmd.get('customer')} in the config (known: {known}): "
                              f"`/helpdesk new {known.split(', ')[0] or 'ACME'} <what is wrong>`")
        if customer is None or (not who.is_agent and who.customer and customer.id != who.customer.id):
            text = f"{cmd.get('customer')} {text}"  # the first word was text, not a customer key
            customer = None
    if customer is None:
        customer = who.customer
    if customer is None:
        raise svc.Refusal("name the customer: `/helpdesk new ACME <what is wrong>`")
    if who.role == Role.CONTACT:
        await ensure_contact(who, env.now)
    platform, tenant, channel = await _customer_channel(env, customer)
    ticket = await svc.create_ticket(who, customer, text, env.now, platform=platform, tenant=tenant,
                                     channel=channel, thread=None)
    await svc.store_message(ticket, who, platform=platform, message_id=env.message_id, text=text,
                            internal=False, now=env.now)
    suggestions = list(await env.desk.suggest(text, MAX_SUGGESTIONS))[:MAX_SUGGESTIONS]
    lines = [f"*{ticket.key}* opened by {quote(who.name)}: {shown_title(ticket.title)}",
             *suggestion_lines(suggestions)]
    root = Reply("\n".join(lines), audience=Audience.THREAD, ticket_key=ticket.key, kind="thread_root",
                 buttons=solved_buttons(ticket.key, suggestions), dedupe=f"ack:{ticket.key}")
    return [say(f"Opened {ticket.key} for {customer.name}.", ticket_key=ticket.key), root,
            triage_announcement(ticket, customer.name, text, suggestions),
            *await route_new_ticket(ticket, customer, who.person)]


async def _customer_channel(env: Env, customer: Customer) -> tuple[str, str, str]:
    place = env.who.place
    if place.platform == Platform.CONSOLE:
        return "console", "console", customer.key
    bindings = await ChannelBinding.filter(customer_id=customer.id, purpose="customer")
    same = [b for b in bindings if b.platform == place.platform.value] or bindings
    if not same:
        raise svc.Refusal(f"{customer.key} has no channel in the config to open a ticket in")
    b = next((b for b in same if b.channel == place.channel), same[0])
    return b.platform, b.tenant, b.channel


@HANDLERS.command("show")
async def _show(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"), "customer", "assignee")  # one round trip, not three
    assignee, customer = ticket.assignee, ticket.customer
    fields = ticket_fields(ticket, assignee, await zone_of(ticket), env.now, for_customer=not env.who.is_agent)
    buttons = buttons_for(ticket, env.who.role, env.who.person.id if env.who.person else None)
    title = shown_title(ticket.title)
    return [say(f"{ticket.key} ({customer.name}): {title}", title=f"{ticket.key}: {title}",
                fields=(Field("Customer", customer.name), *fields), buttons=buttons, ticket_key=ticket.key)]


@HANDLERS.command("queue")
async def _queue(env: Env, cmd: Command) -> list[Reply]:
    who = env.who
    if who.role == Role.CONTACT:
        assert who.customer is not None
        rows = await Ticket.filter(customer_id=who.customer.id, status__in=svc.OPEN_STATUSES).order_by("number")
        if not rows:
            return [say(f"{who.customer.name} has no open tickets.")]
        lines = [f"Open tickets of {who.customer.name}:"]
        lines += [f"• {t.key} {shown_title(t.title)} ({status_label(t.status)})" for t in rows]
        return [say("\n".join(lines))]
    person = await person_for(env, cmd.get("person")) if cmd.get("person") else who.person
    assert person is not None
    tickets, total = await queue_lines(person.id)
    if not tickets:
        return [say(f"{person.name}'s queue is empty.")]
    lines = [f"{person.name}'s queue, first things first:"]
    for i, (t, left) in enumerate(zip(tickets, await sla_left(tickets, env.now), strict=True), start=1):
        rank = f"#{t.rank}" if t.rank else "unranked"
        lines.append(f"{i}. {t.key} {t.priority} {rank} · {t.customer}: {shown_title(t.title)} · {left}")
    if total > len(tickets):
        lines.append(f"… and {total - len(tickets)} more (`chatdesk tickets list` shows every ticket).")
    return [say("\n".join(lines))]


async def _assign_to(env: Env, ticket: Ticket, person: Person) -> list[Reply]:
    previous = await svc.assign(ticket, env.who, person, env.now)
    await svc.save(ticket, env.now)
    if previous is not None and previous.id == person.id:
        return [say(f"{ticket.key} is already assigned to {person.name}.")]
    replies = [say(f"{ticket.key} is now assigned to {person.name}."),
               triage(ticket, f"{ticket.key} assigned to {person.name} by {env.who.name}.")]
    if env.who.person is None or env.who.person.id != person.id:
        replies.append(Reply(f"{env.who.name} assigned {ticket.key} to you: {shown_title(ticket.title)}",
                             audience=Audience.DM,
                             person=person.pid, ticket_key=ticket.key, internal=True, kind="notice"))
    return replies


@HANDLERS.command("claim")
async def _claim(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    assert env.who.person is not None
    return await _assign_to(env, ticket, env.who.person)


@HANDLERS.command("assign")
async def _assign(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    return await _assign_to(env, ticket, await person_for(env, cmd.get("person")))


@HANDLERS.command("priority")
async def _priority(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    old = await svc.set_priority(ticket, env.who, cmd.get("priority"), env.now)
    await svc.save(ticket, env.now)
    zone = await zone_of(ticket)
    due = f" Resolution due {when(ticket.resolution_due, zone)}." if ticket.resolution_due else ""
    text = f"{ticket.key} priority {old} → {ticket.priority}.{due}"
    notice = triage(ticket, f"{text} (by {env.who.name})")
    if (env.who.binding is not None and env.who.binding.purpose == "triage"
            and env.who.place.platform == Platform.TEAMS):
        # Teams cannot whisper: an answer in triage is a post, and the notice says the same, so it is posted once.
        return [notice]
    return [say(text), notice]


@HANDLERS.command("rank")
async def _rank(env: Env, cmd: Command) -> list[Reply]:
    person = await person_for(env, cmd.get("person"))
    ordered = await svc.rank(person, cmd.get("keys"), env.who, env.now)
    order = ", ".join(t.key for t in ordered)
    return [say(f"{person.name}'s queue now starts: {order}."),
            Reply(f"{env.who.name} set your queue order: {order}. `/helpdesk queue` shows it.",
                  audience=Audience.DM, person=person.pid, internal=True, kind="notice")]


@HANDLERS.command("type")
async def _type(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if cmd.get("type") == ticket.type:
        return [say(f"{ticket.key} is already of type {TYPE_NAMES[ticket.type]}; nothing changed.")]
    old = await svc.set_type(ticket, env.who, cmd.get("type"), env.now)
    await svc.save(ticket, env.now)
    return [say(f"{ticket.key} type {TYPE_NAMES[old]} → {TYPE_NAMES[ticket.type]}.")]


@HANDLERS.command("status")
async def _status(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    status = cmd.get("status")
    if status == "resolved":
        raise svc.Refusal(f"resolve with a resolution the customer sees: `/helpdesk resolve {ticket.key} <text>`")
    if status in REACHED_ONLY_BY:
        raise svc.Refusal(f"not allowed: {status_label(status)} is reached when {REACHED_ONLY_BY[status]}")
    old = ticket.status
    await svc.change_status(ticket, env.who, status, env.now, check=True)
    await svc.save(ticket, env.now)
    replies = [say(f"{ticket.key} {status_label(old)} → {status_label(status)}.")]
    if status == Status.DELIVERED_TO_TEST and old != status:
        replies.append(delivery_card(ticket, env.who.name))  # the customer is asked to accept
    return replies


@HANDLERS.command("wait")
async def _wait(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    await svc.change_status(ticket, env.who, "waiting_on_customer", env.now, check=True)
    replies = [say(f"{ticket.key} is waiting on the customer; the SLA clock is paused until they reply.")]
    text = cmd.get("text")
    if text:
        await store_public(env, ticket, text)
        await svc.on_agent_public_reply(ticket, env.who, env.now)
        replies.append(public(ticket, f"*{env.who.name}*: {text}"))
    else:
        replies.append(public(ticket, f"{env.who.name} is waiting for your reply in this thread."))
    await svc.save(ticket, env.now)
    return replies


@HANDLERS.command("note")
async def _note(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    await svc.store_message(ticket, env.who, platform=env.who.actor.platform.value, message_id=env.message_id,
                            text=cmd.get("text"), internal=True, now=env.now)
    await svc.audit(ticket, env.who, "note", env.now)
    await svc.save(ticket, env.now)
    return [say(f"Internal note added to {ticket.key} (the customer does not see it).", internal=True)]


@HANDLERS.command("reply")
async def _reply(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if ticket.status == "closed":
        raise svc.Refusal(f"{ticket.key} is closed; reopen it first (`/helpdesk reopen {ticket.key}`)")
    await store_public(env, ticket, cmd.get("text"))
    await svc.on_agent_public_reply(ticket, env.who, env.now)
    await svc.audit(ticket, env.who, "reply", env.now)
    await svc.save(ticket, env.now)
    return [say(f"Replied in {ticket.key}'s thread."), public(ticket, f"*{env.who.name}*: {cmd.get('text')}")]


@HANDLERS.command("resolve")
async def _resolve(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if ticket.status in svc.DONE_STATUSES:
        raise svc.Refusal(f"{ticket.key} is already {status_label(ticket.status)}")
    text = cmd.get("text")
    ticket.resolution = text
    await store_public(env, ticket, text)
    if ticket.first_response_at is None or ticket.sla_state.get("next_response_start"):
        await svc.on_agent_public_reply(ticket, env.who, env.now)
    await svc.change_status(ticket, env.who, "resolved", env.now, reason=text)
    await svc.save(ticket, env.now)
    await learn_from_resolution(ticket)
    rating = tuple(Button(f"{n}★", f"rate {ticket.key} {n}") for n in range(1, 6))
    spent = await estimate_line(ticket)
    return [
        say(f"{ticket.key} resolved; the resolution was posted to the customer."),
        public(ticket, f"*{ticket.key} is resolved.*\n{text}\n\n{spent + chr(10) * 2 if spent else ''}"
                       f"How did we do? Rate 1-5 "
                       f"(`/helpdesk rate {ticket.key} 5`) or reply here if it is not solved.",
               title=f"{ticket.key} resolved", buttons=rating, kind="resolution"),
        triage(ticket, f"{ticket.key} resolved by {env.who.name}."),
    ]


@HANDLERS.command("close")
async def _close(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    await svc.change_status(ticket, env.who, "closed", env.now, check=True)
    await svc.save(ticket, env.now)
    return [say(f"{ticket.key} closed.")]


@HANDLERS.command("reopen")
async def _reopen(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    if ticket.status not in svc.DONE_STATUSES:
        raise svc.Refusal(f"{ticket.key} is {status_label(ticket.status)}, not resolved or closed")
    await svc.change_status(ticket, env.who, "in_progress", env.now, reason=cmd.get("text"))
    await svc.save(ticket, env.now)
    reason = f": {cmd.get('text')}" if cmd.get("text") else ""
    return [say(f"{ticket.key} reopened."), triage(ticket, f"{ticket.key} reopened by {env.who.name}{reason}")]


@HANDLERS.command("sla")
async def _sla(env: Env, cmd: Command) -> list[Reply]:
    ticket = await load_ticket(env, cmd.get("key"))
    ctx = await svc.sla_context(ticket.customer_id)
    target = ctx.target(ticket.priority)
    if target is None:
        return [say(f"{ticket.key}: the {ctx.contract.name} contract sets no target for {ticket.priority}.")]
    fields = []
    paused_total = sum(
        clocks.business_minutes_between(ctx.calendar, a, b) for a, b in clocks.pauses(ticket.sla_state, env.now)
    )
    for v in clocks.view(ticket.sla_state, ctx.calendar, target, ctx.contract.warn_at, env.now):
        name = v.metric.replace("_", " ")
        if v.started is None:
            state = v.result or ("not running" if v.metric == "next_response" else "stopped")
            fields.append(Field(name, f"target {business(v.target_minutes)} · {state}"))
            continue
        left = "paused" if v.paused else business_left(v.target_minutes - v.used_minutes)
        due = "" if v.paused or v.due is None else f" · {due_in_zone(v.due, ctx.calendar.timezone)}"
        fields.append(Field(name, f"target {business(v.target_minutes)} · used "
                                  f"{hours(v.used_minutes)} · {left}{due}"))
    fields.append(Field("paused", business(paused_total)))
    return [say(f"SLA for {ticket.key} ({ticket.priority}, {ctx.contract.name} contract, "
                f"{ctx.calendar.timezone})", fields=tuple(fields), ticket_key=ticket.key)]
