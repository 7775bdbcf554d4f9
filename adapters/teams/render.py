"""Reply -> a Bot Framework message activity (plain markdown text, or an Adaptive Card 1.5).

A reply with a title, fields or buttons becomes a card: the title and text as
TextBlocks, fields as a FactSet, buttons as Action.Submit with data
`{"command": ...}`. A button that needs a typed argument opens an Input.Text and
its own submit (Action.ShowCard), so the submitted value is
`{"command": "assign ACME-7", "input": "@olli"}`. Pure JSON: no SDK, no database.
"""

from __future__ import annotations

import re
from typing import Any

from bot.quoting import ENTITY, plain
from bot.types import Button, Destination, Reply

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
SUMMARY_LENGTH = 200

_BOLD = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]*?\S)\*(?![*\w])")
_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>\s]+)>")


ZWSP = "\u200b"
# Entities of the core's markup as Teams text: a "<" is followed by a zero-width space, so quoted
# customer text never forms an <at> mention, an HTML tag or an autolink.
_TEAMS_CHARACTERS = {"&amp;": "&", "&lt;": "<" + ZWSP, "&gt;": ">"}


def markdown(text: str) -> str:
    """The core's Slack-style emphasis and links in the markdown Teams understands. The core writes
    links only as <url|label>, so any "](" is someone's text: it is broken up and links nowhere."""
    text = text.replace("](", "]" + ZWSP + "(")
    text = _BOLD.sub(r"**\1**", text)
    text = _LINK.sub(r"[\2](\1)", text)
    text = _BARE_LINK.sub(r"\1", text)
    return ENTITY.sub(lambda m: _TEAMS_CHARACTERS[m.group(0)], text)


def _action(button: Button) -> dict[str, Any]:
    style = {"primary": "positive", "danger": "destructive"}.get(button.style or "")
    if button.needs_input:
        submit: dict[str, Any] = {"type": "Action.Submit", "title": button.label, "data": {"command": button.command}}
        if style:
            submit["style"] = style
        return {
            "type": "Action.ShowCard",
            "title": button.label,
            "card": {
                "type": "AdaptiveCard",
                "body": [{"type": "Input.Text", "id": "input", "label": button.needs_input,
                          "placeholder": button.needs_input, "isRequired": True,
                          "errorMessage": f"{button.needs_input} is needed"}],
                "actions": [submit],
            },
        }
    action: dict[str, Any] = {"type": "Action.Submit", "title": button.label, "data": {"command": button.command}}
    if style:
        action["style"] = style
    return action


def card(reply: Reply) -> dict[str, Any]:
    """The reply as an Adaptive Card 1.5."""
    body: list[dict[str, Any]] = []
    if reply.title:
        body.append({"type": "TextBlock", "text": markdown(reply.title), "weight": "Bolder", "size": "Medium",
                     "wrap": True})
    if reply.text and reply.text != reply.title:
        body.append({"type": "TextBlock", "text": markdown(reply.text), "wrap": True})
    if reply.fields:
        body.append({"type": "FactSet", "facts": [{"title": f.label, "value": markdown(f.value)}
                                                  for f in reply.fields]})
    content: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION, "body": body,
                               "msteams": {"width": "Full"}}
    if reply.buttons:
        content["actions"] = [_action(b) for b in reply.buttons]
    return content


def needs_card(reply: Reply) -> bool:
    return bool(reply.title or reply.fields or reply.buttons)


def message(reply: Reply, destination: Destination | None = None) -> dict[str, Any]:
    """The activity that says `reply` (where it may go was decided by the core)."""
    if not needs_card(reply):
        return {"type": "message", "text": markdown(reply.text), "textFormat": "markdown"}
    # The notification preview is plain text, broken up the same way as the card.
    summary = plain(reply.title or reply.text).replace("](", "]" + ZWSP + "(").replace("<", "<" + ZWSP)
    return {
        "type": "message",
        "summary": summary if len(summary) <= SUMMARY_LENGTH else summary[: SUMMARY_LENGTH - 1] + "…",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card(reply)}],
    }
