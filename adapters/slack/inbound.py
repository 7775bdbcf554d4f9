"""Slack payloads -> the core's neutral values: one function per payload shape.

Nothing here touches the database or decides anything about tickets; a payload
that is not a message or a command a person gave becomes None.

Slack Connect: the app is installed in our home workspace, so the envelope's
`team_id` and `authorizations` name it, while a customer's message carries their
own workspace in `user_team` (or `source_team`/`team`). The channel id is the same
on both sides, which is how the core recognises the channel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.quoting import plain  # Slack escapes & < > in message text; the core keeps characters
from bot.types import Actor, FileRef, IncomingMessage, Invocation, Place, Platform

SLACK = Platform.SLACK

# Message subtypes that are a person saying something; every other subtype is channel
# housekeeping (joins, topic changes, pins ...) and is ignored.
PEOPLE_SUBTYPES = frozenset({None, "", "file_share", "thread_broadcast", "me_message"})
BOT_SUBTYPES = frozenset({"bot_message", "bot_add", "bot_remove"})


class PayloadError(ValueError):
    """A payload that does not have the shape its type promises."""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def home_team(body: Mapping[str, Any]) -> str:
    """The workspace the app is installed in: the first authorization, else the envelope's team."""
    auths = body.get("authorizations")
    if isinstance(auths, list) and auths and isinstance(auths[0], dict) and auths[0].get("team_id"):
        return str(auths[0]["team_id"])
    return _str(body.get("team_id")) or _str(_dict(body.get("team")).get("id"))


def bot_user(body: Mapping[str, Any]) -> str | None:
    """Our own bot user id, as the envelope's authorizations name it."""
    auths = body.get("authorizations")
    if isinstance(auths, list):
        for a in auths:
            if isinstance(a, dict) and a.get("is_bot") and a.get("user_id"):
                return str(a["user_id"])
    return None


def sent_at(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def file_ref(f: Mapping[str, Any]) -> FileRef | None:
    """A Slack file object -> FileRef. Files from another organisation may arrive as a stub
    (`file_access: check_file_info`) with only an id; they keep that much."""
    file_id = _str(f.get("id"))
    name = _str(f.get("name")) or _str(f.get("title")) or file_id
    if not name:
        return None

    def number(key: str) -> int | None:
        value = f.get(key)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return FileRef(
        name=name,
        mimetype=_str(f.get("mimetype")) or None,
        size=number("size"),
        url=_str(f.get("url_private_download")) or _str(f.get("url_private")) or None,
        platform_file_id=file_id or None,
        width=number("original_w"),
        height=number("original_h"),
    )


def _files(message: Mapping[str, Any]) -> tuple[FileRef, ...]:
    raw = message.get("files")
    if not isinstance(raw, list):
        return ()
    refs = (file_ref(f) for f in raw if isinstance(f, dict))
    return tuple(r for r in refs if r is not None)


def _is_bot(message: Mapping[str, Any], our_bot: str | None) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") in BOT_SUBTYPES
        or (our_bot and message.get("user") == our_bot)
    )


def _actor(message: Mapping[str, Any], fallback_team: str) -> Actor:
    tenant = (_str(message.get("user_team")) or _str(message.get("source_team")) or _str(message.get("team"))
              or fallback_team)
    profile = _dict(message.get("user_profile"))
    name = _str(profile.get("display_name")) or _str(profile.get("real_name")) or None
    user = _str(message.get("user")) or _str(message.get("bot_id")) or "unknown"
    return Actor(SLACK, tenant, user, display_name=name)


def message_event(body: Mapping[str, Any], our_bot: str | None = None) -> IncomingMessage | None:
    """An Events API `message` envelope -> IncomingMessage, or None for housekeeping subtypes."""
    event = _dict(body.get("event"))
    if event.get("type") != "message":
        return None
    event_id = _str(body.get("event_id"))
    channel = _str(event.get("channel"))
    if not event_id or not channel:
        raise PayloadError("a message event needs event_id and event.channel")
    home = home_team(body)
    our_bot = our_bot or bot_user(body)
    subtype = event.get("subtype")
    is_direct = event.get("channel_type") == "im"

    if subtype == "message_changed":
        inner = _dict(event.get("message"))
        ts = _str(inner.get("ts"))
        if not ts:
            raise PayloadError("message_changed without message.ts")
        thread = _str(inner.get("thread_ts")) or None
        return IncomingMessage(
            event_id=event_id, actor=_actor(inner, home), place=Place(SLACK, home, channel, thread, is_direct),
            message_id=ts, text=plain(_str(inner.get("text"))), files=_files(inner), sent_at=sent_at(ts),
            edited=True, from_bot=_is_bot(inner, our_bot),
        )
    if subtype == "message_deleted":
        ts = _str(event.get("deleted_ts"))
        if not ts:
            raise PayloadError("message_deleted without deleted_ts")
        previous = _dict(event.get("previous_message"))
        thread = _str(previous.get("thread_ts")) or None
        return IncomingMessage(
            event_id=event_id, actor=_actor(previous, home), place=Place(SLACK, home, channel, thread, is_direct),
            message_id=ts, text="", sent_at=sent_at(ts), deleted=True, from_bot=_is_bot(previous, our_bot),
        )
    if subtype not in PEOPLE_SUBTYPES and subtype not in BOT_SUBTYPES:
        return None
    ts = _str(event.get("ts"))
    if not ts:
        raise PayloadError("a message event needs event.ts")
    thread = _str(event.get("thread_ts")) or None
    return IncomingMessage(
        event_id=event_id, actor=_actor(event, home), place=Place(SLACK, home, channel, thread, is_direct),
        message_id=ts, text=plain(_str(event.get("text"))), files=_files(event), sent_at=sent_at(ts),
        from_bot=_is_bot(event, our_bot),
    )


def slash_command(form: Mapping[str, Any]) -> Invocation:
    """A slash command form (`command=/helpdesk&text=...`) -> Invocation; event_id is the trigger_id."""
    user = _str(form.get("user_id"))
    channel = _str(form.get("channel_id"))
    if not user or not channel:
        raise PayloadError("a slash command needs user_id and channel_id")
    team = _str(form.get("team_id"))
    tenant = _str(form.get("user_team")) or team
    is_direct = _str(form.get("channel_name")) == "directmessage" or channel.startswith("D")
    return Invocation(
        event_id=_str(form.get("trigger_id")) or f"command:{team}:{user}:{channel}:{form.get('text', '')}",
        actor=Actor(SLACK, tenant, user, display_name=_str(form.get("user_name")) or None),
        place=Place(SLACK, team, channel, None, is_direct),
        text=_str(form.get("text")),
    )


def _interaction_actor(body: Mapping[str, Any]) -> Actor:
    user = _dict(body.get("user"))
    user_id = _str(user.get("id"))
    if not user_id:
        raise PayloadError("an interaction needs user.id")
    team = _str(_dict(body.get("team")).get("id"))
    name = _str(user.get("name")) or _str(user.get("username")) or None
    return Actor(SLACK, _str(user.get("team_id")) or team, user_id, display_name=name)


def _interaction_place(body: Mapping[str, Any], channel: str, thread: str | None = None) -> Place:
    team = _str(_dict(body.get("team")).get("id")) or _str(_dict(body.get("user")).get("team_id"))
    return Place(SLACK, team, channel, thread, channel.startswith("D"))


def _trigger(body: Mapping[str, Any], fallback: str) -> str:
    return _str(body.get("trigger_id")) or fallback


def block_action(body: Mapping[str, Any]) -> Invocation:
    """A button press (`block_actions`) -> Invocation(source="button", text=the button's value)."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise PayloadError("block_actions without actions")
    action = actions[0]
    container = _dict(body.get("container"))
    message = _dict(body.get("message"))
    channel = _str(_dict(body.get("channel")).get("id")) or _str(container.get("channel_id"))
    thread = _str(message.get("thread_ts")) or _str(container.get("thread_ts")) or None
    return Invocation(
        event_id=_trigger(body, f"action:{action.get('action_ts', '')}:{action.get('action_id', '')}"),
        actor=_interaction_actor(body), place=_interaction_place(body, channel, thread),
        text=_str(action.get("value")), source="button",
    )


def shortcut_message(body: Mapping[str, Any]) -> IncomingMessage | None:
    """The message a shortcut was used on, as if it had just arrived (None for bot posts)."""
    message = _dict(body.get("message"))
    channel = _str(_dict(body.get("channel")).get("id"))
    ts = _str(message.get("ts")) or _str(body.get("message_ts"))
    if not channel or not ts:
        raise PayloadError("a message shortcut needs channel.id and message.ts")
    if _is_bot(message, None) or not message.get("user"):
        return None
    home = _str(_dict(body.get("team")).get("id"))
    thread = _str(message.get("thread_ts")) or None
    return IncomingMessage(
        event_id=f"{_trigger(body, ts)}:message", actor=_actor(message, home),
        place=Place(SLACK, home, channel, thread, channel.startswith("D")), message_id=ts,
        text=plain(_str(message.get("text"))), files=_files(message), sent_at=sent_at(ts),
    )


def shortcut_new(body: Mapping[str, Any]) -> Invocation:
    """"Create ticket" on a message -> `new <the message's text>` by whoever used the shortcut
    (in the triage channel a message that starts with a customer key opens a ticket for that customer)."""
    message = _dict(body.get("message"))
    channel = _str(_dict(body.get("channel")).get("id"))
    ts = _str(message.get("ts")) or _str(body.get("message_ts"))
    text = " ".join(_str(message.get("text")).split())
    return Invocation(
        event_id=f"{_trigger(body, ts)}:new", actor=_interaction_actor(body),
        place=_interaction_place(body, channel, _str(message.get("thread_ts")) or None),
        text=f"new {text}".strip(), source="shortcut", trigger_message_id=ts or None,
    )


def modal_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(_str(view.get("private_metadata")) or "{}")
    except ValueError:
        raise PayloadError("a modal's private_metadata is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("a modal's private_metadata is not an object")
    return data


def modal_input(view: Mapping[str, Any]) -> str:
    """The one text input of a chatdesk modal."""
    values = _dict(_dict(view.get("state")).get("values"))
    for block in values.values():
        for element in _dict(block).values():
            value = _dict(element).get("value")
            if isinstance(value, str):
                return value.strip()
    return ""


def view_submission(body: Mapping[str, Any], command: str) -> Invocation:
    """A submitted chatdesk modal -> Invocation running `command` (built from the modal's metadata)."""
    view = _dict(body.get("view"))
    meta = modal_metadata(view)
    channel = _str(meta.get("channel"))
    return Invocation(
        event_id=_trigger(body, f"view:{view.get('id', '')}:{view.get('hash', '')}"),
        actor=_interaction_actor(body),
        place=_interaction_place(body, channel, _str(meta.get("thread")) or None),
        text=command, source="button" if meta.get("kind") == "input" else "shortcut",
        trigger_message_id=_str(meta.get("ts")) or None,
    )


def input_command(view: Mapping[str, Any]) -> str:
    """A needs-input button's modal: the button's command and what was typed."""
    meta = modal_metadata(view)
    return f"{_str(meta.get('command'))} {modal_input(view)}".strip()


def add_to_ticket_command(view: Mapping[str, Any]) -> str:
    """"Add to ticket": the key typed in the modal, and the message quoted as an internal note."""
    meta = modal_metadata(view)
    key = modal_input(view)
    author = _str(meta.get("author"))
    who = f"<@{author}>" if author else "someone"
    where = f" in <#{meta['channel']}>" if meta.get("channel") else ""
    return f"note {key} From {who}{where}: {_str(meta.get('text'))}".strip()
