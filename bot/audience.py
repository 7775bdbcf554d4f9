"""Who may read a reply, and where it may therefore go: the one visibility rule.

Every reply has a visibility: the customer may read it, agents only (consultants and
leads), or one person only. Every place is classified from the config: a customer's
channel and its threads are customer-visible, the triage channel is agents-only, a 1:1
chat with the bot is private to the asker, and any other shared place (a group chat, a
channel chatdesk does not serve) counts as customer-visible unless every member is a
configured person. An agents-only or one-person reply is never queued for, nor answered
in, a customer-visible place: it goes to the asker's 1:1 chat instead, and the customer's
place gets nothing. Adapters render what they are given; they decide nothing here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.identity import Who
from bot.types import Audience, Destination, Place, Platform, Reply
from storage.models import Person

log = logging.getLogger("chatdesk.audience")


class Visibility(StrEnum):
    CUSTOMER = "customer"  # the customer may read it
    AGENTS = "agents"  # consultants and leads only
    PERSON = "person"  # the one person it is for (the asker, or the DM's recipient)


class PlaceKind(StrEnum):
    CUSTOMER_CHANNEL = "customer_channel"
    TRIAGE = "triage"
    DIRECT = "direct"  # a 1:1 chat with the bot
    GROUP = "group"  # any other shared place: a group chat, a channel chatdesk does not serve


# Platforms whose answers to a command only the asker sees (Slack ephemeral messages, the console's
# "only you"). Teams answers in the conversation itself, where everyone in it reads them.
WHISPERING = frozenset({Platform.SLACK, Platform.CONSOLE})


@dataclass(frozen=True)
class PlaceClass:
    kind: PlaceKind
    customer_visible: bool  # a customer's person may read what is posted here


async def classify(who: Who) -> PlaceClass:
    """The kind of place the asker is in, from the config (never from the adapter's say-so)."""
    if who.place.is_direct:
        return PlaceClass(PlaceKind.DIRECT, False)
    if who.binding is not None and who.binding.purpose == "customer":
        return PlaceClass(PlaceKind.CUSTOMER_CHANNEL, True)
    if who.binding is not None and who.binding.purpose == "triage":
        return PlaceClass(PlaceKind.TRIAGE, False)
    return PlaceClass(PlaceKind.GROUP, not await _all_configured(who.place))


async def _all_configured(place: Place) -> bool:
    """Whether every member of a group place is a configured, active person (members unknown: no)."""
    if place.members is None or not place.members:
        return False
    members = [set(m.split("|")) - {""} for m in place.members]
    ids = list(set().union(*members))
    if place.platform == Platform.SLACK:
        known = await Person.filter(slack__in=ids, active=True).values_list("slack", flat=True)
    elif place.platform == Platform.TEAMS:
        known = await Person.filter(teams__in=ids, active=True).values_list("teams", flat=True)
    else:
        known = await Person.filter(pid__in=ids, active=True).values_list("pid", flat=True)
    configured = set(known)
    return all(member & configured for member in members)


def visibility_of(reply: Reply, who: Who | None, place: PlaceClass | None = None) -> Visibility:
    """A reply's visibility: as the handler marked it, else from what it is and whom it answers.
    Unmarked answers to an agent are agents-only; an unmarked answer to a contact is theirs alone
    outside their own customer's channel."""
    if reply.visibility:
        return Visibility(reply.visibility)
    if reply.internal:
        return Visibility.AGENTS
    if reply.audience in (Audience.THREAD, Audience.CHANNEL):
        return Visibility.CUSTOMER
    if reply.audience == Audience.TRIAGE:
        return Visibility.AGENTS
    if reply.audience == Audience.DM:
        return Visibility.PERSON if reply.contact is not None else Visibility.AGENTS
    if who is None:
        return Visibility.AGENTS
    if who.is_agent:
        return Visibility.AGENTS
    if who.role == "contact" and place is not None and place.kind not in (PlaceKind.CUSTOMER_CHANNEL,
                                                                          PlaceKind.DIRECT):
        return Visibility.PERSON
    return Visibility.CUSTOMER


def marked(reply: Reply, visibility: Visibility) -> Reply:
    """The reply with its visibility written down, so the outbox row and the renderer carry it."""
    internal = reply.internal or visibility != Visibility.CUSTOMER
    if reply.visibility == visibility.value and reply.internal == internal:
        return reply
    return replace(reply, visibility=visibility.value, internal=internal)


def may_read(visibility: Visibility, destination: Destination, *, agent_dm: bool) -> bool:
    """Whether a reply of this visibility may be queued for this destination. `agent_dm`: the
    destination is a direct message to a configured person."""
    if visibility == Visibility.CUSTOMER:
        return True
    if destination.customer_visible:
        return False
    if visibility == Visibility.AGENTS:
        return destination.user is None or agent_dm
    return destination.user is not None  # one person: a direct message only


def private_to_asker(who: Who) -> Destination | None:
    """The asker's 1:1 chat with the bot on the platform they asked from."""
    place = who.place
    if place.platform == Platform.CONSOLE:
        return Destination(Platform.CONSOLE, "console", user=who.person.pid if who.person else who.actor.user_id)
    if not who.actor.user_id:
        return None
    return Destination(place.platform, place.tenant, user=who.actor.user_id)


async def split_answers(replies: list[Reply], who: Who) -> tuple[list[Reply], list[tuple[Destination, Reply]]]:
    """Answers to a command: those that may be shown where it was asked, and those that must go to
    the asker's 1:1 chat instead (with where to queue them)."""
    place = await classify(who)
    here: list[Reply] = []
    elsewhere: list[tuple[Destination, Reply]] = []
    whispered = who.place.platform in WHISPERING or place.kind == PlaceKind.DIRECT
    for reply in replies:
        visibility = visibility_of(reply, who, place)
        reply = marked(reply, visibility)
        if whispered or visibility == Visibility.CUSTOMER or (
                visibility == Visibility.AGENTS and not place.customer_visible):
            here.append(reply)
            continue
        destination = private_to_asker(who)
        if destination is None:
            log.error("dropped a %s answer: the asker has no 1:1 chat", visibility.value)
            continue
        elsewhere.append((destination, replace(reply, audience=Audience.DM)))
    return here, elsewhere


def admit(reply: Reply, destination: Destination, who: Who | None,
          dedupe_at: Callable[[str, Destination], str] | None = None) -> tuple[Destination, Reply] | None:
    """Where a routed reply may be queued: its destination if its readers may read it there, else
    the asker's 1:1 chat (an agents-only reply for an agent), else nowhere. The reply comes back
    marked (its visibility written down) and, with `dedupe_at`, with its dedupe key made that
    destination's; in one copy, as a sweep queues thousands."""
    visibility = visibility_of(reply, who)
    agent_dm = reply.audience == Audience.DM and reply.person is not None and reply.contact is None
    changes: dict[str, Any] = {}
    dedupe = reply.dedupe
    if not may_read(visibility, destination, agent_dm=agent_dm):
        private = private_to_asker(who) if who is not None and who.is_agent and visibility == Visibility.AGENTS \
            else None
        if private is None:
            log.error("refused to queue a %s reply (%s) for a place its readers may not see", visibility.value,
                      reply.ticket_key or reply.kind)
            return None
        log.warning("an agents-only reply (%s) was meant for a customer-visible place; sent to the asker",
                    reply.ticket_key or reply.kind)
        destination, changes["audience"], dedupe = private, Audience.DM, None
    internal = reply.internal or visibility != Visibility.CUSTOMER
    if reply.visibility != visibility.value or reply.internal != internal:
        changes.update(visibility=visibility.value, internal=internal)
    if dedupe is not None and dedupe_at is not None:
        dedupe = dedupe_at(dedupe, destination)
    if dedupe != reply.dedupe:
        changes["dedupe"] = dedupe
    return destination, replace(reply, **changes) if changes else reply

