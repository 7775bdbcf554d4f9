"""A real mail world for the tests: the dovecot that `make test` starts (scripts/dovecot.sh),
one fresh IMAP folder per test, and aiosmtpd on a free loopback port as the SMTP sink."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import aioimaplib
from aiosmtpd.controller import Controller

from adapters.email import app as mail_app
from adapters.email.config import MailConfig
from adapters.email.imap import ImapPoller, quote
from adapters.email.sender import MailSender
from bot.clock import FakeClock
from bot.core import Helpdesk
from storage import outbox

IMAP_HOST = os.environ.get("TEST_IMAP_HOST", "")
IMAP_PORT = os.environ.get("TEST_IMAP_PORT", "")
IMAP_USER = os.environ.get("TEST_IMAP_USER", "")
IMAP_PASSWORD = os.environ.get("TEST_IMAP_PASSWORD", "")
SUPPORT = "support@desk.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """aiosmtpd handler that keeps every mail it is given."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(BytesParser(policy=policy.default).parsebytes(envelope.content))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class MailWorld:
    clock: FakeClock
    folder: str
    settings: MailConfig
    desk: Helpdesk
    sink: Sink
    controller: Controller
    polls: list[Any] = field(default_factory=list)

    @property
    def sender(self) -> MailSender:
        s = mail_app.sender(self.settings)
        assert s is not None
        return s

    def poller(self) -> ImapPoller:
        p = mail_app.poller(self.settings, self.desk)
        assert p is not None
        return p

    async def poll(self) -> dict[str, int]:
        """One `chatdesk mail --once`: read the folder, then send what was queued by mail."""
        p = self.poller()
        try:
            counts = await p.poll_once()
        finally:
            await p.close()
        await self.deliver()
        return dict(counts)

    async def deliver(self) -> int:
        sent = 0
        while (n := await outbox.deliver_due({"email": self.sender}, self.clock.now())) > 0:
            sent += n
        return sent

    async def imap(self) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(IMAP_HOST, int(IMAP_PORT), timeout=60)
        await client.wait_hello_from_server()
        await client.login(IMAP_USER, IMAP_PASSWORD)
        return client

    async def deliver_to_mailbox(self, mail: EmailMessage | bytes, folder: str | None = None) -> None:
        raw = mail if isinstance(mail, bytes) else mail.as_bytes(policy=policy.default.clone(linesep="\r\n"))
        client = await self.imap()
        try:
            response = await client.append(raw, mailbox=quote(folder or self.folder))
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def flags(self, folder: str | None = None) -> list[str]:
        """The flags of every mail in the folder, in order."""
        client = await self.imap()
        try:
            response = await client.select(quote(folder or self.folder))
            if response.result != "OK":
                return []
            response = await client.fetch("1:*", "(FLAGS)")
            return [bytes(line).decode() for line in response.lines if b" FETCH (" in bytes(line)]
        finally:
            await client.logout()

    def stop(self) -> None:
        self.controller.stop()


def mail(sender: str, subject: str, body: str, *, message_id: str | None = None, in_reply_to: str | None = None,
         references: str | None = None, headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@acme.fi>"
    msg["Date"] = "Mon, 23 Nov 2026 09:00:00 +0200"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg


world_env: dict[str, str] = {}  # the environment of the last world made (for a `chatdesk mail` subprocess)


async def make_world(clock: FakeClock, *, unknown_folder: str | None = None, poll_seconds: int = 1) -> MailWorld:
    folder = f"t-{uuid.uuid4().hex[:10]}"
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    env = {
        "CHATDESK_IMAP_URL": f"imap://{IMAP_USER}:{IMAP_PASSWORD}@{IMAP_HOST}:{IMAP_PORT}/{folder}",
        "CHATDESK_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "CHATDESK_MAIL_FROM": f"Acme support <{SUPPORT}>",
        "CHATDESK_IMAP_POLL_SECONDS": str(poll_seconds),
    }
    if unknown_folder:
        env["CHATDESK_IMAP_UNKNOWN_FOLDER"] = unknown_folder
    settings = MailConfig.from_env(env)
    assert settings is not None
    world_env.clear()
    world_env.update(env)
    world = MailWorld(clock, folder, settings, Helpdesk(clock=clock, suggest=_no_suggestions), sink, controller)
    client = await world.imap()
    try:
        assert (await client.create(quote(folder))).result == "OK"
    finally:
        await client.logout()
    return world


async def _no_suggestions(text: str, limit: int) -> list[Any]:
    return []
