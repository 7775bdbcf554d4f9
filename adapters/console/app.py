"""A local terminal channel: try every story without a Slack or Teams account.

You are a customer's contact, a consultant or a lead. Plain lines are channel
messages (a customer's first line opens a thread, i.e. a ticket); `/helpdesk ...`
lines are commands; `:thread KEY` moves into a ticket's thread, `:top` leaves it,
`:as ROLE:NAME` changes who you are, `:quit` ends. With stdin not a terminal it reads
lines to end of input, so sessions can be scripted.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from adapters.console.render import render
from bot.core import Helpdesk
from bot.identity import CONSOLE_TRIAGE
from bot.statuses import CONSOLE_ROLES
from bot.types import Actor, Destination, IncomingMessage, Invocation, Place, Platform, Reply
from storage import outbox
from storage.models import Customer, Person, Ticket

HELP = """Console commands:
  <text>             post a message (as a customer: a new thread = a new ticket; in a thread: a reply)
  /helpdesk <cmd>    run a helpdesk command (/helpdesk help lists them)
  :thread KEY        move into a ticket's thread      :top     back to the channel
  :as ROLE:NAME      become customer:ACME, consultant:olli or lead:maija
  :help              this text                         :quit    leave"""


class RoleError(ValueError):
    pass


@dataclass
class Identity:
    role: str  # a key of bot.statuses.CONSOLE_ROLES: customer | consultant | lead
    name: str  # customer key for a contact, person id for an agent

    @classmethod
    def parse(cls, text: str) -> Identity:
        role, _, name = text.partition(":")
        role = role.strip().lower()
        if role not in CONSOLE_ROLES or not name.strip():
            raise RoleError(f"--as {text!r}: use customer:KEY, consultant:ID or lead:ID (e.g. customer:ACME)")
        name = name.strip()
        return cls(role, name.upper() if role == "customer" else name.lower())


class ConsoleSender:
    """Delivers the console's queued posts by printing them where they would appear."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        if destination.user:
            where = f"DM to {destination.user}"
        elif destination.channel == CONSOLE_TRIAGE:
            where = "#triage"
        elif destination.thread:
            ticket = await Ticket.filter(platform="console", thread=destination.thread).first()
            where = f"#{destination.channel} › {ticket.key if ticket else 'thread'}"
        else:
            where = f"#{destination.channel}"
        message_id = f"c{uuid.uuid4().hex[:16]}"
        self.write(render(reply, where))
        return message_id


class ConsoleSession:
    def __init__(self, desk: Helpdesk, identity: Identity, write: Callable[[str], None] = print) -> None:
        self.desk = desk
        self.write = write
        self.sender = ConsoleSender(write)
        self.identity = identity
        self.channel = CONSOLE_TRIAGE
        self.thread: str | None = None
        self.thread_key: str | None = None

    async def start(self) -> None:
        await self.become(self.identity)

    async def become(self, identity: Identity) -> None:
        if identity.role == "customer":
            if not await Customer.filter(key=identity.name).exists():
                raise RoleError(f"no customer {identity.name} in the config (chatdesk config apply FILE)")
            self.channel = identity.name
        else:
            person = await Person.filter(pid=identity.name, active=True).first()
            if person is None:
                raise RoleError(f"no person {identity.name!r} in the config")
            if person.role != identity.role:
                raise RoleError(f"{identity.name} is a {person.role} in the config, not a {identity.role}")
            self.channel = CONSOLE_TRIAGE
        self.identity = identity
        self.thread = self.thread_key = None

    @property
    def actor(self) -> Actor:
        if self.identity.role == "customer":
            return Actor(Platform.CONSOLE, "console", f"contact-{self.identity.name.lower()}",
                         display_name=f"{self.identity.name} contact")
        return Actor(Platform.CONSOLE, "console", self.identity.name, display_name=self.identity.name)

    @property
    def place(self) -> Place:
        return Place(Platform.CONSOLE, "console", self.channel, self.thread)

    @property
    def prompt(self) -> str:
        where = f"#{self.channel}" + (f" › {self.thread_key}" if self.thread_key else "")
        return f"{self.identity.role}:{self.identity.name} {where}> "

    async def handle_line(self, line: str) -> bool:
        """Handle one line; False means the session should end."""
        line = line.strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                return await self._meta(line)
            if line.lower().startswith("/helpdesk"):
                await self._command(line[len("/helpdesk"):].strip())
            elif line.startswith("/"):
                self.write(f"unknown slash command {line.split()[0]!r}: commands start with /helpdesk")
            else:
                await self._message(line)
        except RoleError as exc:
            self.write(f"error: {exc}")
        await self.flush()
        return True

    async def flush(self) -> None:
        while await outbox.deliver_due({"console": self.sender}, self.desk.clock.now()):
            pass

    async def _meta(self, line: str) -> bool:
        word, _, rest = line.partition(" ")
        if word in (":quit", ":q", ":exit"):
            return False
        if word == ":help":
            self.write(HELP)
        elif word == ":top":
            self.thread = self.thread_key = None
        elif word == ":as":
            await self.become(Identity.parse(rest))
        elif word == ":thread":
            ticket = await Ticket.filter(key=rest.strip().upper()).first()
            if ticket is None:
                self.write(f"no ticket {rest.strip()!r}")
            elif ticket.platform != "console":
                self.write(f"{ticket.key} lives in {ticket.platform}; its thread is not in the console")
            elif self.identity.role == "customer" and ticket.channel != self.identity.name:
                self.write(f"no ticket {rest.strip()!r}")
            else:
                self.channel, self.thread, self.thread_key = ticket.channel, ticket.thread, ticket.key
        else:
            self.write(f"unknown console command {word!r}; :help lists them")
        return True

    async def _command(self, text: str) -> None:
        inv = Invocation(event_id=f"console-{uuid.uuid4().hex}", actor=self.actor, place=self.place, text=text)
        outcome = await self.desk.handle_invocation(inv)
        for reply in outcome.replies:
            self.write(render(reply, "only you"))

    async def _message(self, text: str) -> None:
        if self.identity.role != "customer" and self.thread is None:
            self.write("post in a ticket's thread: `:thread ACME-1` first (agents' top-level posts are not tickets)")
            return
        message_id = f"c{uuid.uuid4().hex[:16]}"
        msg = IncomingMessage(event_id=f"console-{message_id}", actor=self.actor, place=self.place,
                              message_id=message_id, text=text, sent_at=self.desk.clock.now())
        outcome = await self.desk.handle_message(msg)
        if outcome.ticket_key and self.thread is None:
            ticket = await Ticket.get(key=outcome.ticket_key)
            self.thread, self.thread_key = ticket.thread, ticket.key


async def run_console(desk: Helpdesk, identity: Identity, lines: Callable[[str], str | None] | None = None) -> None:
    """Read lines until end of input (or :quit), interactive when stdin is a terminal."""
    session = ConsoleSession(desk, identity)
    await session.start()
    interactive = sys.stdin.isatty() and lines is None
    if interactive:
        session.write("chatdesk console — :help for console commands, /helpdesk help for helpdesk commands")
    read = lines or _reader(interactive)
    while True:
        line = read(session.prompt)
        if line is None or not await session.handle_line(line):
            break


def _reader(interactive: bool) -> Callable[[str], str | None]:
    def read(prompt: str) -> str | None:
        if interactive:
            try:
                return input(prompt)
            except EOFError:
                return None
        line = sys.stdin.readline()
        return line if line else None

    return read
