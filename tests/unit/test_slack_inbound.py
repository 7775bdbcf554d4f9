"""adapters/slack/inbound.py: each recorded payload shape -> the neutral dataclass (or None)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from adapters.slack import inbound
from adapters.slack.inbound import PayloadError
from bot.types import Actor, FileRef, Place, Platform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
SLACK = Platform.SLACK
ROOT_TS = "1795417201.000100"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_message_in_a_slack_connect_channel() -> None:
    msg = inbound.message_event(load("message_in_shared_channel.json"))
    assert msg is not None
    assert msg.event_id == "Ev0ACME00001"  # Slack's event_id: what retries are recognised by
    # The customer's own workspace is the actor's tenant; the channel is known by its id, in our workspace.
    assert msg.actor == Actor(SLACK, "T0ACME", "U0CUST1", display_name="Aino")
    assert msg.place == Place(SLACK, "T0HOME", "C0ACME", None, False)
    assert msg.message_id == ROOT_TS
    assert msg.text == "Our VPN drops every few minutes in the Oulu office"
    assert msg.sent_at == datetime.fromtimestamp(1795417201.0001, tz=UTC)
    assert not (msg.edited or msg.deleted or msg.from_bot) and msg.files == ()


def test_thread_reply_names_its_thread() -> None:
    msg = inbound.message_event(load("thread_reply.json"))
    assert msg is not None
    assert msg.place.thread == ROOT_TS and msg.message_id == "1795417320.000200"
    agent = inbound.message_event(load("agent_reply_in_thread.json"))
    assert agent is not None and agent.actor.tenant == "T0HOME" and agent.actor.user_id == "U0OLLI"


def test_message_changed_is_an_edit_of_the_inner_message() -> None:
    msg = inbound.message_event(load("message_changed.json"))
    assert msg is not None and msg.edited and not msg.deleted
    assert msg.message_id == ROOT_TS  # the edited message, not the change event's own ts
    assert msg.text == "Our VPN drops every few minutes in the Oulu and Tampere offices"
    assert msg.actor.user_id == "U0CUST1" and msg.actor.tenant == "T0ACME"


def test_message_deleted() -> None:
    msg = inbound.message_event(load("message_deleted.json"))
    assert msg is not None and msg.deleted and msg.message_id == "1795417320.000200"
    assert msg.place.thread == ROOT_TS


def test_bot_messages_are_marked() -> None:
    other_bot = inbound.message_event(load("bot_message.json"))
    assert other_bot is not None and other_bot.from_bot
    ours = load("agent_reply_in_thread.json")
    ours["event"].update(user="U0BOT")  # our own bot user, as the authorizations name it
    own = inbound.message_event(ours)
    assert own is not None and own.from_bot
    with_bot_id = load("thread_reply.json")
    with_bot_id["event"]["bot_id"] = "B0BOT"
    assert inbound.message_event(with_bot_id).from_bot  # type: ignore[union-attr]


@pytest.mark.parametrize("subtype", ["channel_join", "channel_leave", "channel_topic", "pinned_item",
                                     "channel_purpose", "reminder_add"])
def test_housekeeping_subtypes_are_ignored(subtype: str) -> None:
    payload = load("channel_join.json")
    payload["event"]["subtype"] = subtype
    assert inbound.message_event(payload) is None


def test_file_share_carries_file_metadata() -> None:
    msg = inbound.message_event(load("file_share.json"))
    assert msg is not None and msg.place.thread == ROOT_TS
    log, shot, logo = msg.files
    assert log == FileRef(name="vpn-client.log", mimetype="text/plain", size=2048,
                          url="https://files.slack.com/files-pri/T0ACME-F0VPNLOG/download/vpn-client.log",
                          platform_file_id="F0VPNLOG")
    assert (shot.width, shot.height, shot.size) == (1280, 720, 183406)
    assert (logo.name, logo.width, logo.height) == ("image001.png", 96, 32)


def test_a_file_from_another_org_may_be_a_stub() -> None:
    payload = load("file_share.json")
    payload["event"]["files"] = [{"id": "F0HIDDEN", "mode": "hidden_by_limit"}, "junk", {"file_access": "x"}]
    msg = inbound.message_event(payload)
    assert msg is not None and msg.files == (FileRef(name="F0HIDDEN", platform_file_id="F0HIDDEN"),)


def test_slash_command() -> None:
    form = dict(parse_qsl((FIXTURES / "slash_command.txt").read_text(), keep_blank_values=True))
    inv = inbound.slash_command(form)
    assert inv.text == "priority ACME-1 P1"
    assert inv.event_id == form["trigger_id"]
    assert inv.actor == Actor(SLACK, "T0HOME", "U0LEAD", display_name="maija")
    assert inv.place == Place(SLACK, "T0HOME", "C0TRIAGE")
    assert inv.source == "command"


def test_mentions_stay_in_slack_form() -> None:
    form = dict(parse_qsl((FIXTURES / "slash_command.txt").read_text(), keep_blank_values=True))
    form["text"] = "assign ACME-1 <@U0OLLI|olli>"
    assert inbound.slash_command(form).text == "assign ACME-1 <@U0OLLI|olli>"


def test_button_press() -> None:
    inv = inbound.block_action(load("block_actions_claim.json"))
    assert (inv.text, inv.source) == ("claim ACME-1", "button")
    assert inv.actor.user_id == "U0OLLI" and inv.place.channel == "C0TRIAGE"
    assert inv.event_id == "8086234567890.1234567890123.a1b2c3d4e5f60718293a4b5c6d7e8f90"


def test_view_submission_runs_the_buttons_command_with_the_input() -> None:
    body = load("view_submission.json")
    inv = inbound.view_submission(body, inbound.input_command(body["view"]))
    assert inv.text == "assign ACME-1 <@U0OLLI>"
    assert inv.actor.user_id == "U0LEAD" and inv.place.channel == "C0TRIAGE" and inv.source == "button"


def test_add_to_ticket_quotes_the_message_as_a_note() -> None:
    body = load("view_submission_add_to_ticket.json")
    command = inbound.add_to_ticket_command(body["view"])
    assert command == ("note ACME-1 From <@U0CUST1> in <#C0ACME>: "
                       "Also our Oulu firewall was updated on Sunday, in case that matters")
    inv = inbound.view_submission(body, command)
    assert inv.trigger_message_id == "1795417330.000250" and inv.source == "shortcut"


def test_create_ticket_shortcut() -> None:
    body = load("message_shortcut_create_ticket.json")
    msg = inbound.shortcut_message(body)
    assert msg is not None
    assert msg.actor == Actor(SLACK, "T0ACME", "U0CUST1") and msg.message_id == "1795410000.000050"
    assert msg.place.channel == "C0ACME" and msg.place.thread is None
    assert msg.event_id.endswith(":message")
    inv = inbound.shortcut_new(body)
    assert inv.text == "new Printers on the 3rd floor print blank pages since this morning"
    assert inv.actor.user_id == "U0OLLI" and inv.trigger_message_id == "1795410000.000050"
    assert inv.source == "shortcut" and inv.event_id != msg.event_id


@pytest.mark.parametrize("payload", [
    {"type": "event_callback", "event": {"type": "message", "channel": "C1", "ts": "1.1"}},  # no event_id
    {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "ts": "1.1"}},  # no channel
    {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "channel": "C1"}},  # no ts
    {"type": "event_callback", "event_id": "Ev1",
     "event": {"type": "message", "subtype": "message_changed", "channel": "C1", "message": "x"}},
])
def test_malformed_messages_raise_payload_error(payload: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        inbound.message_event(payload)


@pytest.mark.parametrize("payload", [None, [], "x", {"event": None}, {"event": {"type": "reaction_added"}}])
def test_non_messages_are_none(payload: Any) -> None:
    assert inbound.message_event(payload if isinstance(payload, dict) else {"event": payload}) is None


def test_malformed_interactions_raise_payload_error() -> None:
    with pytest.raises(PayloadError):
        inbound.block_action({"type": "block_actions", "actions": []})
    with pytest.raises(PayloadError):
        inbound.block_action({"type": "block_actions", "actions": [{"value": "claim X-1"}], "user": {}})
    with pytest.raises(PayloadError):
        inbound.slash_command({"command": "/helpdesk", "text": "help"})
    with pytest.raises(PayloadError):
        inbound.view_submission({"view": {"private_metadata": "{not json"}, "user": {"id": "U1"}}, "x")
