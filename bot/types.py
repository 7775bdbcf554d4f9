"""The neutral values adapters hand in and the core hands back.

Adapters translate platform payloads into these frozen dataclasses and render
`Reply` values into Block Kit or Adaptive Cards; no SDK object ever crosses into
the core, so the core never knows which chat it is in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


@functools.cache
def adapter(cls: type[T]) -> TypeAdapter[T]:
    """The JSON (de)serialiser of a core type, built on first use (the CLI need not pay for it)."""
    return TypeAdapter(cls)


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"
    EMAIL = "email"


class Audience(StrEnum):
    """Where a reply goes."""

    CALLER = "caller"  # only the person who asked (Slack ephemeral, Teams reply in the 1:1 or triage)
    THREAD = "thread"  # the ticket's thread in the customer channel: the customer sees it
    TRIAGE = "triage"  # the internal triage channel(s)
    DM = "dm"  # a direct message to one person (Reply.person)
    CHANNEL = "channel"  # the ticket's customer channel, top level (not in a thread): the customer sees it


@dataclass(frozen=True)
class Actor:
    """Who did something, as the platform knows them."""

    platform: Platform
    tenant: str  # Slack team id of the user's own workspace, Teams tenant id
    user_id: str  # Slack user id, Teams 29: id (or console name)
    display_name: str | None = None
    aad_object_id: str | None = None  # Teams' Azure AD id, matched as well as the 29: id


@dataclass(frozen=True)
class Place:
    """Where something happened: a channel, optionally a thread in it."""

    platform: Platform
    tenant: str  # the workspace/tenant the app is installed in
    channel: str  # Slack channel id, Teams conversation id without ;messageid=, console channel
    thread: str | None = None  # root message id of the thread, None for a top-level message
    is_direct: bool = False  # a 1:1 chat with the bot
    # Everyone in a group chat, when the platform told us (None = unknown): each member's user id,
    # or their ids joined by "|" when the platform knows them by two (Teams 29: id and Azure AD id).
    members: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FileRef:
    """A file that came with a message: metadata only, the adapter fetches bytes on demand."""

    name: str
    mimetype: str | None = None
    size: int | None = None
    url: str | None = None
    platform_file_id: str | None = None
    width: int | None = None
    height: int | None = None
    inline: bool = False  # an image embedded in the message body rather than attached
    needs_info: bool = False  # a stub (Slack Connect: another organisation's file): ask the platform for the rest


@dataclass(frozen=True)
class IncomingMessage:
    """A message posted in a channel the bot can read."""

    event_id: str  # platform event or activity id, for dedupe of retried deliveries
    actor: Actor
    place: Place
    message_id: str  # platform message id (Slack ts, Teams activity id)
    text: str
    files: tuple[FileRef, ...] = ()
    sent_at: datetime | None = None
    edited: bool = False  # an edit of message_id: update the stored text
    deleted: bool = False
    from_bot: bool = False


@dataclass(frozen=True)
class Reaction:
    """An emoji reaction added to a message in a channel the bot can read."""

    event_id: str
    actor: Actor  # who reacted
    place: Place  # the channel of the message reacted to
    message_id: str  # the message reacted to (Slack ts, Teams activity id)
    emoji: str  # the emoji's name as Slack spells it: "ticket" for 🎫


@dataclass(frozen=True)
class Invocation:
    """A command: `/helpdesk ...` text, a Teams @mention, or a button press."""

    event_id: str
    actor: Actor
    place: Place
    text: str  # everything after "/helpdesk" or the @mention, e.g. "assign ACME-7 @olli"
    source: str = "command"  # "command" | "button" | "shortcut"
    trigger_message_id: str | None = None  # message a shortcut was used on


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # the command text the button runs, e.g. "claim ACME-7"
    style: str | None = None  # "primary" | "danger"
    needs_input: str | None = None  # prompt for a free-text argument appended to command (modal)


@dataclass(frozen=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True)
class Reply:
    """Something the core wants said; adapters decide how it looks."""

    text: str
    audience: Audience = Audience.CALLER
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    ticket_key: str | None = None  # the ticket it is about (and whose thread THREAD means)
    person: str | None = None  # config person id for DM
    contact: int | None = None  # a contact's id for DM (a privacy export, say)
    internal: bool = False  # never rendered to a customer audience
    kind: str = "info"  # info | error | ack | notice | refusal
    dedupe: str | None = None  # an outbox dedupe key: the same key is delivered once
    # Who may read it (bot.audience.Visibility: customer | agents | person); None = the core decides.
    visibility: str | None = None

    def to_json(self) -> dict[str, Any]:
        return adapter(Reply).dump_python(self, mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return adapter(Reply).validate_python(data)


@dataclass(frozen=True)
class Destination:
    """A concrete place a queued reply is delivered to."""

    platform: Platform
    tenant: str
    channel: str | None = None
    thread: str | None = None
    user: str | None = None  # platform user id for a DM
    customer_visible: bool = False  # a customer can read this place: internal replies are refused
    subject: str | None = None  # mail: the subject line ("[ACME-12] ...")
    references: tuple[str, ...] = ()  # mail: the thread's Message-IDs, oldest first (In-Reply-To is the last)

    def to_json(self) -> dict[str, Any]:
        return adapter(Destination).dump_python(self, mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Destination:
        return adapter(Destination).validate_python(data)


def delivery_key(channel: str, event_id: str) -> str:
    """A delivered event's identity, qualified by channel: Teams activity ids are unique only within a
    conversation. The inbox and the processed-event rows both use it."""
    return f"{channel}|{event_id}"[-255:]


@dataclass(frozen=True)
class Outcome:
    """What a handled event gives back to the adapter: replies for the caller now, the rest queued."""

    replies: tuple[Reply, ...] = ()
    queued: int = 0
    duplicate: bool = False
    ticket_key: str | None = None
    intake: str | None = None  # what intake made of a top-level message or reaction: opened, joined, pleasantry ...
    files: tuple[FileRef, ...] = ()  # the files of a message a reaction made a ticket of, for the adapter to fetch
