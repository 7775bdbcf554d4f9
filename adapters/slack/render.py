"""Core `Reply` values -> Block Kit, and the modals chatdesk opens.

Buttons carry the command they run in `value`; a button that needs a free-text
argument gets an action id starting with ASK_PREFIX and its prompt as accessibility
label, and pressing it opens a modal with one text input whose submission runs
`command + " " + input`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.quoting import cut, plain, safe_end
from bot.types import Button, Destination, Reply

RUN_PREFIX = "chatdesk_run_"
ASK_PREFIX = "chatdesk_ask_"
INPUT_VIEW = "chatdesk_input"  # callback_id of the modal a needs-input button opens
ADD_TO_TICKET_VIEW = "chatdesk_add_to_ticket"  # callback_id of the "Add to ticket" modal
INPUT_BLOCK = "chatdesk_input_block"
INPUT_ACTION = "chatdesk_input_value"

SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTONS_PER_ACTIONS = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
HEADER_MAX = 150
MAX_BLOCKS = 50
TEXT_MAX = 40000
METADATA_MAX = 3000


@dataclass(frozen=True)
class SlackMessage:
    text: str  # the notification / fallback text
    blocks: list[dict[str, Any]]


def _cut(text: str, limit: int) -> str:
    """mrkdwn cut to a limit; never inside an entity, so quoted customer text stays quoted."""
    return cut(text, limit)


def _plain(text: str, limit: int) -> dict[str, Any]:
    """plain_text shows characters as they are: the markup's entities become characters first."""
    return {"type": "plain_text", "text": cut(plain(text), limit) or " ", "emoji": True}


def _chunks(text: str, limit: int) -> list[str]:
    """Split on line breaks into pieces no longer than limit (a very long line is cut hard)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            end = safe_end(line, limit) or limit
            pieces.append(line[:end])
            line = line[end:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return [p for p in pieces if p.strip()] or [" "]


def button(b: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": _plain(b.label, BUTTON_TEXT_MAX),
        "value": b.command[:BUTTON_VALUE_MAX],
        "action_id": f"{ASK_PREFIX if b.needs_input else RUN_PREFIX}{index}",
    }
    if b.style in ("primary", "danger"):
        element["style"] = b.style
    if b.needs_input:
        element["accessibility_label"] = _cut(b.needs_input, 75)
    return element


def reply_blocks(reply: Reply, first_button: int = 0) -> list[dict[str, Any]]:
    """One reply's blocks; button action ids are numbered from first_button."""
    blocks: list[dict[str, Any]] = []
    if reply.title:
        blocks.append({"type": "header", "text": _plain(reply.title, HEADER_MAX)})
    for piece in _chunks(reply.text, SECTION_TEXT_MAX):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    fields = [{"type": "mrkdwn", "text": _cut(f"*{f.label}*\n{f.value}", FIELD_TEXT_MAX)} for f in reply.fields]
    for i in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]})
    buttons = [button(b, first_button + i) for i, b in enumerate(reply.buttons)]
    for i in range(0, len(buttons), BUTTONS_PER_ACTIONS):
        blocks.append({"type": "actions", "elements": buttons[i : i + BUTTONS_PER_ACTIONS]})
    return blocks


def render(reply: Reply, destination: Destination | None = None) -> SlackMessage:
    """A reply as one Slack message (where it may go was decided by the core)."""
    return render_many([reply], destination)


def render_many(replies: Sequence[Reply], destination: Destination | None = None) -> SlackMessage:
    """Several replies as one message (a slash command's answer to the caller)."""
    blocks: list[dict[str, Any]] = []
    buttons = 0
    for i, reply in enumerate(replies):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(reply_blocks(reply, buttons))
        buttons += len(reply.buttons)
    text = _cut("\n\n".join(r.text for r in replies), TEXT_MAX)
    if len(blocks) > MAX_BLOCKS:
        note = {"type": "context", "elements": [{"type": "mrkdwn", "text": "(shortened: too long for one message)"}]}
        blocks = [*blocks[: MAX_BLOCKS - 1], note]
    return SlackMessage(text=text or " ", blocks=blocks)


def metadata(reply: Reply) -> dict[str, Any]:
    """Slack message metadata tagging a chatdesk post, so a later check can find it in history."""
    payload = {k: v for k, v in (("dedupe", reply.dedupe), ("ticket_key", reply.ticket_key),
                                 ("kind", reply.kind)) if v}
    return {"event_type": "chatdesk_post", "event_payload": payload}


def _metadata_json(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if len(text) > METADATA_MAX and isinstance(data.get("text"), str):
        over = len(text) - METADATA_MAX + 1
        data = {**data, "text": _cut(data["text"], max(1, len(data["text"]) - over))}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text


def input_modal(title: str, prompt: str, meta: dict[str, Any], callback_id: str = INPUT_VIEW,
                placeholder: str | None = None, submit: str = "Run") -> dict[str, Any]:
    """A modal with one plain-text input; `meta` travels in private_metadata to the submission."""
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT_ACTION}
    if placeholder:
        element["placeholder"] = _plain(placeholder, 150)
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, 24),
        "submit": _plain(submit, 24),
        "close": _plain("Cancel", 24),
        "private_metadata": _metadata_json(meta),
        "blocks": [{"type": "input", "block_id": INPUT_BLOCK, "label": _plain(prompt, 2000), "element": element}],
    }


def prompt_for(action: dict[str, Any], message_blocks: Iterable[Any]) -> str:
    """The prompt of a needs-input button: its accessibility label in the message it sits in,
    else its label."""
    action_id = action.get("action_id")
    for block in message_blocks:
        if not isinstance(block, dict):
            continue
        for element in block.get("elements") or ():
            if isinstance(element, dict) and element.get("action_id") == action_id:
                label = element.get("accessibility_label")
                if isinstance(label, str) and label:
                    return label
    text = action.get("text")
    label = text.get("text") if isinstance(text, dict) else None
    return label if isinstance(label, str) and label else "Value"
