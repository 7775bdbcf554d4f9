"""Bot Framework activity (a JSON dict from Teams) -> IncomingMessage or Invocation.

Pure translation: no SDK, no database. `check` refuses what cannot be handled
(the server answers 400), `conversation_of` says where an activity happened, and
`translate` turns a message activity into the core's neutral values.

Teams shapes worth knowing:
- A channel's conversation id is `19:...@thread.tacv2`; in a thread it carries
  `;messageid=<root>`, which names the thread, not another channel. A top-level
  post is its own root.
- The tenant is `conversation.tenantId`, or `channelData.tenant.id` when that is absent.
- `<at>Name</at>` in the text is a mention; the `mention` entities say whom it names.
- An Adaptive Card `Action.Submit` arrives as a message with `value` and no text.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

from bot.commands import BY_NAME
from bot.types import Actor, FileRef, IncomingMessage, Invocation, Place, Platform

THREAD_MARK = ";messageid="
CARD_TYPES = ("application/vnd.microsoft.card.", "application/vnd.microsoft.teams.card.")
FILE_DOWNLOAD = "application/vnd.microsoft.teams.file.download.info"
MAX_ID = 255  # the longest id the database keeps; Teams ids are far shorter
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TENANT = 100  # tenant ids are GUIDs
MAX_NAME = 200  # display names as the database keeps them
MENTION_ID = re.compile(r"^[A-Za-z0-9:_.\-]+$")
HTML_TAG = re.compile(
    r"</?(?:p|div|span|br|b|i|u|s|strong|em|a|img|at|ul|ol|li|blockquote|pre|code|h[1-6]|table|tr|td|th|tbody|"
    r"thead|hr|strike|del|sup|sub|font|attachment|systemEventMessage)\b[^>]*>",
    re.IGNORECASE,
)
BREAK_TAG = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|tr|blockquote|pre)>", re.IGNORECASE)
IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
ATTR = re.compile(r"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class MalformedActivity(ValueError):
    """An activity chatdesk cannot act on; the message says what is wrong (the answer is 400)."""


@dataclass(frozen=True)
class Conversation:
    """Where an activity happened."""

    tenant: str
    channel: str  # conversation id without ;messageid=
    root: str | None  # the thread's root message id, when the conversation id names one
    kind: str  # "channel" | "personal" | "groupChat"

    @property
    def is_personal(self) -> bool:
        return self.kind == "personal"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def check(activity: Any) -> dict[str, Any]:
    """The activity if chatdesk can handle it; MalformedActivity (-> 400) otherwise."""
    if not isinstance(activity, dict):
        raise MalformedActivity("the body must be a JSON object (a Bot Framework activity)")
    kind = activity.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedActivity("'type' is missing")
    service_url = activity.get("serviceUrl")
    if not isinstance(service_url, str) or not service_url:
        raise MalformedActivity("'serviceUrl' is missing: there is nowhere to answer")
    url = urlparse(service_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise MalformedActivity("'serviceUrl' is not an http(s) URL")
    conversation = activity.get("conversation")
    if not isinstance(conversation, dict):
        raise MalformedActivity("'conversation' is missing or not an object")
    if not isinstance(conversation.get("id"), str) or not conversation["id"].strip():
        raise MalformedActivity("'conversation.id' is missing")
    for key in ("from", "recipient", "channelData", "value"):
        if key in activity and activity[key] is not None and not isinstance(activity[key], dict):
            raise MalformedActivity(f"'{key}' must be an object")
    for key in ("entities", "attachments", "membersAdded", "membersRemoved"):
        if key in activity and activity[key] is not None and not isinstance(activity[key], list):
            raise MalformedActivity(f"'{key}' must be a list")
    for key in ("text", "channelId", "timestamp", "action"):
        if activity.get(key) is not None and not isinstance(activity[key], str):
            raise MalformedActivity(f"'{key}' must be a string")
    for owner, key in (("", "id"), ("conversation", "id"), ("from", "id"), ("from", "aadObjectId"),
                       ("recipient", "id"), ("", "replyToId")):
        holder = activity if not owner else activity.get(owner)
        value = holder.get(key) if isinstance(holder, dict) else None
        if value is not None and (not isinstance(value, str) or len(value) > MAX_ID or CONTROL.search(value)):
            raise MalformedActivity(f"'{owner + '.' if owner else ''}{key}' must be a string of at most {MAX_ID} "
                                    "printable characters")
    tenants = (conversation.get("tenantId"), _obj(_obj(activity.get("channelData")).get("tenant")).get("id"))
    for tenant in tenants:
        if tenant is not None and (not isinstance(tenant, str) or len(tenant) > MAX_TENANT):
            raise MalformedActivity(f"the tenant id must be a string of at most {MAX_TENANT} characters")
    if all(tenants) and tenants[0] != tenants[1]:
        raise MalformedActivity("conversation.tenantId and channelData.tenant.id name different tenants")
    if kind in ("message", "messageUpdate", "messageDelete"):
        sender = activity.get("from")
        if not isinstance(sender, dict) or not isinstance(sender.get("id"), str) or not sender["id"]:
            raise MalformedActivity("'from.id' is missing")
        if not activity.get("id"):
            raise MalformedActivity("'id' is missing: a message needs its id")
    return activity


def tenant_of(activity: dict[str, Any]) -> str:
    """channelData.tenant.id (what Teams vouches for), else conversation.tenantId; check() refuses a mismatch."""
    return (_str(_obj(_obj(activity.get("channelData")).get("tenant")).get("id"))
            or _str(_obj(activity.get("conversation")).get("tenantId")) or "")


def conversation_of(activity: dict[str, Any]) -> Conversation:
    conversation = _obj(activity.get("conversation"))
    full = str(conversation.get("id", ""))
    channel, _, root = full.partition(THREAD_MARK)
    kind = _str(conversation.get("conversationType"))
    if kind is None:
        kind = "channel" if "@thread.tacv2" in channel or "@thread.skype" in channel else (
            "groupChat" if conversation.get("isGroup") else "personal")
    if not root and kind == "channel":
        root = _str(activity.get("replyToId")) or ""
    return Conversation(tenant=tenant_of(activity), channel=channel, root=root or None, kind=kind)


def actor_of(activity: dict[str, Any]) -> Actor:
    sender = _obj(activity.get("from"))
    name = _str(sender.get("name"))
    return Actor(Platform.TEAMS, tenant_of(activity), str(sender.get("id", "")),
                 display_name=name[:MAX_NAME] if name else None, aad_object_id=_str(sender.get("aadObjectId")))


def bot_id(activity: dict[str, Any]) -> str | None:
    return _str(_obj(activity.get("recipient")).get("id"))


def is_from_bot(activity: dict[str, Any]) -> bool:
    sender = _obj(activity.get("from"))
    return sender.get("role") == "bot" or str(sender.get("id", "")).startswith("28:")


def _mentions(activity: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(mentioned id, mention text, name) for every well-formed mention entity; others are skipped."""
    found = []
    for entity in activity.get("entities") or ():
        if not isinstance(entity, dict) or str(entity.get("type", "")).lower() != "mention":
            continue
        mentioned = _obj(entity.get("mentioned"))
        ident = _str(mentioned.get("id"))
        if ident:
            found.append((ident, _str(entity.get("text")), _str(mentioned.get("name"))))
    return found


def mentions_bot(activity: dict[str, Any]) -> bool:
    me = bot_id(activity)
    return bool(me) and any(ident == me for ident, _, _ in _mentions(activity))


def clean_text(activity: dict[str, Any]) -> str:
    """The text with the bot's mention removed and other mentions written `<@29:id>` for the grammar."""
    text = activity.get("text")
    text = text if isinstance(text, str) else ""
    me = bot_id(activity)
    for ident, mention_text, name in _mentions(activity):
        shown = mention_text or (f"<at>{name}</at>" if name else None)
        replacement = "" if ident == me else (f"<@{ident}>" if MENTION_ID.match(ident) else (name or ""))
        if shown and shown in text:
            text = text.replace(shown, f" {replacement} " if replacement else " ", 1)
        elif ident == me and name:
            text = re.sub(rf"<at[^>]*>\s*{re.escape(name)}\s*</at>", " ", text, count=1, flags=re.IGNORECASE)
    text = BREAK_TAG.sub("\n", text)
    text = re.sub(r"<at[^>]*>(.*?)</at>", r"\1", text, flags=re.IGNORECASE | re.DOTALL)
    text = HTML_TAG.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line) if any(lines) else ""


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    digits = re.match(r"\s*(\d+)", value)
    return int(digits.group(1)) if digits else None


def _name_from_url(url: str, fallback: str) -> str:
    tail = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])
    return tail if tail and tail not in ("original", "imgo", "imgpsh_fullsize_anim", "$value") else fallback


def files_of(activity: dict[str, Any]) -> tuple[FileRef, ...]:
    """Attachments as FileRefs; images embedded in the message's HTML are flagged inline."""
    files: list[FileRef] = []
    inline_urls: set[str] = set()
    attachments = [a for a in activity.get("attachments") or () if isinstance(a, dict)]
    for att in attachments:
        if att.get("contentType") != "text/html" or not isinstance(att.get("content"), str):
            continue
        for n, tag in enumerate(IMG_TAG.findall(att["content"]), start=1):
            attrs = {m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or "") for m in ATTR.finditer(tag)}
            src = attrs.get("src")
            if not src:
                continue
            inline_urls.add(src)
            files.append(FileRef(name=attrs.get("alt") or _name_from_url(src, f"image-{n}.png"),
                                 mimetype="image/*", url=src, width=_int(attrs.get("width")),
                                 height=_int(attrs.get("height")), platform_file_id=_str(attrs.get("id")),
                                 inline=True))
    for n, att in enumerate(attachments, start=1):
        kind = str(att.get("contentType") or "")
        if kind == "text/html" or kind.startswith(CARD_TYPES):
            continue
        content = _obj(att.get("content"))
        url = _str(content.get("downloadUrl")) or _str(att.get("contentUrl"))
        if kind.startswith("image/"):
            if url in inline_urls or not url:
                continue  # the same picture the HTML body embeds
            files.append(FileRef(name=_str(att.get("name")) or _name_from_url(url, f"image-{n}.png"),
                                 mimetype=kind, url=url, inline=True))
            continue
        name = _str(att.get("name")) or (url and _name_from_url(url, f"file-{n}")) or f"file-{n}"
        mimetype = None if kind in (FILE_DOWNLOAD, "reference") else kind or None
        files.append(FileRef(name=name, mimetype=mimetype, url=url,
                             platform_file_id=_str(content.get("uniqueId")) or _str(att.get("id"))))
    return tuple(_bounded(f) for f in files)


def _bounded(f: FileRef) -> FileRef:
    """File metadata cut to what the database keeps (names and types are at most 255 characters)."""
    mimetype = f.mimetype if f.mimetype and len(f.mimetype) <= MAX_ID else None
    file_id = f.platform_file_id[:MAX_ID] if f.platform_file_id else None
    return replace(f, name=f.name[:MAX_ID], mimetype=mimetype, platform_file_id=file_id)


def _sent_at(activity: dict[str, Any]) -> datetime | None:
    stamp = _str(activity.get("timestamp"))
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00")))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def looks_like_command(text: str) -> bool:
    """Whether text starts with a command name, so chatter is not mistaken for a mistyped command."""
    words = text.strip().lower().split()
    if words and words[0] in ("/helpdesk", "helpdesk"):
        words = words[1:]
    return bool(words) and words[0] in BY_NAME


def place_of(activity: dict[str, Any]) -> Place:
    conv = conversation_of(activity)
    thread = conv.root or (_str(activity.get("id")) if conv.kind == "channel" else None)
    return Place(Platform.TEAMS, conv.tenant, conv.channel, thread, is_direct=conv.is_personal)


def translate(activity: dict[str, Any], *, purpose: str | None = None,
              sender_is_agent: bool = False) -> IncomingMessage | Invocation | None:
    """A message activity as the core sees it; None for activities that are not messages.

    `purpose` is the bound channel's purpose ("customer" | "triage" | None) and
    `sender_is_agent` whether the sender is a configured consultant or lead: in the
    triage channel an agent's message that starts with a command name is a command.
    """
    kind = activity.get("type")
    event_id = str(activity.get("id") or "")
    actor = actor_of(activity)
    place = place_of(activity)
    if kind in ("messageUpdate", "messageDelete"):
        event = str(_obj(activity.get("channelData")).get("eventType") or "")
        if kind == "messageUpdate" and event not in ("", "editMessage"):
            return None  # undeleteMessage and the like change nothing chatdesk stores
        text = clean_text(activity)
        deleted = kind == "messageDelete"
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        return IncomingMessage(
            event_id=f"{event_id}:{'deleted' if deleted else 'edited:' + digest}", actor=actor, place=place,
            message_id=event_id, text=text, sent_at=_sent_at(activity), edited=not deleted, deleted=deleted,
            from_bot=is_from_bot(activity))
    if kind != "message":
        return None
    value = activity.get("value")
    if isinstance(value, dict) and isinstance(value.get("command"), str):
        extra = value.get("input")
        text = value["command"] + (f" {extra.strip()}" if isinstance(extra, str) and extra.strip() else "")
        return Invocation(event_id=event_id, actor=actor, place=place, text=text, source="button",
                          trigger_message_id=_str(activity.get("replyToId")))
    text = clean_text(activity)
    command = (place.is_direct
               or (mentions_bot(activity) and (purpose != "customer" or looks_like_command(text)))
               or (purpose == "triage" and sender_is_agent and looks_like_command(text)))
    if command:
        return Invocation(event_id=event_id, actor=actor, place=place, text=text)
    return IncomingMessage(event_id=event_id, actor=actor, place=place, message_id=event_id, text=text,
                           files=files_of(activity), sent_at=_sent_at(activity), from_bot=is_from_bot(activity))
