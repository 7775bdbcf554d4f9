"""The recorded Slack and Teams shapes intake needs, translated: reactions, tombstones, deletions,
Slack Connect file stubs and the platforms' own message times."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import inbound as slack
from adapters.teams import inbound as teams
from bot.types import IncomingMessage, Platform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(platform: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))
    return data


def test_slack_reaction_added_names_the_message_and_the_reactor() -> None:
    added = slack.reaction_event(load("slack", "reaction_added"))
    assert added is not None
    assert (added.message_id, added.emoji, added.actor.user_id) == ("1795417201.000100", "ticket", "U0OLLI")
    assert (added.place.platform, added.place.channel, added.place.tenant) == (Platform.SLACK, "C0ACME", "T0HOME")
    assert added.event_id == "Ev0ACME00R01"


def test_slack_reaction_with_a_skin_tone_is_its_emoji() -> None:
    body = load("slack", "reaction_added")
    body["event"]["reaction"] = "ticket::skin-tone-2"
    added = slack.reaction_event(body)
    assert added is not None and added.emoji == "ticket"


def test_slack_reaction_to_a_file_is_not_a_message_reaction() -> None:
    body = load("slack", "reaction_added")
    body["event"]["item"] = {"type": "file", "file": "F123"}
    assert slack.reaction_event(body) is None


def test_a_malformed_slack_reaction_is_an_error() -> None:
    body = load("slack", "reaction_added")
    del body["event"]["item"]["ts"]
    with pytest.raises(slack.PayloadError):
        slack.reaction_event(body)


def test_a_slack_tombstone_is_a_deletion_by_the_original_author() -> None:
    msg = slack.message_event(load("slack", "message_changed_tombstone"))
    assert isinstance(msg, IncomingMessage)
    assert msg.deleted and not msg.edited
    assert (msg.message_id, msg.actor.user_id, msg.text) == ("1795417201.000100", "U0CUST1", "")


def test_slack_connect_file_stubs_ask_for_files_info() -> None:
    msg = slack.message_event(load("slack", "file_share_connect_stub"))
    assert msg is not None
    assert [(f.platform_file_id, f.needs_info, f.url) for f in msg.files] == [
        ("F0CONNSHOT", True, None), ("F0CONNLOGO", True, None)]
    full = slack.file_ref(load("slack", "files_info")["F0CONNSHOT"]["file"])
    assert full is not None and not full.needs_info and full.name == "error-dialog.png" and full.size == 96512


def test_slack_message_time_is_its_ts() -> None:
    msg = slack.message_event(load("slack", "message_in_shared_channel"))
    assert msg is not None and msg.sent_at == datetime(2026, 11, 23, 7, 0, 1, 100, tzinfo=UTC)


def test_teams_message_reaction_translates_the_ticket_emoji() -> None:
    activity = teams.check(load("teams", "message_reaction"))
    [added] = teams.reactions_added(activity)
    assert (added.message_id, added.emoji, added.actor.user_id) == ("1795417200123", "ticket", "29:olli")
    assert added.place.channel == "19:acme@thread.tacv2" and added.place.thread is None


@pytest.mark.parametrize("kind, name", [("like", "+1"), ("heart", "heart"), ("1f3ab_ticket", "ticket"),
                                        ("1f44d_thumbsup", "thumbsup"), ("🎫", "ticket")])
def test_teams_reaction_types_become_emoji_names(kind: str, name: str) -> None:
    assert teams.emoji_name(kind) == name


def test_a_teams_reaction_without_its_message_acts_on_nothing() -> None:
    activity = copy.deepcopy(load("teams", "message_reaction"))
    del activity["replyToId"]
    assert teams.reactions_added(teams.check(activity)) == []
    activity["reactionsAdded"] = "ticket"
    with pytest.raises(teams.MalformedActivity):
        teams.check(activity)


def test_teams_message_delete_is_a_deletion_and_messages_carry_their_timestamp() -> None:
    deleted = teams.translate(teams.check(load("teams", "message_delete")), purpose="customer")
    assert isinstance(deleted, IncomingMessage) and deleted.deleted and deleted.message_id == "1795417200123"
    posted = teams.translate(teams.check(load("teams", "channel_message_top_level")), purpose="customer")
    assert isinstance(posted, IncomingMessage)
    assert posted.sent_at == datetime(2026, 11, 23, 7, 0, 0, 123456, tzinfo=UTC)
