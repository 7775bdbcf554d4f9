"""Teams activity JSON -> IncomingMessage / Invocation, on the recorded shapes in tests/fixtures/teams/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.inbound import (
    MalformedActivity,
    check,
    clean_text,
    conversation_of,
    files_of,
    translate,
)
from bot.types import IncomingMessage, Invocation, Platform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teams"
TENANT = "6f1c2a4e-0d3b-4c8e-9a57-2b1e8d4f0acd"
BOT = {"id": "28:9d3c5e4a-7b1f-4c2d-8e6a-0f1b2c3d4e5f", "name": "Helpdesk"}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_top_level_channel_post_is_its_own_thread_root() -> None:
    msg = translate(load("channel_message_top_level"), purpose="customer")
    assert isinstance(msg, IncomingMessage)
    assert msg.place.platform == Platform.TEAMS
    assert (msg.place.tenant, msg.place.channel, msg.place.thread) == (TENANT, "19:acme@thread.tacv2", "1795417200123")
    assert msg.message_id == msg.event_id == "1795417200123"
    assert msg.text == "Our VPN drops every few minutes in the Oulu office"
    assert msg.actor.aad_object_id == "3b9f6c1d-8e2a-4f5b-a7c6-d1e2f3a4b5c6"
    assert msg.actor.display_name == "Anna Virtanen"
    assert msg.sent_at is not None and msg.sent_at.isoformat().startswith("2026-11-23T07:00:00.123456")
    assert msg.files == ()


def test_reply_names_its_thread_and_takes_the_tenant_from_channel_data() -> None:
    activity = load("channel_reply_in_thread")
    assert "tenantId" not in activity["conversation"]
    msg = translate(activity, purpose="customer")
    assert isinstance(msg, IncomingMessage)
    assert (msg.place.channel, msg.place.thread, msg.message_id) == (
        "19:acme@thread.tacv2", "1795417200123", "1795418400555")
    assert msg.actor.tenant == msg.place.tenant == TENANT
    assert msg.actor.user_id == "29:olli"


def test_a_mention_of_the_bot_is_a_command_without_the_mention() -> None:
    inv = translate(load("mention_command"), purpose="triage")
    assert isinstance(inv, Invocation)
    assert inv.text == "priority ACME-1 P1"
    assert inv.event_id == "1795419000001"
    assert (inv.place.channel, inv.place.thread) == ("19:triage@thread.tacv2", "1795419000001")


def test_other_mentions_become_platform_mentions_for_the_grammar() -> None:
    activity = load("mention_command")
    activity["text"] = "<at>Helpdesk</at> assign ACME-1 <at>Sanna Korhonen</at> "
    activity["entities"].append({"type": "mention", "text": "<at>Sanna Korhonen</at>",
                                 "mentioned": {"id": "29:sanna", "name": "Sanna Korhonen"}})
    inv = translate(activity, purpose="triage")
    assert isinstance(inv, Invocation) and inv.text == "assign ACME-1 <@29:sanna>"


@pytest.mark.parametrize("entities", [
    [{"text": "<at>Helpdesk</at>"}],  # no type
    [{"type": "mention"}],  # no mentioned
    [{"type": "mention", "mentioned": None, "text": None}],
    [{"type": "mention", "mentioned": {"name": "Helpdesk"}}],  # no id
    ["not an object", None, 7],
    [{"type": "Mention", "mentioned": BOT}],  # no text: the name is used
])
def test_odd_mention_entities_never_crash(entities: list[Any]) -> None:
    activity = load("mention_command")
    activity["entities"] = entities
    text = clean_text(activity)
    assert text.endswith("priority ACME-1 P1")
    assert "<at>" not in text


def test_text_none_or_missing_is_empty() -> None:
    activity = load("mention_command")
    activity["text"] = None
    assert clean_text(activity) == ""
    del activity["text"]
    assert clean_text(activity) == ""


def test_html_and_entities_are_flattened() -> None:
    activity = load("channel_message_top_level")
    activity["text"] = "<p>VPN&nbsp;down &amp; mail slow</p><p>since <b>Monday</b></p>"
    assert clean_text(activity) == "VPN down & mail slow\nsince Monday"


def test_personal_chat_is_always_a_command() -> None:
    inv = translate(load("personal_chat_command"))
    assert isinstance(inv, Invocation)
    assert inv.place.is_direct and inv.place.thread is None
    assert inv.place.channel == "a:1olli-personal-Xk3vQ9pLm2Rt7Yw4Zb8Nc6Hd1Fg5Js0"
    assert inv.text.startswith("note ACME-1 Firewall logs")


def test_card_submit_is_a_button_invocation() -> None:
    inv = translate(load("adaptive_card_submit"), purpose="triage", sender_is_agent=True)
    assert isinstance(inv, Invocation)
    assert (inv.source, inv.text, inv.trigger_message_id) == ("button", "claim ACME-1", "1795417201000")
    assert (inv.place.channel, inv.place.thread) == ("19:triage@thread.tacv2", "1795417201000")


def test_card_submit_with_typed_input_appends_it() -> None:
    activity = load("adaptive_card_submit")
    activity["value"] = {"command": "assign ACME-1", "input": "  @sanna "}
    inv = translate(activity, purpose="triage")
    assert isinstance(inv, Invocation) and inv.text == "assign ACME-1 @sanna"
    # A card's inputs are merged into the submitted value: the submit names which one is its own.
    activity["value"] = {"command": "assign ACME-1", "input_id": "input2", "input2": "@olli", "input3": "P1"}
    inv = translate(activity, purpose="triage")
    assert isinstance(inv, Invocation) and inv.text == "assign ACME-1 @olli"


def test_triage_agent_commands_need_no_mention_but_chatter_is_not_a_command() -> None:
    activity = load("mention_command")
    activity["entities"], activity["text"] = [], "claim ACME-1"
    assert isinstance(translate(activity, purpose="triage", sender_is_agent=True), Invocation)
    assert isinstance(translate(activity, purpose="triage", sender_is_agent=False), IncomingMessage)
    activity["text"] = "who takes the Acme one?"
    assert isinstance(translate(activity, purpose="triage", sender_is_agent=True), IncomingMessage)


def test_customer_mentioning_the_bot_with_a_question_still_opens_a_ticket() -> None:
    activity = load("channel_message_top_level")
    activity["text"] = "<at>Helpdesk</at> our printer is on fire"
    activity["entities"] = [{"type": "mention", "text": "<at>Helpdesk</at>", "mentioned": BOT}]
    msg = translate(activity, purpose="customer")
    assert isinstance(msg, IncomingMessage) and msg.text == "our printer is on fire"
    activity["text"] = "<at>Helpdesk</at> show ACME-1"
    assert isinstance(translate(activity, purpose="customer"), Invocation)


def test_edit_and_delete() -> None:
    edit = translate(load("message_update"))
    assert isinstance(edit, IncomingMessage) and edit.edited and not edit.deleted
    assert edit.message_id == "1795417200123"
    assert edit.event_id.startswith("1795417200123:edited:")
    assert edit.text.endswith("Oulu and Tampere offices")
    activity = load("message_update")
    activity["type"] = "messageDelete"
    activity["channelData"]["eventType"] = "softDeleteMessage"
    activity.pop("text")
    gone = translate(activity)
    assert isinstance(gone, IncomingMessage) and gone.deleted and gone.event_id == "1795417200123:deleted"
    activity = load("message_update")
    activity["channelData"]["eventType"] = "undeleteMessage"
    assert translate(activity) is None


def test_installation_and_membership_updates_are_not_messages() -> None:
    assert translate(load("installation_update")) is None
    assert translate(load("conversation_update_installed")) is None
    assert conversation_of(load("installation_update")).is_personal


def test_attachments_become_file_refs_with_inline_images_flagged() -> None:
    activity = load("channel_message_top_level")
    picture = "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d1-abc/views/original"
    activity["attachments"] = [
        {"contentType": "image/*", "contentUrl": picture},
        {"contentType": "text/html", "content": f'<p>See <img src="{picture}" width="640" height="480" '
                                                'alt="screenshot.png" id="x_0-weu-d1-abc"> and '
                                                '<img src="https://example.com/logo.png" width="1" height="1"></p>'},
        {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "vpn.log",
         "contentUrl": "https://contoso.sharepoint.com/vpn.log",
         "content": {"downloadUrl": "https://download.example/vpn.log", "uniqueId": "1150D938", "fileType": "log"}},
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}},
    ]
    files = files_of(activity)
    assert [(f.name, f.inline, f.width, f.height) for f in files] == [
        ("screenshot.png", True, 640, 480), ("logo.png", True, 1, 1), ("vpn.log", False, None, None)]
    assert files[2].url == "https://download.example/vpn.log" and files[2].platform_file_id == "1150D938"
    assert files[0].url == picture


@pytest.mark.parametrize("mutate, reason", [
    (lambda a: a.pop("serviceUrl"), "serviceUrl"),
    (lambda a: a.update(serviceUrl="ftp://x/"), "serviceUrl"),
    (lambda a: a.update(serviceUrl=5), "serviceUrl"),
    (lambda a: a.pop("conversation"), "conversation"),
    (lambda a: a.update(conversation={"tenantId": TENANT}), "conversation.id"),
    (lambda a: a.update(conversation="19:acme@thread.tacv2"), "conversation"),
    (lambda a: a.update({"from": "29:olli"}), "from"),
    (lambda a: a.pop("from"), "from.id"),
    (lambda a: a.pop("id"), "id"),
    (lambda a: a.update(type=None), "type"),
    (lambda a: a.update(entities={"type": "mention"}), "entities"),
    (lambda a: a.update(text=["x"]), "text"),
    (lambda a: a.update(value="claim ACME-1"), "value"),
])
def test_malformed_activities_are_refused_with_the_reason(mutate: Any, reason: str) -> None:
    activity = copy.deepcopy(load("channel_message_top_level"))
    mutate(activity)
    with pytest.raises(MalformedActivity, match=reason.replace(".", r"\.")):
        check(activity)


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_non_objects_are_refused(body: Any) -> None:
    with pytest.raises(MalformedActivity):
        check(body)


@pytest.mark.parametrize("mutate", [
    lambda a: a.update(id="1" * 256),
    lambda a: a["conversation"].update(id="19:acme@thread.tacv2\x00"),
    lambda a: a["from"].update(id="29:" + "x" * 300),
    lambda a: a["conversation"].update(tenantId="t" * 101),
    lambda a: a["channelData"]["tenant"].update(id=["6f1c2a4e"]),
])
def test_ids_the_database_cannot_keep_are_refused(mutate: Any) -> None:
    activity = load("channel_message_top_level")
    mutate(activity)
    with pytest.raises(MalformedActivity):
        check(activity)


def test_long_names_and_file_types_are_cut_to_what_is_stored() -> None:
    activity = load("channel_message_top_level")
    activity["from"]["name"] = "N" * 500
    activity["attachments"] = [{"contentType": "x/" + "y" * 300, "name": "f" * 400, "contentUrl": "https://a/b"}]
    msg = translate(activity, purpose="customer")
    assert isinstance(msg, IncomingMessage)
    assert msg.actor.display_name is not None and len(msg.actor.display_name) == 200
    [f] = msg.files
    assert len(f.name) == 255 and f.mimetype is None
