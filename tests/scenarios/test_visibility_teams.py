"""Nothing agents-only is answered in a Teams conversation customers can read: a customer's channel,
or a group chat that is not made of configured people alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from tests.scenarios.teams_harness import ACME, TeamsWorld

ROOT = "1795417200123"  # the contact's top-level post in channel_message_top_level.json
THREAD = f"{ACME};messageid={ROOT}"
GROUP = "19:a1b2c3d4e5f6@thread.v2"
OLLI_1TO1 = "a:personal-29:olli"  # the 1:1 chat the fake connector creates for Olli


@pytest.fixture
async def world(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def open_ticket(world: TeamsWorld) -> None:
    assert await world.post(world.activity("channel_message_top_level")) == 200
    await world.deliver()
    world.connector.take()


def said_in(world: TeamsWorld, conversation: str) -> str:
    """Everything posted into a conversation (any thread of it)."""
    return "\n".join(c.text for c in world.connector.posts() if conversation in (c.conversation or ""))


def said_to_olli(world: TeamsWorld) -> str:
    return "\n".join(c.text for c in world.connector.posts()
                     if c.conversation == OLLI_1TO1 or (c.path == "/v3/conversations"
                                                        and "29:olli" in str(c.body.get("members"))))


async def command_in_thread(world: TeamsWorld, text: str) -> None:
    activity = world.message("channel_reply_in_thread", f"<at>Helpdesk</at> {text}",
                             entities=world.activity("mention_command")["entities"])
    assert await world.post(activity) == 200
    await world.deliver()


async def test_sla_asked_in_the_customer_thread_goes_to_the_agents_1to1(world: TeamsWorld) -> None:
    await open_ticket(world)
    await command_in_thread(world, "sla ACME-1")
    assert "first response" not in said_in(world, ACME)
    assert "target" not in said_in(world, ACME) and "SLA for ACME-1" not in said_in(world, ACME)
    assert "SLA for ACME-1" in said_to_olli(world)


async def test_customer_profile_asked_in_the_customer_thread_goes_to_the_agents_1to1(world: TeamsWorld) -> None:
    await open_ticket(world)
    await command_in_thread(world, "customer ACME")
    assert "gold" not in said_in(world, ACME) and "targets" not in said_in(world, ACME)
    assert "P1 targets" in said_to_olli(world)


def group_command(world: TeamsWorld, text: str) -> dict[str, object]:
    activity = world.message("group_chat_mention_command", f"<at>Helpdesk</at> {text}",
                             entities=world.activity("group_chat_mention_command")["entities"])
    return activity


@pytest.mark.parametrize("command,secret", [("report", "Open per person"), ("customer ACME", "gold"),
                                            ("sla ACME-1", "SLA for ACME-1"), ("queue", "Olli's queue")])
async def test_a_group_chat_of_unknown_members_gets_no_agents_only_answer(world: TeamsWorld, command: str,
                                                                          secret: str) -> None:
    await open_ticket(world)
    await world.post(group_command(world, "claim ACME-1"))
    assert await world.post(group_command(world, command)) == 200
    await world.deliver()
    assert secret not in said_in(world, GROUP)
    assert secret in said_to_olli(world)


async def test_a_group_chat_with_a_customer_member_gets_no_report(world: TeamsWorld) -> None:
    await open_ticket(world)
    world.connector.rosters[GROUP] = [
        {"id": "29:olli", "name": "Olli", "aadObjectId": "7c2e4a6b-1d3f-4e5a-9b8c-0d1e2f3a4b5c"},
        {"id": "29:acme-contact", "name": "Aino Asiakas"},
    ]
    assert await world.post(group_command(world, "report")) == 200
    await world.deliver()
    assert "Open per person" not in said_in(world, GROUP) and "Acme Oy" not in said_in(world, GROUP)
    assert "Open per person" in said_to_olli(world)


async def test_a_group_chat_of_configured_people_only_is_answered_in_place(world: TeamsWorld) -> None:
    await open_ticket(world)
    world.connector.rosters[GROUP] = [
        {"id": "29:olli", "name": "Olli", "aadObjectId": "7c2e4a6b-1d3f-4e5a-9b8c-0d1e2f3a4b5c"},
        {"id": "29:another-id", "name": "Maija", "aadObjectId": "29:lead"},  # known by her other id
    ]
    assert await world.post(group_command(world, "report")) == 200
    await world.deliver()
    assert "Open per person" in said_in(world, GROUP)
    assert not said_to_olli(world)
