"""The knowledge base in chat: suggestions on new tickets, `/helpdesk kb`, drafts, "solved it", links.

A ticket that an article answered teaches the knowledge base its customer's words: when
it is resolved after the customer said "Solved it", or when an agent links an article to
it, its opening message becomes an alternate question of the article.
"""

from __future__ import annotations

from bot import tickets as svc
from bot.commands import TICKET_KEY, Command
from bot.handlers.base import Env, Handlers, load_ticket, say
from bot.quoting import cut, quote
from bot.statuses import Role
from bot.types import Audience, Reply
from bot.views import suggestion_reason
from kb import service as kb_service
from storage.models import Message, Ticket

HANDLERS = Handlers()


@HANDLERS.command("kb")
async def _kb(env: Env, cmd: Command) -> list[Reply]:
    words = (cmd.get("text") or "").strip()
    first, _, rest = words.partition(" ")
    if first.lower() == "draft" and TICKET_KEY.match(rest.strip()):
        return await _draft(env, rest.strip().upper())
    if first.lower() == "solved" and rest.strip():
        return await _solved(env, rest.strip())
    if first.lower() == "link" and TICKET_KEY.match(rest.strip().partition(" ")[0]):
        return await _link(env, rest.strip())
    if first.lower() == "questions" and rest.strip():
        return await _questions(env, rest.strip())
    if not words:
        return [say("Search the knowledge base: `/helpdesk kb <words>`; `/helpdesk kb draft KEY` turns a "
                    "resolved ticket into a draft article; `/helpdesk kb link KEY ARTICLE` teaches an article "
                    "the ticket's words; `/helpdesk kb questions ARTICLE [remove N]` lists what it learnt.")]
    hits = list(await env.desk.suggest(words, 5))
    if not hits:
        return [say(f"No article matches '{cut(quote(words), 80)}'.")]
    lines = [f"Articles for '{cut(quote(words), 80)}':"]
    for h in hits:
        line = f"• {h.title}" + (f" <{h.url}>" if getattr(h, "url", None) else "")
        if env.who.is_agent:
            line += f" — {suggestion_reason(h)}"
        lines.append(line)
    return [say("\n".join(lines))]


async def learn_from_resolution(ticket: Ticket) -> list[str]:
    """A resolved ticket whose customer said "Solved it" teaches those articles its words."""
    learnt = []
    for article_id in await kb_service.solved_articles(ticket.id):
        if await kb_service.article_exists(article_id) and await kb_service.add_question(
            article_id, await _opening_text(ticket), ticket_id=ticket.id, source="solved"
        ):
            learnt.append(article_id)
    return learnt


async def _opening_text(ticket: Ticket) -> str:
    first = await Message.filter(ticket_id=ticket.id, internal=False).order_by("created_at", "id").first()
    return first.text if first else ticket.title


async def _link(env: Env, text: str) -> list[Reply]:
    key, _, article_id = text.partition(" ")
    article_id = article_id.strip()
    if not article_id or " " in article_id:
        raise svc.Refusal("usage: `/helpdesk kb link KEY ARTICLE-ID`")
    if not env.who.is_agent:
        raise svc.Refusal("not allowed: only consultants and leads link articles to tickets")
    ticket = await load_ticket(env, key.upper())
    if not await kb_service.article_exists(article_id):
        raise svc.Refusal(f"no knowledge-base article '{article_id[:80]}'")
    new = await kb_service.add_question(article_id, await _opening_text(ticket), ticket_id=ticket.id, source="link")
    if not new:
        return [say(f"{ticket.key} is already linked to {article_id}.")]
    await svc.audit(ticket, env.who, "kb_link", env.now, article=article_id)
    return [say(f"Linked {ticket.key} to {article_id}: its opening message is now an alternate question of the "
                f"article (`/helpdesk kb questions {article_id}`).")]


async def _questions(env: Env, text: str) -> list[Reply]:
    if not env.who.is_agent:
        raise svc.Refusal("not allowed: only consultants and leads see an article's learnt questions")
    parts = text.split()
    article_id = parts[0]
    if len(parts) == 3 and parts[1].lower() == "remove" and parts[2].isdigit():
        if not await kb_service.remove_question(article_id, int(parts[2])):
            raise svc.Refusal(f"{article_id} has no question {parts[2]} (`/helpdesk kb questions {article_id}`)")
        return [say(f"Question {parts[2]} removed from {article_id}.")]
    if len(parts) != 1:
        raise svc.Refusal("usage: `/helpdesk kb questions ARTICLE` or `/helpdesk kb questions ARTICLE remove N`")
    if not await kb_service.article_exists(article_id):
        raise svc.Refusal(f"no knowledge-base article '{article_id[:80]}'")
    rows = await kb_service.questions(article_id)
    if not rows:
        return [say(f"{article_id} has no alternate questions yet.")]
    lines = [f"Alternate questions of {article_id}:"]
    lines += [f"{q.id}. {q.text[:200]} ({q.source})" for q in rows]
    return [say("\n".join(lines))]


async def _draft(env: Env, key: str) -> list[Reply]:
    if not env.who.is_agent:
        raise svc.Refusal("not allowed: only consultants and leads can write knowledge-base drafts")
    ticket = await load_ticket(env, key)
    if ticket.status not in svc.DONE_STATUSES or not ticket.resolution:
        raise svc.Refusal(f"{key} is not resolved yet; a draft needs its resolution")
    problem = await _opening_text(ticket)
    body = f"## Problem\n\n{problem}\n\n## Solution\n\n{ticket.resolution}\n"
    article_id = await kb_service.draft_from_ticket(ticket.title, body, tags=(ticket.type,), question=problem,
                                                    ticket_id=ticket.id)
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
        if ticket.status in svc.DONE_STATUSES:  # resolved before the click: learn now
            await learn_from_resolution(ticket)
    return [
        say("Thanks! Glad the article helped; a consultant will confirm and close the ticket."),
        Reply(f"{ticket.key}: the customer says article {article_id.strip()} solved it.", audience=Audience.TRIAGE,
              ticket_key=ticket.key, internal=True, kind="notice", dedupe=f"kb-solved:{ticket.key}"),
    ] if new else [say("Already noted, thanks.")]
