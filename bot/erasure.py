"""Erasing a contact: nothing stored identifies them afterwards, while ticket history stays readable.

The contact becomes a pseudonym ("erased contact 17") everywhere their platform id, mention or
name was stored: their contact row, every message (theirs and others' that mention them), ticket
titles and resolutions, audit details, queued and delivered posts. What only served to deliver
or receive (inbox rows of their messages, posts addressed to them, their 1:1 chat reference,
processed-event keys naming them) is deleted at once. Their own words stay as ticket history
unless `--text` is asked for, which blanks them too.

The stored platform id becomes an HMAC of the old one under a per-installation secret, so two
erasures of the same person can be told apart from others without the id being recoverable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tortoise import connections

from storage import inbox, installation
from storage.db import param
from storage.models import (
    Attachment,
    AuditEvent,
    Contact,
    ConversationReference,
    InboxEvent,
    Message,
    OutboxMessage,
    ProcessedEvent,
    Ticket,
)

ERASED_TEXT = "(erased)"


def pseudonym(contact: Contact) -> str:
    return f"erased contact {contact.id}"


async def pseudonymous_id(contact: Contact) -> str:
    key = await installation.secret()
    digest = hmac.new(key, f"{contact.platform}:{contact.tenant}:{contact.user_id}".encode(), hashlib.sha256)
    return f"erased:{digest.hexdigest()[:32]}"


class Scrubber:
    """Replaces a contact's mentions, ids and names (and, with --text, their words) in any text."""

    def __init__(self, user_id: str, names: Iterable[str], pseudonym: str, texts: Iterable[str] = ()) -> None:
        self.user_id = user_id
        self.names = sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True)
        self.pseudonym = pseudonym
        self.texts = sorted({t for t in texts if t and len(t) >= 4}, key=len, reverse=True)
        alternatives = [re.escape(user_id), *(re.escape(n) for n in self.names)]
        # A Slack mention (<@U123> or <@U123|name>), or the id or a name standing as a word of its own.
        self._mention = re.compile(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>")
        self._word = re.compile(rf"(?<![\w@.-])(?:{'|'.join(alternatives)})(?![\w-])")

    @property
    def needles(self) -> list[str]:
        """What to look for in the database (LIKE): the id, the names, the texts."""
        return [self.user_id, *self.names, *self.texts]

    def text(self, value: str) -> str:
        for words in self.texts:
            value = value.replace(words, ERASED_TEXT)
        value = self._mention.sub(self.pseudonym, value)
        return self._word.sub(self.pseudonym, value)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value


def _variants(needles: Iterable[str]) -> set[str]:
    """Each needle raw and as JSON escapes it."""
    return {v for n in needles if n for v in (n, json.dumps(n)[1:-1], json.dumps(n, ensure_ascii=False)[1:-1])}


async def _ids_where(table: str, column: str, needles: Iterable[str]) -> list[int]:
    """Ids of rows whose column, read as text, contains any needle (raw or as JSON escapes it)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    variants = _variants(needles)
    if not variants:
        return []
    params: list[str] = []
    conditions = []
    for v in sorted(variants):
        params.append("%" + v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        mark = param(len(params), postgres)
        conditions.append(f"CAST(\"{column}\" AS TEXT) LIKE {mark} ESCAPE '\\'")
    rows = await conn.execute_query_dict(f'SELECT "id" FROM "{table}" WHERE {" OR ".join(conditions)}', params)
    return [int(r["id"]) for r in rows]


async def _rewrite(model: Any, table: str, columns: dict[str, Callable[[Any], Any]], needles: list[str]) -> int:
    ids: set[int] = set()
    for column in columns:
        ids.update(await _ids_where(table, column, needles))
    changed = 0
    for row in await model.filter(id__in=list(ids)):
        updates = {c: fn(getattr(row, c)) for c, fn in columns.items() if getattr(row, c) is not None}
        updates = {c: v for c, v in updates.items() if v != getattr(row, c)}
        if updates:
            await model.filter(id=row.id).update(**updates)
            changed += 1
    return changed


async def erase_contact(contact: Contact, now: datetime, *, blank_text: bool = False) -> int:
    """Erase the contact as described above; returns how many of their messages were changed."""
    name = pseudonym(contact)
    own = await Message.filter(author_contact_id=contact.id)
    names = {contact.display_name or "", *(m.author_name or "" for m in own)} - {name}
    opened = await Ticket.filter(contact_id=contact.id)
    texts = [m.text for m in own] + [t.title for t in opened] if blank_text else []
    scrub = Scrubber(contact.user_id, names, name, texts)

    # What only served to receive their messages or to deliver to them goes at once.
    # (Someone else's message that mentions them and is still waiting to be processed is kept,
    # scrubbed below, so it is not lost.)
    drop = []
    for row in await InboxEvent.filter(id__in=await _ids_where("inbox", "payload", [contact.user_id])):
        if row.status != "pending" or _sender(row.payload) == contact.user_id:
            drop.append(row.id)
    await InboxEvent.filter(id__in=drop).delete()
    # Messages accepted while the database was busy wait in the landing (storage/landing.py).
    scrub_landed = _json_text(scrub.json)
    await inbox.rewrite_landed(sorted(_variants(scrub.needles)),
                               lambda p: None if _sender(p) == contact.user_id else scrub_landed(p))
    await OutboxMessage.filter(id__in=await _ids_where("outbox", "destination", [contact.user_id])).delete()
    if blank_text and opened:
        await OutboxMessage.filter(ticket_key__in=[t.key for t in opened]).delete()
    await ConversationReference.filter(id__in=await _ids_where("conversation_reference", "reference",
                                                                [contact.user_id])).delete()
    await ConversationReference.filter(key=f"user:{contact.user_id}").delete()
    await ProcessedEvent.filter(id__in=await _ids_where("processed_event", "event_id", [contact.user_id])).delete()

    # Their own messages: the pseudonym as author; their words blanked when asked.
    for message in own:
        message.author_name = name
        message.text = "" if blank_text else scrub.text(message.text)
        await message.save(update_fields=["author_name", "text"])
    if blank_text:
        await Attachment.filter(message_id__in=[m.id for m in own]).delete()
        for ticket in opened:
            ticket.title = ERASED_TEXT
            await ticket.save(update_fields=["title"])
        for event in await AuditEvent.filter(actor=f"contact:{contact.id}"):
            event.detail = {k: (ERASED_TEXT if isinstance(v, str) and k != "action" else v)
                            for k, v in (event.detail or {}).items()}
            await event.save(update_fields=["detail"])

    # Everywhere else they are mentioned or named.
    needles = scrub.needles
    text, data = scrub.text, scrub.json
    await _rewrite(Message, "message", {"text": text, "author_name": text}, needles)
    await _rewrite(Ticket, "ticket", {"title": text, "resolution": text, "estimate_scope": text}, needles)
    await _rewrite(AuditEvent, "audit_event", {"detail": data, "actor": text}, needles)
    await _rewrite(OutboxMessage, "outbox", {"payload": data, "last_error": text}, needles)
    await _rewrite(InboxEvent, "inbox", {"payload": _json_text(data), "last_error": text}, needles)
    await _rewrite(Attachment, "attachment", {"name": text, "url": text}, needles)

    # On their own tickets, a first name alone ("thanks Aino") names them too.
    parts = {w for n in names for w in re.findall(r"[^\W\d_]{3,}", n)} - set(names)
    tickets = {t.id: t.key for t in opened}
    tickets.update({t.id: t.key for t in await Ticket.filter(id__in=[m.ticket_id for m in own])})
    if parts and tickets:
        local = Scrubber(contact.user_id, parts, name)
        for message in await Message.filter(ticket_id__in=list(tickets)):
            await _save_changed(message, {"text": local.text(message.text)})
        for ticket in await Ticket.filter(id__in=list(tickets)):
            await _save_changed(ticket, {c: local.text(getattr(ticket, c)) for c in ("title", "resolution",
                                                                                     "estimate_scope")
                                         if getattr(ticket, c)})
        for event in await AuditEvent.filter(ticket_id__in=list(tickets)):
            await _save_changed(event, {"detail": local.json(event.detail)})
        for post in await OutboxMessage.filter(ticket_key__in=list(tickets.values())):
            await _save_changed(post, {"payload": local.json(post.payload)})

    contact.user_id = await pseudonymous_id(contact)
    contact.display_name = name
    contact.erased_at, contact.notifications = now, False
    await contact.save()
    return len(own)


def _sender(payload: str) -> str | None:
    try:
        actor = json.loads(payload).get("actor") or {}
    except (ValueError, AttributeError):
        return None
    return actor.get("user_id") if isinstance(actor, dict) else None


async def _save_changed(row: Any, values: dict[str, Any]) -> None:
    changed = {k: v for k, v in values.items() if v != getattr(row, k)}
    if changed:
        await type(row).filter(id=row.id).update(**changed)


def _json_text(fn: Callable[[Any], Any]) -> Callable[[str], str]:
    def rewrite(text: str) -> str:
        try:
            return json.dumps(fn(json.loads(text)), separators=(",", ":"))
        except ValueError:
            return str(fn(text))

    return rewrite
