"""The knowledge base in chat: suggestions on new tickets, `/helpdesk kb`, drafts and "solved it"."""

from __future__ import annotations

from bot import tickets as svc
from bot.commands import TICKET_KEY, Command
from bot.handlers.base import Env, Handlers, load_ticket, say
from bot.quoting import cut, quote
from bot.statuses import Role
from bot.types import Audience, Reply
from kb import service as kb_service
from storage.models import Message

HANDLERS = Handlers()


@HANDLERS.command("kb")
async def _kb(env: Env, cmd: Command) -> list[Reply]:
    words = (cmd.get("text") or "").strip()
    first, _, rest = words.partition(" ")
    if first.lower() == "draft" and TICKET_KEY.match(rest.strip()):
        return await _draft(env, rest.strip().upper())
    if first.lower() == "solved" and rest.strip():
        return await _solved(env, rest.strip())
    if not words:
        return [say("Search the knowledge base: `/helpdesk kb <words>`; `/helpdesk kb draft KEY` turns a "
                    "resolved ticket into a draft article.")]
    hits = list(await env.desk.suggest(words, 5))
    if not hits:
        return [say(f"No article matches '{cut(quote(words), 80)}'.")]
    lines = [f"Articles for '{cut(quote(words), 80)}':"]
    lines += [f"• {h.title}" + (f" <{h.url}>" if getattr(h, "url", None) else "") for h in hits]
    return [say("\n".join(lines))]


async def _draft(env: Env, key: str) -> list[Reply]:
    if not env.who.is_agent:
        raise svc.Refusal("not allowed: only consultants and leads can write knowledge-base drafts")
    ticket = await load_ticket(env, key)
    if ticket.status not in svc.DONE_STATUSES or not ticket.resolution:
        raise svc.Refusal(f"{key} is not resolved yet; a draft needs its resolution")
    first = await Message.filter(ticket_id=ticket.id, internal=False).order_by("created_at").first()
    problem = first.text if first else ticket.title
    body = f"## Problem\n\n{problem}\n\n## Solution\n\n{ticket.resolution}\n"
    article_id = await kb_service.draft_from_ticket(ticket.title, body, tags=(ticket.type,))
    await svc.audit(ticket, env.who, "kb_draft", env.now, article=article_id)
    return [say(f"Draft article {article_id} written from {key}; it is not suggested until someone imports "
                f"a reviewed version with that id (`chatdesk kb import`).")]


async def _solved(env: Env, text: str) -> list[Reply]:
    key, _, article_id = text.partition(" ")
    if not TICKET_KEY.match(key) or not article_id.strip():
        raise svc.Refusal("usage: `/helpdesk kb solved KEY ARTICLE-ID` (the \"Solved it\" button does this)")
    if env.who.role != Role.CONTACT:
        raise svc.Refusal("not allowed: only the customer's contacts say an article solved their ticket")
    ticket = await load_ticket(env, key.upper())
    contact_id = env.who.contact.id if env.who.contact else None
    new = await kb_service.record_solved(ticket.id, article_id.strip(), contact_id)
    if new:
        await svc.audit(ticket, env.who, "kb_solved", env.now, article=article_id.strip())
    return [
        say("Thanks! Glad the article helped; a consultant will confirm and close the ticket."),
        Reply(f"{ticket.key}: the customer says article {article_id.strip()} solved it.", audience=Audience.TRIAGE,
              ticket_key=ticket.key, internal=True, kind="notice", dedupe=f"kb-solved:{ticket.key}"),
    ] if new else [say("Already noted, thanks.")]
