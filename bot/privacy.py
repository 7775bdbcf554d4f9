"""`/helpdesk privacy ...`: a contact's data export, erasure by a lead, notification consent.

Erasure pseudonymises rather than deletes: the contact's name and platform id are
replaced in their contact row, their messages and the audit trail, so ticket history
stays readable ("erased contact 17 wrote ...") while nothing identifies the person.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot import intake
from bot import tickets as svc
from bot.commands import PLATFORM_MENTION, Command
from bot.handlers import Env, handler, say
from bot.types import Audience, Reply
from storage.models import AuditEvent, Contact, KbFeedback, Message, Ticket

CHUNK = 30_000  # characters of JSON per direct message


def pseudonym(contact: Contact) -> str:
    return f"erased contact {contact.id}"


async def export_data(contact: Contact) -> dict[str, Any]:
    messages = await Message.filter(author_contact_id=contact.id, internal=False).order_by("created_at") \
        .prefetch_related("ticket")
    tickets = await Ticket.filter(contact_id=contact.id).order_by("id")
    audit = await AuditEvent.filter(actor=f"contact:{contact.id}").order_by("created_at")
    feedback = await KbFeedback.filter(contact_id=contact.id).prefetch_related("ticket")
    return {
        "contact": {"platform": contact.platform, "tenant": contact.tenant, "user_id": contact.user_id,
                    "display_name": contact.display_name, "notifications": contact.notifications,
                    "since": contact.created_at.isoformat()},
        "tickets": [{"key": t.key, "title": t.title, "status": t.status, "created_at": t.created_at.isoformat(),
                     "resolution": t.resolution, "rating": t.csat} for t in tickets],
        "messages": [{"ticket": m.ticket.key, "at": m.created_at.isoformat(), "text": m.text,
                      "edited_at": m.edited_at.isoformat() if m.edited_at else None} for m in messages],
        "activity": [{"at": e.created_at.isoformat(), "action": e.action, "channel": e.channel} for e in audit],
        "solved_by_articles": [{"ticket": f.ticket.key, "article": f.article_id} for f in feedback],
    }


async def _contact_from(env: Env, text: str | None) -> Contact:
    ref = (text or "").strip()
    m = PLATFORM_MENTION.match(ref)
    user_id = m.group(1) if m else ref.removeprefix("@")
    if not user_id:
        raise svc.Refusal("name the contact: `/helpdesk privacy erase @person` (a mention or their chat user id)")
    query = Contact.filter(user_id=user_id, erased_at__isnull=True)
    if ref.startswith("contact:") and ref[8:].isdigit():
        query = Contact.filter(id=int(ref[8:]), erased_at__isnull=True)
    contacts = await query
    if not contacts:
        raise svc.Refusal(f"no contact {ref!r} (contacts are the customers' people who have written to us)")
    if len(contacts) > 1:
        ids = ", ".join(f"contact:{c.id}" for c in contacts)
        raise svc.Refusal(f"{ref} is a contact of several customers; name one: {ids}")
    return contacts[0]


async def erase(contact: Contact, env: Env) -> int:
    name = pseudonym(contact)
    old_ids = {contact.user_id, contact.display_name or ""} - {""}
    changed = 0
    for message in await Message.filter(author_contact_id=contact.id):
        text = message.text
        for old in old_ids:
            text = text.replace(old, name)
        message.author_name, message.text = name, text
        await message.save(update_fields=["author_name", "text"])
        changed += 1
    for event in await AuditEvent.filter(actor=f"contact:{contact.id}"):
        detail = json.loads(_scrub(json.dumps(event.detail, ensure_ascii=False), old_ids, name))
        event.detail = detail
        await event.save(update_fields=["detail"])
    await intake.erase(contact.id)
    digest = hashlib.sha256(f"{contact.platform}:{contact.user_id}".encode()).hexdigest()[:16]
    contact.user_id, contact.display_name = f"erased:{digest}", name
    contact.erased_at, contact.notifications = env.now, False
    await contact.save()
    await svc.audit(None, env.who, "privacy_erase", env.now, contact=contact.id, messages=changed)
    return changed


def _scrub(text: str, olds: set[str], new: str) -> str:
    for old in olds:
        text = text.replace(json.dumps(old)[1:-1], new)
    return text


@handler("privacy")
async def _privacy(env: Env, cmd: Command) -> list[Reply]:
    action, rest, who = cmd.get("action"), cmd.get("text"), env.who
    if action == "erase":
        if who.role != "lead":
            raise svc.Refusal("not allowed: only a lead can erase a contact's data")
        contact = await _contact_from(env, rest)
        count = await erase(contact, env)
        return [say(f"Erased: the contact is now '{pseudonym(contact)}' in {count} messages and the audit trail.")]
    if action == "export":
        if who.role == "contact":
            subject = who.contact
        elif who.role == "lead" and rest:
            subject = await _contact_from(env, rest)
        else:
            raise svc.Refusal("not allowed: contacts export their own data; a lead may export a named contact's")
        if subject is None:
            return [say("chatdesk stores nothing about you yet.")]
        contact = subject
        blob = json.dumps(await export_data(contact), ensure_ascii=False, indent=1)
        parts = [blob[i:i + CHUNK] for i in range(0, len(blob), CHUNK)] or ["{}"]
        await svc.audit(None, who, "privacy_export", env.now, contact=contact.id)
        replies = [say("Your data export is on its way by direct message." if who.role == "contact"
                       else f"The export of contact:{contact.id} goes to them by direct message.")]
        for n, part in enumerate(parts, start=1):
            label = f" (part {n}/{len(parts)})" if len(parts) > 1 else ""
            replies.append(Reply(f"Your data stored by chatdesk{label}:\n```{part}```", audience=Audience.DM,
                                 contact=contact.id, kind="export"))
        return replies
    # notifications on|off
    if who.role != "contact" or who.contact is None:
        raise svc.Refusal("not allowed: notification consent is a contact's own setting")
    value = (rest or "").strip().lower()
    if value not in ("on", "off"):
        raise svc.Refusal("say `/helpdesk privacy notifications off` or `... on`")
    who.contact.notifications = value == "on"
    await who.contact.save(update_fields=["notifications"])
    await svc.audit(None, who, "privacy_notifications", env.now, notifications=value)
    return [say(f"Notifications {value}. " + ("We will not message you outside your tickets' threads."
                                              if value == "off" else "You will get direct messages again."))]
