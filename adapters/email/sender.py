"""The outbox's mail sender: one queued reply -> one mail over SMTP (aiosmtplib).

The Message-ID is made from the reply's dedupe key, so a retried delivery carries the
same id (a mail client shows a duplicate once) and a customer's answer to it threads
back to the ticket by In-Reply-To/References.
"""

from __future__ import annotations

import hashlib
import logging
import re
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from adapters.email.config import MailConfig, ServerUrl
from bot.types import Destination, Reply
from storage.outbox import DeliveryError

log = logging.getLogger("chatdesk.mail")

TIMEOUT = 30.0
MARKUP = re.compile(r"(?<!\w)[*_](\S(?:.*?\S)?)[*_](?!\w)")  # *bold* / _italic_ in chat text


def render_text(reply: Reply) -> str:
    """A reply as a plain-text mail body: chat markup and buttons left out (a mail cannot press them)."""
    lines = []
    if reply.title and reply.title not in reply.text:
        lines += [reply.title, ""]
    lines.append(MARKUP.sub(r"\1", reply.text.replace("`", "")))
    if reply.fields:
        lines.append("")
        lines += [f"{f.label}: {f.value}" for f in reply.fields]
    return "\n".join(lines).rstrip() + "\n"


def message_id_for(reply: Reply, domain: str) -> str:
    digest = hashlib.sha256((reply.dedupe or reply.text).encode("utf-8")).hexdigest()[:32]
    return f"chatdesk.{digest}@{domain}"


def build_mail(settings: MailConfig, destination: Destination, reply: Reply) -> EmailMessage:
    if reply.internal or not destination.user:
        raise DeliveryError("refused: an internal reply or one without a recipient is never mailed", permanent=True)
    domain = settings.from_address.rsplit("@", 1)[-1]
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = destination.user
    msg["Subject"] = destination.subject or reply.title or "chatdesk"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{message_id_for(reply, domain)}>"
    refs = [r for r in destination.references if r]
    if refs:
        msg["In-Reply-To"] = f"<{refs[-1]}>"
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    # Answers from a helpdesk are automatic in the RFC 3834 sense only for acknowledgements;
    # marking them lets the customer's own auto-responder stay quiet (no mail loops).
    if reply.kind == "ack":
        msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(render_text(reply))
    return msg


def starttls(smtp: ServerUrl) -> bool | None:
    """aiosmtplib's start_tls: STARTTLS when the server offers it (None), required (True) when a password
    would go to a host that is not loopback, never inside smtps:// (False: already TLS)."""
    if smtp.tls:
        return False
    return True if smtp.username and not smtp.loopback else None


class MailSender:
    def __init__(self, settings: MailConfig) -> None:
        assert settings.smtp is not None
        self.settings = settings
        self.smtp = settings.smtp

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        msg = build_mail(self.settings, destination, reply)
        smtp = self.smtp
        start_tls = starttls(smtp)
        try:
            await aiosmtplib.send(
                msg, hostname=smtp.host, port=smtp.port, username=smtp.username, password=smtp.password,
                use_tls=smtp.tls, start_tls=start_tls, timeout=TIMEOUT,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused the recipient: {exc}", permanent=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP {smtp.describe()}: {type(exc).__name__}: {exc}") from None
        message_id = str(msg["Message-ID"]).strip("<>")
        log.info("mailed %s to %s (%s)", reply.ticket_key or reply.kind, destination.user, message_id)
        return message_id
