"""The one visibility rule: what a place is, who may read a reply, where a refused reply goes."""

from __future__ import annotations

import pytest

from bot import audience
from bot.audience import PlaceKind, Visibility
from bot.clock import FakeClock
from bot.core import Helpdesk
from bot.identity import resolve
from bot.types import Actor, Audience, Destination, Place, Platform, Reply
from storage.models import OutboxMessage

TENANT = "6f1c2a4e-0d3b-4c8e-9a57-2b1e8d4f0acd"
OLLI = Actor(Platform.TEAMS, TENANT, "29:olli")
THREAD = Destination(Platform.SLACK, "T0HOME", "C0ACME", "1.1", customer_visible=True)
TRIAGE = Destination(Platform.SLACK, "T0HOME", "C0TRIAGE")


@pytest.mark.parametrize("place,kind,visible", [
    (Place(Platform.TEAMS, TENANT, "19:acme@thread.tacv2", "1"), PlaceKind.CUSTOMER_CHANNEL, True),
    (Place(Platform.TEAMS, TENANT, "19:triage@thread.tacv2", "1"), PlaceKind.TRIAGE, False),
    (Place(Platform.TEAMS, TENANT, "a:1", is_direct=True), PlaceKind.DIRECT, False),
    (Place(Platform.TEAMS, TENANT, "19:g@thread.v2"), PlaceKind.GROUP, True),
    (Place(Platform.TEAMS, TENANT, "19:g@thread.v2", members=()), PlaceKind.GROUP, True),
    (Place(Platform.TEAMS, TENANT, "19:g@thread.v2", members=("29:olli", "29:x")), PlaceKind.GROUP, True),
    (Place(Platform.TEAMS, TENANT, "19:g@thread.v2", members=("29:olli", "aad|29:lead")), PlaceKind.GROUP, False),
    (Place(Platform.SLACK, "T0HOME", "C0UNBOUND"), PlaceKind.GROUP, True),
])
async def test_places_are_classified_from_the_config(database: str, place: Place, kind: PlaceKind,
                                                     visible: bool) -> None:
    where = await audience.classify(await resolve(OLLI, place))
    assert (where.kind, where.customer_visible) == (kind, visible)


def test_what_each_visibility_may_reach() -> None:
    dm_agent = Destination(Platform.SLACK, "", user="U0OLLI")
    assert audience.may_read(Visibility.CUSTOMER, THREAD, agent_dm=False)
    assert not audience.may_read(Visibility.AGENTS, THREAD, agent_dm=False)
    assert audience.may_read(Visibility.AGENTS, TRIAGE, agent_dm=False)
    assert audience.may_read(Visibility.AGENTS, dm_agent, agent_dm=True)
    assert not audience.may_read(Visibility.AGENTS, Destination(Platform.SLACK, "", user="UCONTACT"), agent_dm=False)
    assert not audience.may_read(Visibility.PERSON, TRIAGE, agent_dm=False)
    assert audience.may_read(Visibility.PERSON, dm_agent, agent_dm=True)


async def test_an_agents_only_thread_reply_goes_to_the_askers_1to1_and_the_thread_gets_nothing(
        database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock)
    who = await resolve(Actor(Platform.SLACK, "T0HOME", "U0OLLI"), Place(Platform.SLACK, "T0HOME", "C0TRIAGE"))
    leak = Reply("SLA internals", audience=Audience.THREAD, ticket_key="ACME-1", visibility="agents")
    planned = Destination(Platform.SLACK, "T0HOME", "C0ACME", "1.1", customer_visible=True)
    admitted = audience.admit(leak, planned, who)
    assert admitted is not None
    dest, reply = admitted
    assert (dest.user, dest.channel) == ("U0OLLI", None) and reply.internal
    # With nobody asking (a worker), it is dropped.
    assert audience.admit(leak, planned, None) is None
    assert await desk.route([], who, None) == 0 and not await OutboxMessage.exists()


async def test_a_refusal_to_an_agent_in_a_teams_customer_thread_goes_to_their_1to1(
        database: str, clock: FakeClock) -> None:
    from bot.types import Invocation

    desk = Helpdesk(clock=clock)
    outcome = await desk.handle_invocation(Invocation(
        event_id="Ev1", actor=OLLI, place=Place(Platform.TEAMS, TENANT, "19:acme@thread.tacv2", "1"),
        text="handover ACME-99 support"))
    assert outcome.replies == ()
    [row] = await OutboxMessage.all()
    assert row.destination["user"] == "29:olli" and "ACME-99" in row.payload["text"]
