"""What every command handler shares: the call's environment, the per-module handler set, and the
small helpers for loading what a command names and shaping its replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot import tickets as svc
from bot.commands import Command, PersonRef
from bot.identity import Who, person_by_ref
from bot.types import Audience, Invocation, Reply
from storage.models import Person, Ticket

Suggest = Callable[[str, int], Awaitable[Sequence[Any]]]


class Desk(Protocol):
    """The part of the helpdesk a handler may use (bot.core.Helpdesk provides it)."""

    suggest: Suggest


@dataclass
class Env:
    desk: Desk
    who: Who
    now: datetime
    invocation: Invocation

    @property
    def message_id(self) -> str:
        """A stable id for a message a command adds, so a retried command stores it once."""
        return f"cmd:{self.invocation.event_id}"


Handler = Callable[[Env, Command], Awaitable[list[Reply]]]


class Handlers(dict[str, Handler]):
    """One module's handlers by command name; bot.handlers.dispatch merges every module's set, so
    registering is explicit and no import exists only for its side effects."""

    def command(self, name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if name in self:
                raise ValueError(f"command {name!r} has two handlers in one module")
            self[name] = fn
            return fn

        return register


def say(text: str, **kw: Any) -> Reply:
    return Reply(text, **kw)


async def load_ticket(env: Env, key: str, *related: str) -> Ticket:
    """The ticket, if this caller may see it; a contact never learns another customer's tickets exist.

    `related` names relations read in the same query (e.g. "customer", "assignee")."""
    ticket = await Ticket.filter(key=key).select_related(*related).first()
    if ticket is None or (not env.who.is_agent and (env.who.customer is None
                                                    or ticket.customer_id != env.who.customer.id)):
        raise svc.Refusal(f"no ticket {key}")
    return ticket


async def person_for(env: Env, ref: PersonRef) -> Person:
    person = await person_by_ref(ref.pid, ref.platform_id, env.who.actor.platform)
    if person is None:
        raise svc.Refusal(f"{ref} is not a consultant or lead in chatdesk's config")
    return person


async def zone_of(ticket: Ticket) -> str:
    return (await svc.sla_context(ticket.customer_id)).calendar.timezone


def public(ticket: Ticket, text: str, **kw: Any) -> Reply:
    return Reply(text, audience=Audience.THREAD, ticket_key=ticket.key, **kw)


def triage(ticket: Ticket, text: str, **kw: Any) -> Reply:
    return Reply(text, audience=Audience.TRIAGE, ticket_key=ticket.key, internal=True, kind="notice", **kw)


async def store_public(env: Env, ticket: Ticket, text: str) -> None:
    await svc.store_message(ticket, env.who, platform=env.who.actor.platform.value, message_id=env.message_id,
                            text=text, internal=False, now=env.now)
