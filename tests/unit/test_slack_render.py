"""adapters/slack/render.py: Reply -> Block Kit, buttons, modals, and the internal-reply guard."""

from __future__ import annotations

import json

from adapters.slack import render
from bot.types import Audience, Button, Destination, Field, Platform, Reply
from bot.views import agent_buttons

CUSTOMER_THREAD = Destination(Platform.SLACK, "T0HOME", "C0ACME", "1795417201.000100", customer_visible=True)
TRIAGE = Destination(Platform.SLACK, "T0HOME", "C0TRIAGE")


def announcement() -> Reply:
    return Reply("New ticket ACME-7 from Acme Oy: VPN down", title="ACME-7: VPN down",
                 fields=(Field("Customer", "Acme Oy"), Field("Priority", "P3")), buttons=agent_buttons("ACME-7"),
                 audience=Audience.TRIAGE, ticket_key="ACME-7", internal=True, kind="notice")


def test_announcement_blocks() -> None:
    message = render.render(announcement(), TRIAGE)
    kinds = [b["type"] for b in message.blocks]
    assert kinds == ["header", "section", "section", "actions"]
    header, text, fields, actions = message.blocks
    assert header["text"] == {"type": "plain_text", "text": "ACME-7: VPN down", "emoji": True}
    assert text["text"] == {"type": "mrkdwn", "text": "New ticket ACME-7 from Acme Oy: VPN down"}
    assert fields["fields"][0] == {"type": "mrkdwn", "text": "*Customer*\nAcme Oy"}
    claim, assign, *_ = actions["elements"]
    assert claim == {"type": "button", "text": {"type": "plain_text", "text": "Claim", "emoji": True},
                     "value": "claim ACME-7", "action_id": "chatdesk_run_0", "style": "primary"}
    assert assign["value"] == "assign ACME-7" and assign["action_id"].startswith(render.ASK_PREFIX)
    assert assign["accessibility_label"] == "Assign to (e.g. @olli)"
    assert message.text == "New ticket ACME-7 from Acme Oy: VPN down"


def test_action_ids_are_unique_across_replies() -> None:
    message = render.render_many([announcement(), announcement()])
    ids = [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert {"type": "divider"} in message.blocks


def test_limits_are_respected() -> None:
    long_text = "\n".join(f"line {i} " + "x" * 200 for i in range(60))
    many_fields = tuple(Field(f"f{i}", "v" * 3000) for i in range(23))
    many_buttons = tuple(Button("B" * 100, f"show ACME-{i}") for i in range(30))
    message = render.render(Reply(long_text, title="T" * 400, fields=many_fields, buttons=many_buttons))
    assert len(message.blocks) <= render.MAX_BLOCKS
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "section" and "fields" in block:
            assert len(block["fields"]) <= 10 and all(len(f["text"]) <= 2000 for f in block["fields"])
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25 and all(len(e["text"]["text"]) <= 75 for e in block["elements"])
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    joined = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b)
    assert joined.replace("\n", "") == long_text.replace("\n", "")  # split on lines, nothing lost


def test_an_empty_text_still_renders() -> None:
    message = render.render(Reply(""))
    assert message.text.strip() == "" and message.blocks[0]["text"]["text"].strip() == ""
    assert message.text and message.blocks[0]["text"]["text"]  # Slack refuses empty strings


def test_metadata_tags_the_post() -> None:
    reply = Reply("x", ticket_key="ACME-7", dedupe="ack:ACME-7:slack:C0ACME", kind="ack")
    assert render.metadata(reply) == {"event_type": "chatdesk_post", "event_payload": {
        "dedupe": "ack:ACME-7:slack:C0ACME", "ticket_key": "ACME-7", "kind": "ack"}}
    assert render.metadata(Reply("x"))["event_payload"] == {"kind": "info"}


def test_input_modal() -> None:
    meta = {"kind": "input", "command": "assign ACME-7", "channel": "C0TRIAGE", "thread": None}
    view = render.input_modal("Assign", "Assign to (e.g. @olli)", meta)
    assert view["type"] == "modal" and view["callback_id"] == render.INPUT_VIEW
    assert json.loads(view["private_metadata"]) == meta
    (block,) = view["blocks"]
    assert block["type"] == "input" and block["element"]["type"] == "plain_text_input"
    assert block["block_id"] == render.INPUT_BLOCK and block["label"]["text"] == "Assign to (e.g. @olli)"


def test_modal_metadata_fits_slacks_limit() -> None:
    view = render.input_modal("Add", "Key", {"kind": "add_to_ticket", "text": "é" * 5000})
    assert len(view["private_metadata"]) <= render.METADATA_MAX
    assert json.loads(view["private_metadata"])["text"].startswith("ééé")


def test_prompt_is_found_in_the_message() -> None:
    blocks = render.render(announcement()).blocks
    action = {"action_id": "chatdesk_ask_2", "text": {"type": "plain_text", "text": "Priority"}}
    assert render.prompt_for(action, blocks) == "Priority (P1-P4)"
    assert render.prompt_for(action, []) == "Priority"  # an ephemeral message is not in the payload
