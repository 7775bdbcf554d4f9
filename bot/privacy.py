"""`/helpdesk privacy ...`: a contact's data export, erasure by a lead, notification consent.

Erasure pseudonymises rather than deletes (bot/erasure.py): ticket history stays readable
("erased contact 17 wrote ...") while nothing stored identifies the person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import tickets as svc
from bot.erasure import erase_contact, pseudonym
from bot.identity import Who
from storage.models import AuditEvent, Contact, KbFeedback, Message, Ticket

__all__ = ["erase", "export_data", "pseudonym"]


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


async def erase(contact: Contact, who: Who, now: datetime, blank_text: bool = False) -> int:
    changed = await erase_contact(contact, now, blank_text=blank_text)
    await svc.audit(None, who, "privacy_erase", now, contact=contact.id, messages=changed, text=blank_text)
    return changed
