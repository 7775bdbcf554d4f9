"""Wiring the mail channel into a process (chatdesk.runtime, `chatdesk mail`): the outbox's mail sender
and the IMAP poller."""

from __future__ import annotations

import asyncio
import logging

from adapters.email.config import MailConfig
from adapters.email.imap import ImapPoller
from adapters.email.sender import MailSender
from bot import mail
from bot.core import Helpdesk

log = logging.getLogger("chatdesk.mail")


def sender(settings: MailConfig | None) -> MailSender | None:
    """The outbox's mail sender when CHATDESK_SMTP_URL is set."""
    if settings is None or settings.smtp is None:
        return None
    if not settings.smtp.tls and not settings.smtp.loopback:
        log.info("SMTP %s: plain connection, upgraded with STARTTLS when the server offers it",
                 settings.smtp.describe())
    return MailSender(settings)


def poller(settings: MailConfig | None, desk: Helpdesk) -> ImapPoller | None:
    if settings is None or settings.imap is None:
        return None
    if not settings.imap.tls and not settings.imap.loopback:
        log.warning("CHATDESK_IMAP_URL: imap:// to %s sends the password unencrypted; use imaps://",
                    settings.imap.host)
    own = frozenset({settings.from_address})

    async def handle(incoming: mail.IncomingMail) -> mail.MailOutcome:
        return await mail.handle_mail(desk, incoming, own_addresses=own)

    return ImapPoller(settings, handle)


def workers(settings: MailConfig | None, desk: Helpdesk, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The IMAP poller as a background task, when CHATDESK_IMAP_URL is set."""
    p = poller(settings, desk)
    return [asyncio.create_task(p.run(stop))] if p is not None else []
