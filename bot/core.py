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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import audience, intake, memo, process, views
from bot import tickets as svc
from bot.access import how_to_get_access
from bot.clock import Clock, SystemClock
from bot.commands import BY_NAME, ParseError, parse
from bot.handlers.base import Env
from bot.handlers.dispatch import HANDLERS
from bot.identity import CONSOLE_TRIAGE, Who, ensure_contact, resolve
from bot.mail import thread_destination as mail_thread_destination
from bot.statuses import Role
from bot.triage_threads import ThreadKey, triage_thread, triage_threads
from bot.types import (
    Audience,
    Destination,
    IncomingMessage,
    Invocation,
    Outcome,
    Platform,
    Reaction,
    Reply,
    delivery_key,
)
from bot.views import triage_announcement
from kb import service as kb_service
from storage import config_version, outbox, rows
from storage.inbox import Inbox, process_batch
from storage.models import ChannelBinding, Contact, Customer, Message, Person, Ticket
from storage.processed import first_delivery

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
        while batch := await self.process_inbox_batch():
            taken += batch
        return taken

    async def process_inbox_one(self) -> bool:
        """Process the first due inbox row; False when nothing is due."""
        return bool(await self.process_inbox_batch(limit=1))

    async def process_inbox_batch(self, limit: int | None = None) -> int:
        """Process a batch of due inbox rows in one transaction; how many were taken (0: none due)."""
        with memo.batch(await config_version.current()):
            results = await process_batch(self._accepted, self.clock.now(), limit=limit)
        handled = [(msg, outcome) for msg, outcome in results if outcome is not None]
        if self.on_queued and any(outcome.queued for _, outcome in handled):
            self.on_queued()
        for msg, outcome in handled:
            self._after(msg, outcome)
        return len(results)

    async def _accepted(self, msg: IncomingMessage, accepted_at: datetime) -> Outcome:
        """An inbox row's message, inside the worker's transaction; its times are the accept time."""
        try:
            if not await self._first_delivery(msg.place.platform, msg.place.channel, msg.event_id):
                return Outcome(duplicate=True)
            return await self._message(msg, accepted_at)
        except BaseException:
            memo.discard()  # its savepoint is rolled back: what it read may never have been committed
            raise

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
        if msg.deleted:
            return await intake.deleted(self, msg, now)
        if msg.edited:
            return await intake.edited(self, msg, now)
        if await rows.exists(Message, platform=platform, channel=msg.place.channel,
                             platform_message_id=msg.message_id):
            return Outcome(duplicate=True)
        who = await resolve(msg.actor, msg.place)
        if who.binding is None or who.binding.purpose != "customer" or who.customer is None:
            return Outcome()  # a channel chatdesk does not serve (triage chatter, DMs without a command)
        if msg.place.thread and msg.place.thread != msg.message_id:
            ticket = await Ticket.filter(platform=platform, channel=msg.place.channel, thread=msg.place.thread).first()
            if ticket is None:  # a reply in a thread that is not a ticket: maybe under "hello"
                return await intake.reply_without_ticket(self, who, msg, now)
            return await self._thread_reply(ticket, who, msg, now)
        if who.is_agent:
            return Outcome()  # agents' top-level posts (announcements) are not tickets
        return await intake.top_level(self, who, msg, now)

    async def handle_reaction(self, added: Reaction) -> Outcome:
        """An emoji reaction in a channel: a ticket_emoji on a message that is no ticket yet opens one."""
        try:
            async with in_transaction():
                if not await self._first_delivery(added.place.platform, added.place.channel, added.event_id):
                    return Outcome(duplicate=True)
                outcome = await intake.reaction(self, added, self.clock.now())
        except IntegrityError:
            return Outcome(duplicate=True)
        if outcome.queued and self.on_queued:
            self.on_queued()
        return outcome

    async def join_ticket(self, ticket: Ticket, who: Who, msg: IncomingMessage, now: datetime) -> Outcome:
        """A top-level message grouped into a ticket counts as a reply in its thread (no second ack)."""
        return await self._thread_reply(ticket, who, msg, now)

    async def open_ticket(self, who: Who, msg: IncomingMessage, now: datetime) -> tuple[Ticket, Outcome]:
        assert who.customer is not None
        await ensure_contact(who, now)
        platform = msg.place.platform.value
        ticket = await svc.create_ticket(who, who.customer, msg.text, now, platform=platform,
                                         tenant=msg.place.tenant, channel=msg.place.channel,
                                         thread=msg.place.thread or msg.message_id)
        await svc.store_message(ticket, who, platform=platform, message_id=msg.message_id, text=msg.text,
                                internal=False, now=now, files=msg.files)
        replies = await self._intake_replies(ticket, who.customer, msg.text, now)
        queued = await self.route(replies, who, ticket, new_ticket=True)
        return ticket, Outcome(queued=queued, ticket_key=ticket.key)

    async def _intake_replies(self, ticket: Ticket, customer: Customer, text: str, now: datetime) -> list[Reply]:
        suggestions = list(await self.suggest(text, views.MAX_SUGGESTIONS))[: views.MAX_SUGGESTIONS]
        lines = [f"Thanks, this is *{ticket.key}*. A consultant will reply in this thread."]
        hours = await intake.out_of_hours_note(ticket, now)
        if hours:
            lines.append(hours)
        lines += views.suggestion_lines(suggestions)
        ack = Reply("\n".join(lines), audience=Audience.THREAD, ticket_key=ticket.key, kind="ack",
                    buttons=views.solved_buttons(ticket.key, suggestions), dedupe=f"ack:{ticket.key}")
        routing = await process.route_new_ticket(ticket, customer)
        return [ack, triage_announcement(ticket, customer.name, text, suggestions), *routing]

    async def _thread_reply(self, ticket: Ticket, who: Who, msg: IncomingMessage, now: datetime) -> Outcome:
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
            if command == "help":
                return how_to_get_access(who)
            return f"not allowed: {how_to_get_access(who)}"
        return f"not allowed: {reason or f'you cannot use {command}'}"

    async def _first_delivery(self, platform: Platform, channel: str, event_id: str) -> bool:
        if not event_id:
            return True
        return await first_delivery(platform.value, delivery_key(channel, event_id), self.clock.now())

    # -- routing replies into the outbox ------------------------------------------------------

    async def route(self, replies: Sequence[Reply], who: Who | None, ticket: Ticket | None,
                    tickets: Mapping[str, Ticket] | None = None, *, new_ticket: bool = False) -> int:
        """Queue the replies in one statement, in the order given (the customer's first); `tickets`
        saves looking up the tickets of replies about several. For a `new_ticket` nothing has been
        delivered yet, so it has no triage thread to look up."""
        now = self.clock.now()
        posts: list[tuple[Destination, Reply]] = []
        seen: set[str] = set()
        people = await self._people(replies)
        triage: list[ChannelBinding] | None = None
        keys = {r.ticket_key for r in replies if r.audience == Audience.TRIAGE and r.ticket_key}
        if new_ticket and ticket is not None:
            keys.discard(ticket.key)
        threads = await triage_threads(keys)
        for reply in replies:
            t = ticket
            if reply.ticket_key and (t is None or t.key != reply.ticket_key):
                t = tickets.get(reply.ticket_key) if tickets else None
                t = t or await Ticket.filter(key=reply.ticket_key).first()
            if reply.audience == Audience.TRIAGE and triage is None:
                triage = await triage_bindings()
            for planned in await self.destinations(reply, t, who, people, triage, threads):
                admitted = audience.admit(reply, planned, who, _dedupe_at)
                if admitted is None:
                    continue
                dest, fit = admitted
                if fit.dedupe is not None:
                    if fit.dedupe in seen:
                        continue
                    seen.add(fit.dedupe)
                posts.append((dest, fit))
        return await outbox.enqueue_many(posts, now)

    @staticmethod
    async def _people(replies: Sequence[Reply]) -> dict[str, Person]:
        """The active people the replies' DMs go to, in one query."""
        pids = {r.person for r in replies if r.audience == Audience.DM and r.contact is None and r.person}
        if not pids:
            return {}
        wanted = sorted(pids)
        found = await memo.read(("people", *wanted), lambda: Person.filter(pid__in=wanted, active=True).all())
        return {p.pid: p for p in found}

    async def destinations(self, reply: Reply, ticket: Ticket | None, who: Who | None,
                           people: dict[str, Person] | None = None,
                           triage: list[ChannelBinding] | None = None,
                           threads: Mapping[ThreadKey, str] | None = None) -> list[Destination]:
        platform = Platform(ticket.platform) if ticket else (who.place.platform if who else Platform.CONSOLE)
        if reply.audience == Audience.THREAD:
            if ticket is None:
                return []
            if ticket.platform == Platform.EMAIL.value:  # the contact, by mail, in the ticket's thread
                return [d for d in [await mail_thread_destination(ticket, reply)] if d is not None]
            return [Destination(Platform(ticket.platform), ticket.tenant, ticket.channel, ticket.thread,
                                customer_visible=True)]
        if reply.audience == Audience.CHANNEL:
            return await customer_channels(ticket) if ticket else []
        if reply.audience == Audience.TRIAGE:
            if platform == Platform.CONSOLE:
                return [Destination(Platform.CONSOLE, "console", CONSOLE_TRIAGE)]
            bindings = triage if triage is not None else await triage_bindings()
            same = [b for b in bindings if b.platform == platform.value] or bindings
            if ticket is None:
                return [Destination(Platform(b.platform), b.tenant, b.channel) for b in same]
            return [Destination(Platform(b.platform), b.tenant, b.channel,
                                threads.get((ticket.key, b.platform, b.channel)) if threads is not None
                                else await triage_thread(ticket.key, b.platform, b.channel))
                    for b in same]
        if reply.audience == Audience.DM and reply.contact is not None:
            contact = await Contact.filter(id=reply.contact, erased_at__isnull=True).first()
            if contact is None:
                return []
            return [Destination(Platform(contact.platform), contact.tenant, user=contact.user_id)]
        if reply.audience == Audience.DM and reply.person:
            person = (people.get(reply.person) if people is not None
                      else await Person.filter(pid=reply.person, active=True).first())
            if person is None:
                return []
            return [d for d in [dm_destination(person, platform)] if d is not None]
        return []


async def triage_bindings() -> list[ChannelBinding]:
    return list(await memo.read(("triage",), lambda: ChannelBinding.filter(purpose="triage").all()))


async def customer_channels(ticket: Ticket) -> list[Destination]:
    """The customer's own channels on the ticket's platform (all of them when none is on it)."""
    if ticket.platform == Platform.CONSOLE.value:
        return [Destination(Platform.CONSOLE, "console", ticket.channel, customer_visible=True)]
    bindings = await ChannelBinding.filter(purpose="customer", customer_id=ticket.customer_id).order_by("id")
    same = [b for b in bindings if b.platform == ticket.platform] or bindings
    return [Destination(Platform(b.platform), b.tenant, b.channel, customer_visible=True) for b in same]


def dm_destination(person: Person, platform: Platform) -> Destination | None:
    if platform == Platform.CONSOLE:
        return Destination(Platform.CONSOLE, "console", user=person.pid)
    options = [(Platform.SLACK, person.slack), (Platform.TEAMS, person.teams)]
    options.sort(key=lambda o: o[0] != platform)
    for p, user in options:
        if user:
            return Destination(p, "", user=user)
    return None


def _dedupe_at(dedupe: str, dest: Destination) -> str:
    """A reply's dedupe key as queued for one destination (the same notice may go to several)."""
    return f"{dedupe}:{dest.platform.value}:{dest.channel or dest.user}"
