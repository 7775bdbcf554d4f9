"""Email as a channel: the rules, kept in the core so the mail adapter only translates.

A mail adapter hands in an `IncomingMail` (already decoded from MIME) and gets back what
became of it; the adapter flags or moves the mail only after this returns, i.e. after the
transaction that stored it committed. The rules:

- Who: a sender whose address is a person's `email` is that agent; one whose domain is in a
  customer's `email_domains` is that customer's contact; anyone else opens nothing (the mail
  is left for a human).
- Threading: a reply joins its ticket by In-Reply-To/References (our own outgoing
  Message-IDs are in the outbox), else by `[KEY]` in the subject; always within the sender's
  own customer.
- Mail written by machines (Auto-Submitted, X-Autoreply, Precedence bulk/auto_reply,
  multipart/report bounces) never opens a ticket and never gets an answer: no mail loops.
- Exactly once: the mail's Message-ID is a processed event per mailbox, recorded in the same
  transaction as the ticket change, so a mail read again after a crash changes nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import mailtext
from bot import tickets as svc
from bot.attachments import MAX_FILE_BYTES, keep_file
from bot.clock import Clock
from bot.identity import Who, ensure_contact
from bot.types import Actor, Audience, Destination, FileRef, Place, Platform, Reply
from storage.models import Attachment, ChannelBinding, Contact, Customer, Message, OutboxMessage, Person, Ticket


class Desk(Protocol):
    """What the mail rules use of bot.core.Helpdesk (named here so the two modules need not import each other)."""

    clock: Clock
    on_queued: Callable[[], None] | None

    async def _first_delivery(self, platform: Platform, channel: str, event_id: str) -> bool: ...

    async def _intake_replies(self, ticket: Ticket, customer: Customer, text: str,
                              now: datetime) -> list[Reply]: ...

    async def route(self, replies: Sequence[Reply], who: Who | None, ticket: Ticket | None) -> int: ...

log = logging.getLogger("chatdesk.mail")

PLATFORM = Platform.EMAIL
ORIGINAL_NAME = "original.eml"  # the full mail as received, kept on its message
REPEATED_LOGO_BYTES = 64 * 1024  # an image this small that its sender sent before is a logo, not content
FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|vl|wg|tr)\s*:", re.I)
KEY_IN_SUBJECT = re.compile(r"\[([A-Z][A-Z0-9]{1,9}-\d{1,9})\]")
MAX_REFERENCES = 10
ID_LENGTH = 255


class MailAction(StrEnum):
    OPENED = "opened"  # a new ticket
    JOINED = "joined"  # added to an existing ticket
    DUPLICATE = "duplicate"  # read before (a crash between commit and flag): nothing changed
    AUTOMATIC = "automatic"  # an auto-reply or bounce: stored nowhere, answered never
    UNKNOWN = "unknown"  # a sender who is nobody's contact: left for a human


@dataclass(frozen=True)
class MailFile:
    """A MIME part that is a file; `content` is None when the part was over the size limit."""

    name: str
    mimetype: str
    size: int
    content: bytes | None
    content_id: str | None = None  # without the angle brackets
    inline: bool = False  # Content-Disposition: inline, or referenced by cid: from the HTML
    width: int | None = None
    height: int | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None


@dataclass(frozen=True)
class IncomingMail:
    """One mail as the adapter read it: headers decoded, bodies as text, parts as files."""

    mailbox: str  # which mailbox it came from (user@host/folder): Message-IDs are unique per mailbox
    message_id: str  # without angle brackets; the adapter makes one from the bytes when it is missing
    sender: str  # lower-case address, "" when the From header holds none
    sender_name: str | None
    subject: str
    text: str  # text/plain body, or the HTML body as text
    html: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # lower-case name, value: the ones the rules read
    content_type: str = "text/plain"
    files: tuple[MailFile, ...] = ()
    raw: bytes | None = None  # the mail as received, None when over the size limit
    raw_size: int = 0
    problems: tuple[str, ...] = ()  # what could not be read (malformed MIME, unknown charset ...)
    sent_at: datetime | None = None

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")


@dataclass(frozen=True)
class MailOutcome:
    action: MailAction
    ticket_key: str | None = None
    queued: int = 0
    reason: str = ""
    dropped_files: tuple[str, ...] = field(default_factory=tuple)


# -- pure rules --------------------------------------------------------------------------------


def automatic_reason(mail: IncomingMail) -> str | None:
    """Why a mail was written by a machine (and must not open a ticket or be answered), or None."""
    auto = mail.header("auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond"):
        value = mail.header(name).strip()
        if value:
            return f"{name}: {value}"
    precedence = mail.header("precedence").strip().lower()
    if precedence in ("bulk", "auto_reply", "junk", "list"):
        return f"Precedence: {precedence}"
    if mail.content_type.lower() == "multipart/report":
        return "a delivery or read report (multipart/report)"
    if mail.sender.startswith(("mailer-daemon@", "postmaster@")):
        return "a bounce (mailer daemon)"
    return None


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd: prefixes and our own [KEY] tag."""
    s = KEY_IN_SUBJECT.sub("", subject)
    while True:
        stripped = re.sub(r"^\s*(re|fw|fwd|aw|sv|vs|vl|tr|wg)\s*(\[\d+\])?\s*:\s*", "", s, flags=re.I)
        if stripped == s:
            break
        s = stripped
    return " ".join(s.split())


def mail_subject(ticket: Ticket) -> str:
    return f"[{ticket.key}] {ticket.title}"


def short_id(message_id: str) -> str:
    """A Message-ID that fits the id columns (a longer one is replaced by its digest)."""
    message_id = message_id.strip().strip("<>").strip()
    if len(message_id) <= ID_LENGTH:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()


def files_to_keep(mail: IncomingMail, known_hashes: set[str], sender_images: frozenset[str] = frozenset()
                  ) -> tuple[list[MailFile], list[str]]:
    """The files stored on the message, and the names of those dropped (and why).

    Dropped: images the HTML signature references by cid:, small inline or signature-named
    images (bot.attachments.keep_file), small images the same sender sent before (`sender_images`:
    a logo that comes with every mail), and a file already on the ticket (`known_hashes`) or
    twice in this mail. Everything else is kept."""
    signature_cids = mailtext.signature_cids(mail.html) if mail.html else set()
    kept: list[MailFile] = []
    dropped: list[str] = []
    seen = set(known_hashes)
    for f in mail.files:
        digest = f.sha256
        ref = FileRef(name=f.name, mimetype=f.mimetype, size=f.size, width=f.width, height=f.height,
                      inline=f.inline)
        image = f.mimetype.startswith("image/")
        if image and f.content_id and f.content_id in signature_cids:
            dropped.append(f"{f.name} (signature image)")
        elif not keep_file(ref):
            dropped.append(f"{f.name} (small inline or signature image)")
        elif image and digest is not None and f.size <= REPEATED_LOGO_BYTES and digest in sender_images:
            dropped.append(f"{f.name} (repeated small image)")
        elif digest is not None and digest in seen:
            dropped.append(f"{f.name} (already stored)")
        else:
            kept.append(f)
            if digest is not None:
                seen.add(digest)
    return kept, dropped


# -- the service -------------------------------------------------------------------------------


async def handle_mail(desk: Desk, mail: IncomingMail, *, own_addresses: frozenset[str] = frozenset()
                      ) -> MailOutcome:
    """Turn one mail into a ticket change in one transaction (see the module docstring)."""
    for problem in mail.problems:
        log.warning("mail %s from %s: %s", mail.message_id, mail.sender or "(no sender)", problem)
    reason = automatic_reason(mail)
    if reason is None and mail.sender in own_addresses:
        reason = "sent by chatdesk itself"
    if reason is not None:
        log.info("mail %s from %s ignored: %s", mail.message_id, mail.sender or "(no sender)", reason)
        return MailOutcome(MailAction.AUTOMATIC, reason=reason)
    if not mail.sender:
        log.warning("mail %s has no sender address: left in the mailbox for a human", mail.message_id)
        return MailOutcome(MailAction.UNKNOWN, reason="no sender address")
    now = desk.clock.now()
    try:
        async with in_transaction():
            who = await identify(mail)
            if who is None:
                return MailOutcome(MailAction.UNKNOWN, reason=f"{mail.sender} is not a contact of any customer")
            ticket = await find_ticket(mail, who)
            if ticket is None and who.is_agent:
                return MailOutcome(MailAction.UNKNOWN, reason=f"{mail.sender} is an agent; the mail names no ticket")
            if not await desk._first_delivery(PLATFORM, mail.mailbox, short_id(mail.message_id)):
                return MailOutcome(MailAction.DUPLICATE, ticket_key=ticket.key if ticket else None)
            if ticket is None:
                outcome = await _open(desk, who, mail, now)
            else:
                outcome = await _join(desk, ticket, who, mail, now)
    except IntegrityError:
        # Another worker stored the same mail at the same moment: it is stored once.
        return MailOutcome(MailAction.DUPLICATE)
    if outcome.queued and desk.on_queued:
        desk.on_queued()
    return outcome


async def identify(mail: IncomingMail) -> Who | None:
    """The agent or contact a mail is from, or None for a stranger."""
    address = mail.sender
    domain = address.rsplit("@", 1)[-1]
    actor = Actor(PLATFORM, domain, address, mail.sender_name or address)
    place = Place(PLATFORM, mail.mailbox, mail.mailbox)
    person = await Person.filter(email=address, active=True).first()
    if person is not None:
        return Who(actor, place, person.role, person=person)
    binding = await ChannelBinding.filter(platform=PLATFORM.value, channel=domain, purpose="email_domain").first()
    if binding is None or binding.customer_id is None:
        return None
    customer = await Customer.get(id=binding.customer_id)
    contact = await Contact.filter(platform=PLATFORM.value, tenant=domain, user_id=address,
                                   customer_id=customer.id).first()
    return Who(actor, place, "contact", contact=contact, customer=customer, binding=binding)


async def find_ticket(mail: IncomingMail, who: Who) -> Ticket | None:
    """The ticket a mail answers: by its references to our mails or the ticket's, then by [KEY]."""
    refs = [short_id(r) for r in (*mail.in_reply_to, *reversed(mail.references)) if r.strip()]
    candidates: list[Ticket] = []
    if refs:
        message = await Message.filter(platform=PLATFORM.value, platform_message_id__in=refs).first()
        if message is not None:
            candidates.append(await Ticket.get(id=message.ticket_id))
        sent = await OutboxMessage.filter(platform=PLATFORM.value, platform_message_id__in=refs,
                                          ticket_key__isnull=False).first()
        if sent is not None and sent.ticket_key:
            t = await Ticket.filter(key=sent.ticket_key).first()
            if t is not None:
                candidates.append(t)
        root = await Ticket.filter(platform=PLATFORM.value, thread__in=refs).first()
        if root is not None:
            candidates.append(root)
    for match in KEY_IN_SUBJECT.finditer(mail.subject):
        t = await Ticket.filter(key=match.group(1)).first()
        if t is not None:
            candidates.append(t)
    for t in candidates:
        if who.is_agent or (who.customer is not None and t.customer_id == who.customer.id):
            return t
    return None


async def _open(desk: Desk, who: Who, mail: IncomingMail, now: datetime) -> MailOutcome:
    assert who.customer is not None
    await ensure_contact(who, now)
    text = _stored_text(mail)
    title = clean_subject(mail.subject) or text
    ticket = await svc.create_ticket(who, who.customer, title, now, platform=PLATFORM.value, tenant=mail.mailbox,
                                     channel=mail.mailbox, thread=short_id(mail.message_id))
    dropped = await _store(ticket, who, mail, text, now)
    replies = await desk._intake_replies(ticket, who.customer, f"{title}\n{text}", now)
    queued = await desk.route(replies, who, ticket)
    log.info("mail %s from %s opened %s", mail.message_id, mail.sender, ticket.key)
    return MailOutcome(MailAction.OPENED, ticket.key, queued, dropped_files=dropped)


async def _join(desk: Desk, ticket: Ticket, who: Who, mail: IncomingMail, now: datetime) -> MailOutcome:
    if who.role == "contact":
        await ensure_contact(who, now)
    dropped = await _store(ticket, who, mail, _stored_text(mail), now)
    replies: list[Reply] = []
    if who.is_agent:
        await svc.on_agent_public_reply(ticket, who, now)
    else:
        events = await svc.on_customer_message(ticket, who, now)
        if "resumed" in events and ticket.assignee_id:
            person = await Person.get(id=ticket.assignee_id)
            replies.append(Reply(f"{ticket.key}: the customer replied by mail; the ticket is in progress again.",
                                 audience=Audience.DM, person=person.pid, ticket_key=ticket.key, internal=True,
                                 kind="notice"))
    await svc.audit(ticket, who, "mail", now, message_id=mail.message_id)
    await svc.save(ticket, now)
    queued = await desk.route(replies, who, ticket)
    log.info("mail %s from %s joined %s", mail.message_id, mail.sender, ticket.key)
    return MailOutcome(MailAction.JOINED, ticket.key, queued, dropped_files=dropped)


def _stored_text(mail: IncomingMail) -> str:
    text = mailtext.strip_reply(mail.text, forwarded=bool(FORWARD_SUBJECT.match(mail.subject)))
    if not text.strip():
        names = ", ".join(f.name for f in mail.files)
        text = f"(mail with no text{': ' + names if names else ''})"
        log.warning("mail %s from %s has no text; stored with %s", mail.message_id, mail.sender,
                    f"its files ({names})" if names else "its subject only")
    return text


async def _store(ticket: Ticket, who: Who, mail: IncomingMail, text: str, now: datetime) -> tuple[str, ...]:
    """The message with its files, and the full original as a file beside them."""
    message = await svc.store_message(ticket, who, platform=PLATFORM.value, message_id=short_id(mail.message_id),
                                      text=text, internal=False, now=now)
    known = set(await Attachment.filter(message__ticket_id=ticket.id, sha256__isnull=False)
                .values_list("sha256", flat=True))
    sender_images: list[object] = []
    if who.contact is not None:
        sender_images = list(await Attachment.filter(
            message__author_contact_id=who.contact.id, sha256__isnull=False, size__lte=REPEATED_LOGO_BYTES,
            mimetype__startswith="image/").values_list("sha256", flat=True))
    kept, dropped = files_to_keep(mail, {str(h) for h in known}, frozenset(str(h) for h in sender_images))
    for f in kept:
        if f.content is None:
            log.warning("mail %s: %s is %s bytes, over the %s byte limit: only its name is kept",
                        mail.message_id, f.name, f.size, MAX_FILE_BYTES)
        await Attachment.create(message_id=message.id, name=f.name[:255], mimetype=f.mimetype[:255], size=f.size,
                                content=f.content, sha256=f.sha256, platform_file_id=f.content_id)
    raw = mail.raw
    await Attachment.create(message_id=message.id, name=ORIGINAL_NAME, mimetype="message/rfc822",
                            size=mail.raw_size, content=raw,
                            sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None)
    if raw is None:
        log.warning("mail %s is %s bytes: stored without its original (the mail stays in the mailbox)",
                    mail.message_id, mail.raw_size)
    for name in dropped:
        log.info("mail %s: dropped %s", mail.message_id, name)
    return tuple(dropped)


async def thread_destination(ticket: Ticket, reply: Reply) -> Destination | None:
    """Where a reply on a mail ticket goes: its contact, in the ticket's mail thread.

    SLA notices are not mailed: they are for the agents (triage and DMs have them), and a
    customer's inbox is not a chat thread they glance at."""
    if ticket.contact_id is None or reply.kind == "notice":
        return None
    contact = await Contact.filter(id=ticket.contact_id, erased_at__isnull=True).first()
    if contact is None or contact.platform != PLATFORM.value:
        return None
    ids = await (Message.filter(ticket_id=ticket.id, platform=PLATFORM.value, author_kind="contact")
                 .order_by("-id").limit(MAX_REFERENCES - 1).values_list("platform_message_id", flat=True))
    references = [ticket.thread] if ticket.thread else []
    references += [str(i) for i in reversed(ids) if i != ticket.thread and not str(i).startswith("sha256:")]
    return Destination(PLATFORM, ticket.tenant, ticket.channel, ticket.thread, user=contact.user_id,
                       customer_visible=True, subject=mail_subject(ticket), references=tuple(references))
