"""Intake: what a contact's top-level message in their channel becomes.

In a real shared channel people say "thanks" and "hello", split one request over
three quick messages, add a screenshot a minute later, edit and delete what they
wrote, react with 🎫 and write at night. The rules (org config `intake:`, per
customer `customers[].intake`):

- A message within `group_minutes` of the same contact's previous top-level message
  in the channel joins that message's ticket while it is open.
- A pleasantry (bot/pleasantries.py) opens nothing; it is stored on the contact's
  ticket in that channel when that ticket saw activity in the last `group_minutes`.
- In `mode: reaction` only a `ticket_emoji` reaction (or `/helpdesk new`) opens tickets;
  in `mode: auto` every other message does.
- A reaction with `ticket_emoji` on a message that is not part of a ticket opens one
  from it, for its author.

Time for grouping is the platform's own time of the message (Slack ts, Teams
timestamp), so a retry that arrives late still groups with its neighbours. Every
top-level message is recorded (IntakeMessage), so nothing a customer sends is lost:
a message that opened nothing can still become a ticket by reaction or by an edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot import sla
from bot import tickets as svc
from bot.attachments import keep_file
from bot.identity import Who, ensure_contact, resolve
from bot.pleasantries import is_pleasantry
from bot.types import Actor, Audience, FileRef, IncomingMessage, Outcome, Place, Platform, Reaction, Reply
from storage import rows
from storage.models import Attachment, Contact, Customer, IntakeMessage, Message, Ticket

WITHDRAWN = "withdrawn: the customer deleted their message before anyone worked on it"


@dataclass(frozen=True)
class IntakeSettings:
    ignore_pleasantries: bool = True
    group_minutes: int = 5
    ticket_emoji: str = "ticket"
    mode: str = "auto"  # auto | reaction

    @classmethod
    def of(cls, customer: Customer | None) -> IntakeSettings:
        raw = (customer.intake if customer is not None else None) or {}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class Desk(Protocol):
    """What intake needs of bot.core.Helpdesk."""

    async def open_ticket(self, who: Who, msg: IncomingMessage, now: datetime) -> tuple[Ticket, Outcome]: ...

    async def join_ticket(self, ticket: Ticket, who: Who, msg: IncomingMessage, now: datetime) -> Outcome: ...

    async def route(self, replies: Sequence[Reply], who: Who | None, ticket: Ticket | None) -> int: ...


# -- new top-level messages ---------------------------------------------------------------------


async def top_level(desk: Desk, who: Who, msg: IncomingMessage, now: datetime) -> Outcome:
    """A contact's top-level message in their customer's channel: open, join, or open nothing."""
    assert who.customer is not None
    settings = IntakeSettings.of(who.customer)
    known = who.contact is not None  # a contact's very first message has nothing to join
    contact = await ensure_contact(who, now)
    at = msg.sent_at or now
    pleasantry = settings.ignore_pleasantries and is_pleasantry(msg.text, bool(msg.files))
    ticket: Ticket | None = None
    if settings.group_minutes and known:
        window = timedelta(minutes=settings.group_minutes)
        ticket = await grouping_ticket(contact, msg, at, window)
        if ticket is None and pleasantry:
            ticket = await recent_ticket(contact, msg, now - window)
    if ticket is not None:
        if pleasantry:
            # Stored with the ticket, but "thanks" asks nothing of support: no clock changes.
            await svc.store_message(ticket, who, platform=msg.place.platform.value, message_id=msg.message_id,
                                    text=msg.text, internal=False, now=now, files=msg.files)
            outcome = Outcome(ticket_key=ticket.key)
        else:
            outcome = await desk.join_ticket(ticket, who, msg, now)
        await record(msg, contact, ticket, "joined", at)
        return dataclasses.replace(outcome, intake="joined")
    if pleasantry or settings.mode == "reaction":
        await record(msg, contact, None, "pleasantry" if pleasantry else "nothing", at)
        return Outcome(intake="pleasantry" if pleasantry else "waiting")
    ticket, outcome = await desk.open_ticket(who, msg, now)
    await record(msg, contact, ticket, "opened", at)
    return dataclasses.replace(outcome, intake="opened")


async def grouping_ticket(contact: Contact, msg: IncomingMessage, at: datetime, window: timedelta) -> Ticket | None:
    """The open ticket of the contact's latest top-level message in this channel within the window."""
    row = await IntakeMessage.filter(
        contact_id=contact.id, channel=msg.place.channel, sent_at__gte=at - window, sent_at__lte=at,
        platform=msg.place.platform.value, ticket_id__not_isnull=True, deleted_at__isnull=True,
        ticket__status__in=svc.OPEN_STATUSES,
    ).order_by("-sent_at").select_related("ticket").first()
    return row.ticket if row is not None else None


async def recent_ticket(contact: Contact, msg: IncomingMessage, since: datetime) -> Ticket | None:
    """The contact's open ticket in this channel with activity since `since`."""
    return await Ticket.filter(
        contact_id=contact.id, platform=msg.place.platform.value, channel=msg.place.channel,
        status__in=svc.OPEN_STATUSES, updated_at__gte=since,
    ).order_by("-updated_at").first()


async def record(msg: IncomingMessage, contact: Contact, ticket: Ticket | None, outcome: str, at: datetime) -> None:
    await rows.add(
        IntakeMessage, platform=msg.place.platform.value, tenant=msg.place.tenant, channel=msg.place.channel,
        message_id=msg.message_id, contact_id=contact.id, ticket_id=ticket.id if ticket else None, outcome=outcome,
        text=msg.text[: svc.MESSAGE_LIMIT], files=[dataclasses.asdict(f) for f in msg.files], sent_at=at,
    )


async def reply_without_ticket(desk: Desk, who: Who, msg: IncomingMessage, now: datetime) -> Outcome:
    """A contact's reply in the thread of their own message that opened nothing ("hello", then the
    problem in its thread): the reply is the request, and the ticket lives in that thread."""
    if who.role != "contact" or who.customer is None or msg.place.thread is None:
        return Outcome()
    settings = IntakeSettings.of(who.customer)
    if settings.mode != "auto" or (settings.ignore_pleasantries and is_pleasantry(msg.text, bool(msg.files))):
        return Outcome()
    row = await IntakeMessage.filter(**_same(msg, msg.place.thread), ticket_id__isnull=True,
                                     deleted_at__isnull=True).select_related("contact").first()
    if row is None or row.contact.user_id != who.actor.user_id:
        return Outcome()
    who.contact = row.contact
    ticket, outcome = await desk.open_ticket(who, msg, now)  # the ticket's thread is the root's
    row.ticket_id = ticket.id
    await row.save(update_fields=["ticket_id"])
    return dataclasses.replace(outcome, intake="opened in thread")


def _same(msg: IncomingMessage | Reaction, message_id: str) -> dict[str, str]:
    return {"platform": msg.place.platform.value, "channel": msg.place.channel, "message_id": message_id}


# -- reactions ----------------------------------------------------------------------------------


async def reaction(desk: Desk, added: Reaction, now: datetime) -> Outcome:
    """A `ticket_emoji` reaction on a message that is not part of a ticket opens one for its author."""
    who = await resolve(added.actor, added.place)
    if who.binding is None or who.binding.purpose != "customer" or who.customer is None:
        return Outcome()
    if added.emoji.strip(":").lower() != IntakeSettings.of(who.customer).ticket_emoji:
        return Outcome()
    row = await IntakeMessage.filter(**_same(added, added.message_id)).select_related("contact").first()
    if row is None:
        return Outcome(intake="unknown message")
    if row.ticket_id is not None or row.deleted_at is not None:
        return Outcome(intake="already a ticket" if row.ticket_id else "deleted")
    contact: Contact = row.contact
    if contact.erased_at is not None:
        return Outcome(intake="erased")
    customer = await Customer.get(id=contact.customer_id)
    platform = Platform(row.platform)
    author = Who(Actor(platform, contact.tenant, contact.user_id, display_name=contact.display_name),
                 Place(platform, row.tenant, row.channel), "contact", contact=contact, customer=customer,
                 binding=who.binding)
    msg = IncomingMessage(event_id="", actor=author.actor, place=author.place, message_id=row.message_id,
                          text=row.text, files=tuple(FileRef(**f) for f in row.files or ()), sent_at=row.sent_at)
    ticket, outcome = await desk.open_ticket(author, msg, now)
    row.ticket_id, row.outcome = ticket.id, "opened"
    await row.save(update_fields=["ticket_id", "outcome"])
    await svc.audit(ticket, who, "opened_by_reaction", now, emoji=added.emoji, message=row.message_id)
    return dataclasses.replace(outcome, intake="opened", files=msg.files)


# -- edits and deletions ------------------------------------------------------------------------


async def edited(desk: Desk, msg: IncomingMessage, now: datetime) -> Outcome:
    """An edit: the stored text follows, a ticket's title follows its opening message, and a
    pleasantry that became a request opens the ticket it now asks for."""
    stored = await Message.filter(platform=msg.place.platform.value, channel=msg.place.channel,
                                  platform_message_id=msg.message_id).first()
    text = msg.text[: svc.MESSAGE_LIMIT]
    if stored is not None:
        if stored.deleted_at is not None or stored.text == text:
            return Outcome()  # Slack also sends message_changed for unfurls and thread counts
        old, stored.text, stored.edited_at = stored.text, text, now
        await stored.save(update_fields=["text", "edited_at"])
        ticket = await Ticket.get(id=stored.ticket_id)
        who = await resolve(msg.actor, msg.place)
        detail: dict[str, Any] = {"message": msg.message_id, "chars": {"from": len(old), "to": len(text)}}
        if ticket.thread == msg.message_id and stored.author_kind == "contact":
            title = svc.title_from(text)
            if title != ticket.title:
                detail["title"] = {"from": ticket.title, "to": title}
                ticket.title = title
                await svc.save(ticket, now)
        await svc.audit(ticket, who, "message_edited", now, **detail)
        await IntakeMessage.filter(**_same(msg, msg.message_id)).update(text=text)
        return Outcome(ticket_key=ticket.key)
    row = await IntakeMessage.filter(**_same(msg, msg.message_id)).select_related("contact").first()
    if row is None or row.deleted_at is not None or row.text == text:
        return Outcome()
    row.text = text
    await row.save(update_fields=["text"])
    who = await resolve(msg.actor, msg.place)
    if (row.ticket_id is None and row.outcome == "pleasantry" and who.customer is not None
            and who.role == "contact" and IntakeSettings.of(who.customer).mode == "auto"
            and not is_pleasantry(text, bool(row.files))):
        # "hi" edited into "hi, the VPN is down": now it is a request.
        who.contact = row.contact
        request = dataclasses.replace(msg, edited=False, files=tuple(FileRef(**f) for f in row.files or ()))
        ticket, outcome = await desk.open_ticket(who, request, now)
        row.ticket_id, row.outcome = ticket.id, "opened"
        await row.save(update_fields=["ticket_id", "outcome"])
        return dataclasses.replace(outcome, intake="opened")
    return Outcome()


async def deleted(desk: Desk, msg: IncomingMessage, now: datetime) -> Outcome:
    """A deletion: the message is marked deleted and audited; a ticket that was only that message and
    that nobody has worked on closes as withdrawn, which stops its SLA."""
    await IntakeMessage.filter(**_same(msg, msg.message_id), deleted_at__isnull=True).update(deleted_at=now)
    stored = await Message.filter(platform=msg.place.platform.value, channel=msg.place.channel,
                                  platform_message_id=msg.message_id).first()
    if stored is None or stored.deleted_at is not None:
        return Outcome()
    stored.deleted_at = now
    await stored.save(update_fields=["deleted_at"])
    ticket = await Ticket.get(id=stored.ticket_id)
    who = await resolve(msg.actor, msg.place)
    await svc.audit(ticket, who, "message_deleted", now, message=msg.message_id)
    untouched = ticket.status == "new" and ticket.assignee_id is None and ticket.first_response_at is None
    if not untouched or await Message.filter(ticket_id=ticket.id, deleted_at__isnull=True).exists():
        return Outcome(ticket_key=ticket.key)
    await svc.change_status(ticket, who, "closed", now, reason=WITHDRAWN)
    await svc.save(ticket, now)
    notice = Reply(f"{ticket.key} closed: withdrawn, the customer deleted their message before anyone worked "
                   f"on it. Its SLA has stopped.", audience=Audience.TRIAGE, ticket_key=ticket.key, internal=True,
                   kind="notice", dedupe=f"withdrawn:{ticket.key}")
    queued = await desk.route([notice], who, ticket)
    return Outcome(queued=queued, ticket_key=ticket.key, intake="withdrawn")


# -- out of hours -------------------------------------------------------------------------------


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _clock(minute: int) -> str:
    hours, minutes = divmod(minute, 60)
    return f"{hours:02d}" if not minutes else f"{hours:02d}:{minutes:02d}"


def hours_text(cal: sla.Calendar) -> str:
    """'Mon–Thu 08–16, Fri 08–12 and 13–16': runs of days with the same opening hours."""
    runs: list[tuple[int, int, tuple[sla.Period, ...]]] = []
    for day, periods in enumerate(cal.hours):
        if runs and runs[-1][2] == periods and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day, periods)
        else:
            runs.append((day, day, periods))
    shown = []
    for first, last, periods in runs:
        if not periods:
            continue
        days = DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]}–{DAY_NAMES[last]}"
        shown.append(f"{days} " + " and ".join(f"{_clock(a)}–{_clock(b)}" for a, b in periods))
    return ", ".join(shown) or "closed"


def zone_text(timezone: str) -> str:
    if timezone in ("UTC", "Etc/UTC", "Etc/GMT", "GMT"):
        return "UTC"
    return timezone.rsplit("/", 1)[-1].replace("_", " ") + " time"


def due_text(due: datetime, zone: ZoneInfo, now: datetime) -> str:
    local = due.astimezone(zone)
    return local.strftime("%a %H:%M" if due - now < timedelta(days=6) else "%a %d %b %H:%M")


async def out_of_hours_note(ticket: Ticket, now: datetime) -> str | None:
    """For a ticket opened outside business hours: when support works and when it will reply."""
    cal = (await svc.sla_context(ticket.customer_id)).calendar  # the one ticket creation read
    if sla.is_open(cal, now):
        return None
    note = f"Our support hours are {hours_text(cal)} {zone_text(cal.timezone)}"
    if ticket.first_response_due is not None:
        note += f"; we will reply by {due_text(ticket.first_response_due, cal.zone, now)}"
    return note + "."


# -- contacts' names ----------------------------------------------------------------------------


async def name_contact(platform: Platform, user_id: str, name: str) -> int:
    """A contact's name learnt from the platform (Slack users.info) where none was known."""
    name = " ".join(name.split())[:200]
    if not name:
        return 0
    contacts = await Contact.filter(platform=platform.value, user_id=user_id, display_name__isnull=True,
                                    erased_at__isnull=True).values_list("id", flat=True)
    if not contacts:
        return 0
    await Contact.filter(id__in=list(contacts)).update(display_name=name)
    await Message.filter(author_contact_id__in=list(contacts), author_name=user_id).update(author_name=name)
    return len(contacts)


async def erase(contact_id: int) -> int:
    """A contact's data is erased: what intake kept of their top-level messages goes too."""
    return await IntakeMessage.filter(contact_id=contact_id).update(text="", files=[])


# -- files from another organisation ------------------------------------------------------------


async def complete_file(platform_file_id: str, full: FileRef) -> bool:
    """A file that arrived as a stub, now described in full: fill in its attachment rows, or drop
    them when the file is a signature logo or a tracking pixel. True when it is worth fetching."""
    stubs = Attachment.filter(platform_file_id=platform_file_id, url__isnull=True, content__isnull=True)
    if not keep_file(full):
        await stubs.delete()
        return False
    await stubs.update(name=full.name[:255], mimetype=full.mimetype, size=full.size, url=full.url)
    return True
