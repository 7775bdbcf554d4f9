"""The entry points adapters call: a message arrived, a command was given.

Each event runs in one transaction: the processed-event row (so a retried
delivery is recognised), the change, its audit events and the queued posts
commit together. Refusals roll everything back and change nothing.

Channel messages from an adapter that must acknowledge quickly come in through
accept_message: with an inbox (storage/inbox.py) the message is stored and acknowledged,
and the inbox worker runs the same handling later, in one transaction with marking
the inbox row done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import audience, process, views
from bot import tickets as svc
from bot.clock import Clock, SystemClock
from bot.commands import BY_NAME, ParseError, parse
from bot.handlers.base import Env
from bot.handlers.dispatch import HANDLERS
from bot.identity import CONSOLE_TRIAGE, Who, ensure_contact, resolve
from bot.mail import thread_destination as mail_thread_destination
from bot.statuses import Role
from bot.types import Audience, Destination, IncomingMessage, Invocation, Outcome, Platform, Reply, delivery_key
from bot.views import triage_announcement
from kb import service as kb_service
from storage import outbox
from storage.inbox import Inbox, process_next
from storage.models import ChannelBinding, Contact, Customer, Message, Person, ProcessedEvent, Ticket

log = logging.getLogger("chatdesk.core")


Suggest = Callable[[str, int], Awaitable[Sequence[Any]]]


async def kb_suggest(text: str, limit: int) -> Sequence[Any]:
    """Knowledge-base suggestions; a failing knowledge base never blocks a ticket."""
    try:
        return await kb_service.search(text, limit=limit)
    except Exception:
        log.exception("knowledge-base search failed")
        return []


class Helpdesk:
    def __init__(self, clock: Clock | None = None, suggest: Suggest | None = None,
                 on_queued: Callable[[], None] | None = None, inbox: Inbox | None = None) -> None:
        self.clock = clock or SystemClock()
        self.suggest = suggest or kb_suggest
        self.on_queued = on_queued  # wakes the outbox worker
        # With an inbox (a process that runs the inbox worker), accepted messages are processed
        # in the background; without one, accept_message processes them at once.
        self.inbox = inbox
        # Called with each accepted message and its outcome once it is processed and committed
        # (the Slack adapter fetches the files of a stored message).
        self.after_message: list[Callable[[IncomingMessage, Outcome], None]] = []

    # -- inbound messages -------------------------------------------------------------------

    async def accept_message(self, msg: IncomingMessage) -> Outcome:
        """A channel message from an adapter that acknowledges as soon as this returns: stored in the
        inbox (a retried delivery is a duplicate and stores nothing), or processed now without one."""
        if msg.from_bot:
            return Outcome()
        if self.inbox is None:
            outcome = await self.handle_message(msg)
            self._after(msg, outcome)
            return outcome
        accepted = await self.inbox.accept(msg, self.clock.now())
        return Outcome(duplicate=not accepted)

    async def process_inbox(self) -> int:
        """Process every inbox row due now (the inbox worker's sweep; tests call it to drain)."""
        taken = 0
        while await self.process_inbox_one():
            taken += 1
        return taken

    async def process_inbox_one(self) -> bool:
        """Process the first due inbox row; False when nothing is due."""
        result = await process_next(self._accepted, self.clock.now())
        if result is None:
            return False
        msg, outcome = result
        if outcome is not None:
            if outcome.queued and self.on_queued:
                self.on_queued()
            self._after(msg, outcome)
        return True

    async def _accepted(self, msg: IncomingMessage, accepted_at: datetime) -> Outcome:
        """An inbox row's message, inside the worker's transaction; its times are the accept time."""
        if not await self._first_delivery(msg.place.platform, msg.place.channel, msg.event_id):
            return Outcome(duplicate=True)
        return await self._message(msg, accepted_at)

    def _after(self, msg: IncomingMessage, outcome: Outcome) -> None:
        for follow_up in self.after_message:
            try:
                follow_up(msg, outcome)
            except Exception:
                log.exception("a follow-up of a stored message failed")

    async def handle_message(self, msg: IncomingMessage) -> Outcome:
        if msg.from_bot:
            return Outcome()
        try:
            async with in_transaction():
                if not await self._first_delivery(msg.place.platform, msg.place.channel, msg.event_id):
                    return Outcome(duplicate=True)
                outcome = await self._message(msg, self.clock.now())
        except IntegrityError:
            # A concurrent delivery of the same message won the race: it is stored once.
            return Outcome(duplicate=True)
        if outcome.queued and self.on_queued:
            self.on_queued()
        return outcome

    async def _message(self, msg: IncomingMessage, now: datetime) -> Outcome:
        platform = msg.place.platform.value
        same_message = Message.filter(platform=platform, channel=msg.place.channel, platform_message_id=msg.message_id)
        if msg.edited or msg.deleted:
            stored = await same_message.first()
            if stored is None:
                return Outcome()
            if msg.deleted:
                stored.deleted_at = now
            else:
                stored.text = msg.text[: svc.MESSAGE_LIMIT]
                stored.edited_at = now
            await stored.save()
            return Outcome()
        if await same_message.exists():
            return Outcome(duplicate=True)
        who = await resolve(msg.actor, msg.place)
        if who.binding is None or who.binding.purpose != "customer" or who.customer is None:
            return Outcome()  # a channel chatdesk does not serve (triage chatter, DMs without a command)
        if msg.place.thread and msg.place.thread != msg.message_id:
            ticket = await Ticket.filter(platform=platform, channel=msg.place.channel, thread=msg.place.thread).first()
            if ticket is None:
                return Outcome()  # a reply in a thread that is not a ticket
            return await self._thread_reply(ticket, who, msg, now)
        if who.is_agent:
            return Outcome()  # agents' top-level posts (announcements) are not tickets
        return await self._new_ticket(who, msg, now)

    async def _new_ticket(self, who: Who, msg: IncomingMessage, now: Any) -> Outcome:
        assert who.customer is not None
        await ensure_contact(who, now)
        platform = msg.place.platform.value
        ticket = await svc.create_ticket(who, who.customer, msg.text, now, platform=platform,
                                         tenant=msg.place.tenant, channel=msg.place.channel, thread=msg.message_id)
        await svc.store_message(ticket, who, platform=platform, message_id=msg.message_id, text=msg.text,
                                internal=False, now=now, files=msg.files)
        replies = await self._intake_replies(ticket, who.customer, msg.text)
        queued = await self.route(replies, who, ticket)
        return Outcome(queued=queued, ticket_key=ticket.key)

    async def _intake_replies(self, ticket: Ticket, customer: Customer, text: str) -> list[Reply]:
        suggestions = list(await self.suggest(text, views.MAX_SUGGESTIONS))[: views.MAX_SUGGESTIONS]
        lines = [f"Thanks, this is *{ticket.key}*. A consultant will reply in this thread."]
        lines += views.suggestion_lines(suggestions)
        ack = Reply("\n".join(lines), audience=Audience.THREAD, ticket_key=ticket.key, kind="ack",
                    buttons=views.solved_buttons(ticket.key, suggestions), dedupe=f"ack:{ticket.key}")
        routing = await process.route_new_ticket(ticket, customer)
        return [ack, triage_announcement(ticket, customer.name, text), *routing]

    async def _thread_reply(self, ticket: Ticket, who: Who, msg: IncomingMessage, now: Any) -> Outcome:
        platform = msg.place.platform.value
        if who.role == Role.CONTACT:
            await ensure_contact(who, now)
        await svc.store_message(ticket, who, platform=platform, message_id=msg.message_id, text=msg.text,
                                internal=False, now=now, files=msg.files)
        replies: list[Reply] = []
        if who.is_agent:
            await svc.on_agent_public_reply(ticket, who, now)
        elif who.role == Role.CONTACT:
            events = await svc.on_customer_message(ticket, who, now)
            if "resumed" in events and ticket.assignee_id:
                person = await Person.get(id=ticket.assignee_id)
                replies.append(Reply(f"{ticket.key}: the customer replied; the ticket is in progress again.",
                                     audience=Audience.DM, person=person.pid, ticket_key=ticket.key,
                                     internal=True, kind="notice"))
        await svc.save(ticket, now)
        queued = await self.route(replies, who, ticket)
        return Outcome(queued=queued, ticket_key=ticket.key)

    # -- commands and buttons ---------------------------------------------------------------

    async def handle_invocation(self, inv: Invocation) -> Outcome:
        try:
            command = parse(inv.text)
        except ParseError as exc:
            return Outcome(replies=(Reply(exc.message, kind="error"),))
        who: Who | None = None
        try:
            async with in_transaction():
                if not await self._first_delivery(inv.place.platform, inv.place.channel, inv.event_id):
                    return Outcome(duplicate=True)
                who = await resolve(inv.actor, inv.place)
                spec = BY_NAME[command.name]
                if who.role not in spec.roles:
                    raise svc.Refusal(self._refusal(who, spec.refusal, command.name))
                env = Env(desk=self, who=who, now=self.clock.now(), invocation=inv)
                replies = await HANDLERS[command.name](env, command)
                caller, private = await audience.split_answers(
                    [r for r in replies if r.audience == Audience.CALLER], who)
                queued = await self.route([r for r in replies if r.audience != Audience.CALLER], who, None)
                queued += await self._queue_private(private)
        except svc.Refusal as exc:
            return await self._refused(Reply(str(exc), kind="refusal"), who)
        except IntegrityError:
            return Outcome(duplicate=True)
        if queued and self.on_queued:
            self.on_queued()
        return Outcome(replies=tuple(caller), queued=queued)

    async def _queue_private(self, private: Sequence[tuple[Destination, Reply]]) -> int:
        now = self.clock.now()
        return sum([await outbox.enqueue(dest, reply, now) is not None for dest, reply in private])

    async def _refused(self, refusal: Reply, who: Who | None) -> Outcome:
        """A refusal changes nothing; what it says follows the same visibility rule as any answer."""
        if who is None:
            return Outcome(replies=(refusal,))
        here, private = await audience.split_answers([refusal], who)
        if private:
            async with in_transaction():
                queued = await self._queue_private(private)
            if queued and self.on_queued:
                self.on_queued()
        return Outcome(replies=tuple(here))

    @staticmethod
    def _refusal(who: Who, reason: str, command: str) -> str:
        if who.role == Role.STRANGER:
            return ("not allowed: chatdesk does not know you here. Consultants and leads are listed in the "
                    "config; customers write in their organisation's channel.")
        return f"not allowed: {reason or f'you cannot use {command}'}"

    async def _first_delivery(self, platform: Platform, channel: str, event_id: str) -> bool:
        if not event_id:
            return True
        _, created = await ProcessedEvent.get_or_create(
            platform=platform.value, event_id=delivery_key(channel, event_id), defaults={"created_at": self.clock.now()}
        )
        return created

    # -- routing replies into the outbox ------------------------------------------------------

    async def route(self, replies: Sequence[Reply], who: Who | None, ticket: Ticket | None) -> int:
        now = self.clock.now()
        queued = 0
        for reply in replies:
            t = ticket
            if reply.ticket_key and (t is None or t.key != reply.ticket_key):
                t = await Ticket.filter(key=reply.ticket_key).first()
            for planned in await self.destinations(reply, t, who):
                admitted = audience.admit(reply, planned, who)
                if admitted is None:
                    continue
                dest, fit = admitted
                dedupe = f"{fit.dedupe}:{dest.platform.value}:{dest.channel or dest.user}" if fit.dedupe else None
                row = await outbox.enqueue(dest, _with_dedupe(fit, dedupe), now)
                queued += row is not None
        return queued

    async def destinations(self, reply: Reply, ticket: Ticket | None, who: Who | None) -> list[Destination]:
        platform = Platform(ticket.platform) if ticket else (who.place.platform if who else Platform.CONSOLE)
        if reply.audience == Audience.THREAD:
            if ticket is None:
                return []
            if ticket.platform == Platform.EMAIL.value:  # the contact, by mail, in the ticket's thread
                return [d for d in [await mail_thread_destination(ticket, reply)] if d is not None]
            return [Destination(Platform(ticket.platform), ticket.tenant, ticket.channel, ticket.thread,
                                customer_visible=True)]
        if reply.audience == Audience.TRIAGE:
            if platform == Platform.CONSOLE:
                return [Destination(Platform.CONSOLE, "console", CONSOLE_TRIAGE)]
            bindings = await ChannelBinding.filter(purpose="triage")
            same = [b for b in bindings if b.platform == platform.value] or bindings
            return [Destination(Platform(b.platform), b.tenant, b.channel) for b in same]
        if reply.audience == Audience.DM and reply.contact is not None:
            contact = await Contact.filter(id=reply.contact, erased_at__isnull=True).first()
            if contact is None:
                return []
            return [Destination(Platform(contact.platform), contact.tenant, user=contact.user_id)]
        if reply.audience == Audience.DM and reply.person:
            person = await Person.filter(pid=reply.person, active=True).first()
            if person is None:
                return []
            return [d for d in [dm_destination(person, platform)] if d is not None]
        return []


def dm_destination(person: Person, platform: Platform) -> Destination | None:
    if platform == Platform.CONSOLE:
        return Destination(Platform.CONSOLE, "console", user=person.pid)
    options = [(Platform.SLACK, person.slack), (Platform.TEAMS, person.teams)]
    options.sort(key=lambda o: o[0] != platform)
    for p, user in options:
        if user:
            return Destination(p, "", user=user)
    return None


def _with_dedupe(reply: Reply, dedupe: str | None) -> Reply:
    return reply if dedupe == reply.dedupe else replace(reply, dedupe=dedupe)
