"""Acceptance story 8: an SLA warning and then a breach appear in the
ticket's thread, the triage channel and the assignee's DM, once each.

The story is data (STORY), played through the console (what it printed) and through Slack
(what the fake Web API was asked to post); the reminder worker's `tick` runs on the fake clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot import reminders
from bot.clock import FakeClock
from chatdesk.server import DESK
from storage.models import OutboxMessage
from tests.scenarios.console_driver import ConsoleWorld
from tests.scenarios.slack_harness import SlackWorld, slack_world

WARNING = "ACME-1 first response due 13:00 EET, in 1h 00m"
BREACH = "ACME-1 first response breached 5m ago (due 13:00 EET)"
THREAD_WARNING = "ACME-1: we aim to reply to you by 13:00 EET (in 1h 00m). The team has been reminded."
THREAD_BREACH = "ACME-1: we aimed to reply to you by 13:00 EET and are 5m late."

# (Helsinki wall clock of the sweep, what must appear now in the thread, #triage and olli's DM)
STORY = [
    ("2026-11-23 11:59", None, None),
    ("2026-11-23 12:00", THREAD_WARNING, WARNING),
    ("2026-11-23 12:30", None, None),
    ("2026-11-23 13:05", THREAD_BREACH, BREACH),
    ("2026-11-23 13:06", None, None),
    ("2026-11-23 15:00", None, None),
]


def helsinki(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - timedelta(hours=2)


@pytest.fixture
async def world(database: str, clock: FakeClock) -> ConsoleWorld:
    return ConsoleWorld(clock)


def where(line: str) -> str:
    return line.split("]", 1)[0] + "]"


async def test_story_8_warning_then_breach_once_each(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Nobody can log in to the ERP since this morning")
    lead = await world.person("lead:maija")
    await lead.say("/helpdesk assign ACME-1 @olli")
    world.take()

    everything: list[str] = []
    for wall, in_thread, internal in STORY:
        world.clock.set(helsinki(wall))
        await reminders.tick(world.desk, world.clock.now())
        await lead.session.flush()  # the console delivers its outbox by printing
        seen = world.take()
        everything += seen
        if in_thread is None:
            assert seen == [], wall
            continue
        assert sorted(where(s) for s in seen) == ["[#ACME › ACME-1]", "[#triage]", "[DM to olli]"], seen
        by_place = {where(s): s for s in seen}
        assert by_place["[#ACME › ACME-1]"].startswith(f"[#ACME › ACME-1] chatdesk: {in_thread}")
        assert by_place["[#triage]"].startswith(f"[#triage] chatdesk: {internal}\n")
        assert "Assignee: Olli" in by_place["[#triage]"]
        assert by_place["[DM to olli]"].startswith(f"[DM to olli] chatdesk: {internal}\n")

    assert len(everything) == 6  # a warning and a breach, each in three places
    assert not any("SLA" in line or "olli" in line.lower() for line in everything if "[#ACME" in line), \
        "the customer's thread gets the customer's wording, not the internal one"


async def test_story_8_customer_reply_in_time_means_no_breach(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Invoices are not arriving")
    lead = await world.person("lead:maija")
    await lead.say("/helpdesk assign ACME-1 @olli")
    world.clock.set(helsinki("2026-11-23 12:00"))
    await reminders.tick(world.desk, world.clock.now())
    consultant = await world.person("consultant:olli")
    await consultant.say(":thread ACME-1")
    world.take()
    await consultant.say("On it: the mail relay is queueing")
    world.clock.set(helsinki("2026-11-23 13:30"))
    await reminders.tick(world.desk, world.clock.now())
    await consultant.session.flush()
    assert [line for line in world.take() if "breach" in line] == []


# --- the same story through Slack ------------------------------------------------------------------

ROOT_TS = "1795417201.000100"  # the customer's message in message_in_shared_channel.json


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


async def test_story_8_through_slack(slack: SlackWorld) -> None:
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    assert (await slack.http.command(slack.command("assign ACME-1 @olli"))).status == 200
    await slack.drain()
    before = len(slack.api.posts())

    for wall, in_thread, internal in STORY:
        slack.clock.set(helsinki(wall))  # type: ignore[attr-defined]
        await reminders.tick(slack.app[DESK], slack.clock.now())
        await slack.drain()
        posted = slack.api.posts()[before:]
        before += len(posted)
        if in_thread is None:
            assert posted == [], wall
            continue
        by_channel = {p["channel"]: p for p in posted}
        assert len(posted) == 3 and set(by_channel) == {"C0ACME", "C0TRIAGE", "U0OLLI"}, posted
        assert by_channel["C0ACME"]["thread_ts"] == ROOT_TS
        assert by_channel["C0ACME"]["text"].startswith(in_thread)
        # In triage, the notice is a reply in the ticket's thread, under its announcement.
        announcement = next(r for r in await OutboxMessage.filter(ticket_key="ACME-1", status="sent").order_by("id")
                            if r.destination.get("channel") == "C0TRIAGE")
        assert "thread_ts" not in slack.api.posts("C0TRIAGE")[0]
        assert by_channel["C0TRIAGE"]["thread_ts"] == announcement.platform_message_id
        assert by_channel["C0TRIAGE"]["text"].startswith(internal)
        assert by_channel["U0OLLI"]["text"].startswith(internal)
