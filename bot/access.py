"""What chatdesk tells someone it does not know: how to get access, not only "not allowed"."""

from __future__ import annotations

from bot.identity import Who, resolve
from bot.types import Actor, Place, Reply

CONFIG_KEY = {"slack": "slack", "teams": "teams"}


def how_to_get_access(who: Who) -> str:
    """For a stranger: who can add them, under which config key, and where customers write instead."""
    platform = who.actor.platform.value
    key = CONFIG_KEY.get(platform)
    ident = f" with your {platform.capitalize()} id `{who.actor.user_id}`" if key else ""
    lines = [
        "chatdesk does not know you yet.",
        f"• Consultants and leads: ask your helpdesk lead to add you to the org config's `people`{ident} "
        f"(`{key}: {who.actor.user_id}`), then run `chatdesk config apply`." if key else
        "• Consultants and leads: ask your helpdesk lead to add you to the org config's `people`.",
        "• Customers: write in your organisation's support channel; the team answers there.",
    ]
    return "\n".join(lines)


WHAT_EACH_ROLE_DOES = {
    "lead": "You are a lead: `/helpdesk queue @person` shows anyone's queue, `/helpdesk rank` orders it, "
            "`/helpdesk priority KEY P1` sets priority.",
    "consultant": "You are a consultant: `/helpdesk queue` shows your tickets with SLA time left, "
                  "`/helpdesk claim KEY` takes one, `/helpdesk history KEY` reads its conversation.",
    "contact": "Write in your organisation's support channel to open a ticket; `/helpdesk queue` lists "
               "your organisation's open tickets.",
}


async def welcome(actor: Actor, place: Place) -> Reply:
    """The card a person gets when they add chatdesk to their own chat."""
    who = await resolve(actor, place)
    if who.role == "stranger":
        body = how_to_get_access(who)
    else:
        body = f"Hello {who.name}. {WHAT_EACH_ROLE_DOES.get(who.role, '')} `/helpdesk help` lists every command."
    return Reply(body, title="Welcome to chatdesk", kind="notice")
