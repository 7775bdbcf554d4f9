"""`/helpdesk privacy ...`: a contact's data export, erasure by a lead, notification consent.

Erasure pseudonymises rather than deletes: the contact's name and platform id are
replaced in their contact row, their messages and the audit trail, so ticket history
stays readable ("erased contact 17 wrote ...") while nothing identifies the person.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from bot import tickets as svc
from bot.identity import Who
from storage.models import AuditEvent, Contact, KbFeedback, Message, Ticket


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


async def erase(contact: Contact, who: Who, now: datetime) -> int:
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
    digest = hashlib.sha256(f"{contact.platform}:{contact.user_id}".encode()).hexdigest()[:16]
    contact.user_id, contact.display_name = f"erased:{digest}", name
    contact.erased_at, contact.notifications = now, False
    await contact.save()
    await svc.audit(None, who, "privacy_erase", now, contact=contact.id, messages=changed)
    return changed


def _scrub(text: str, olds: set[str], new: str) -> str:
    for old in olds:
        text = text.replace(json.dumps(old)[1:-1], new)
    return text
