"""`/helpdesk privacy ...`: a contact's data export, erasure by a lead, notification consent
(what export and erasure do is in bot/privacy.py)."""

from __future__ import annotations

import json

from bot import tickets as svc
from bot.commands import PLATFORM_MENTION, Command
from bot.export import parts as export_parts
from bot.handlers.base import Env, Handlers, say
from bot.privacy import erase, export_data, pseudonym
from bot.quoting import quote
from bot.statuses import Role
from bot.types import Audience, Reply
from storage.models import Contact

HANDLERS = Handlers()


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



@HANDLERS.command("privacy")
async def _privacy(env: Env, cmd: Command) -> list[Reply]:
    action, rest, who = cmd.get("action"), cmd.get("text"), env.who
    if action == "erase":
        if who.role != Role.LEAD:
            raise svc.Refusal("not allowed: only a lead can erase a contact's data")
        words = (rest or "").split()
        blank_text = "--text" in words
        contact = await _contact_from(env, " ".join(w for w in words if w != "--text"))
        count = await erase(contact, who, env.now, blank_text)
        what = "their messages are blanked" if blank_text else "their messages are kept as ticket history"
        return [say(f"Erased: the contact is now '{pseudonym(contact)}' in {count} messages and the audit trail; "
                    f"{what}.")]
    if action == "export":
        if who.role == Role.CONTACT:
            subject = who.contact
        elif who.role == Role.LEAD and rest:
            subject = await _contact_from(env, rest)
        else:
            raise svc.Refusal("not allowed: contacts export their own data; a lead may export a named contact's")
        if subject is None:
            return [say("chatdesk stores nothing about you yet.")]
        contact = subject
        blob = json.dumps(await export_data(contact), ensure_ascii=False, indent=1)
        parts = export_parts(blob)
        await svc.audit(None, who, "privacy_export", env.now, contact=contact.id)
        replies = [say("Your data export is on its way by direct message." if who.role == Role.CONTACT
                       else f"The export of contact:{contact.id} goes to them by direct message.")]
        for n, part in enumerate(parts, start=1):
            label = f" (part {n}/{len(parts)})" if len(parts) > 1 else ""
            replies.append(Reply(f"Your data stored by chatdesk{label}:\n```{quote(part)}```", audience=Audience.DM,
                                 contact=contact.id, kind="export"))
        return replies
    # notifications on|off
    if who.role != Role.CONTACT or who.contact is None:
        raise svc.Refusal("not allowed: notification consent is a contact's own setting")
    value = (rest or "").strip().lower()
    if value not in ("on", "off"):
        raise svc.Refusal("say `/helpdesk privacy notifications off` or `... on`")
    who.contact.notifications = value == "on"
    await who.contact.save(update_fields=["notifications"])
    await svc.audit(None, who, "privacy_notifications", env.now, notifications=value)
    return [say(f"Notifications {value}. " + ("We will not message you outside your tickets' threads."
                                              if value == "off" else "You will get direct messages again."))]
