"""Teams in its own idiom: @Helpdesk in every text, access explained to someone chatdesk does not know."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from tests.scenarios.teams_harness import TeamsWorld

STRANGER_CHAT = "a:1stranger-personal-0000"


@pytest.fixture
async def world(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def test_help_from_an_unknown_person_explains_how_to_get_access(world: TeamsWorld) -> None:
    activity = world.activity("personal_chat_command", text="help", id="1795419600999")
    activity["from"] = {"id": "29:stranger", "name": "New Person"}
    activity["conversation"] = {**activity["conversation"], "id": STRANGER_CHAT}
    assert await world.post(activity) == 200
    await world.deliver()
    [answer] = world.connector.posts(STRANGER_CHAT)
    text = answer.body["text"]
    assert text.startswith("chatdesk does not know you yet."), text
    assert "`teams: 29:stranger`" in text and "chatdesk config apply" in text
    assert "not allowed" not in text


async def test_teams_answers_name_the_teams_syntax(world: TeamsWorld) -> None:
    activity = world.activity("personal_chat_command", text="help", id="1795419600998")
    assert await world.post(activity) == 200
    await world.deliver()
    [answer] = world.connector.posts("a:1olli-personal-Xk3vQ9pLm2Rt7Yw4Zb8Nc6Hd1Fg5Js0")
    text = str(answer.body)
    assert "`@Helpdesk help <command>`" in text and "/helpdesk" not in text


async def test_a_personal_install_gets_a_welcome_card(world: TeamsWorld) -> None:
    assert await world.post(world.activity("installation_update")) == 200
    lead_chat = "a:1lead-personal-Qw8eRt5yUi2oPa7sDf4gHj1kLz9xCv6"
    [welcome] = world.connector.posts(lead_chat)
    [attachment] = welcome.body["attachments"]
    title, text = attachment["content"]["body"][:2]
    assert title["text"] == "Welcome to chatdesk"
    assert text["text"].startswith("Hello Maija. You are a lead") and "`@Helpdesk help`" in text["text"]

    stranger = world.activity("installation_update", id="f:other")
    stranger["from"] = {"id": "29:nobody"}
    stranger["conversation"] = {**stranger["conversation"], "id": STRANGER_CHAT}
    assert await world.post(stranger) == 200
    [card] = world.connector.posts(STRANGER_CHAT)
    body = str(card.body)
    assert "chatdesk does not know you yet" in body and "teams: 29:nobody" in body

    removed = world.activity("installation_update", id="f:removed", action="remove")
    assert await world.post(removed) == 200
    assert len(world.connector.posts(lead_chat)) == 1  # no welcome on removal
