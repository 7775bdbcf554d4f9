"""What the mail channel needs from the environment: CHATDESK_IMAP_*, CHATDESK_SMTP_URL, CHATDESK_MAIL_FROM.

Each error names its variable. Passwords never appear in an error or in `describe()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from adapters.net import is_loopback_host
from bot.config import EMAIL_ADDRESS


class MailConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServerUrl:
    scheme: str  # imap | imaps | smtp | smtps
    host: str
    port: int
    username: str | None
    password: str | None = None
    folder: str = "INBOX"

    @property
    def tls(self) -> bool:
        return self.scheme.endswith("s")

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    def describe(self) -> str:
        user = f"{self.username}@" if self.username else ""
        folder = f"/{self.folder}" if self.scheme.startswith("imap") else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}{folder}"


@dataclass(frozen=True)
class MailConfig:
    imap: ServerUrl | None = None
    poll_seconds: float = 30.0
    unknown_folder: str | None = None  # where mail from strangers goes; None leaves it unseen
    smtp: ServerUrl | None = None
    mail_from: str = ""  # "Support <support@example.com>" or a bare address

    @property
    def from_address(self) -> str:
        return parseaddr(self.mail_from)[1].lower()

    @property
    def mailbox(self) -> str:
        """The inbound mailbox's identity: Message-IDs are unique within it."""
        assert self.imap is not None
        return f"{self.imap.username}@{self.imap.host}:{self.imap.port}/{self.imap.folder}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailConfig | None:
        """None when no mail variable is set (the mail channel is off)."""
        names = ("CHATDESK_IMAP_URL", "CHATDESK_SMTP_URL", "CHATDESK_MAIL_FROM")
        if not any(env.get(n) for n in names):
            return None
        imap = _url("CHATDESK_IMAP_URL", env.get("CHATDESK_IMAP_URL", ""), ("imap", "imaps"), {"imap": 143,
                                                                                               "imaps": 993})
        smtp = _url("CHATDESK_SMTP_URL", env.get("CHATDESK_SMTP_URL", ""), ("smtp", "smtps"), {"smtp": 25,
                                                                                               "smtps": 465})
        if imap is not None and imap.username is None:
            raise MailConfigError("CHATDESK_IMAP_URL: needs a user and password (imaps://user:pass@host/INBOX)")
        if imap is not None and smtp is None:
            raise MailConfigError("CHATDESK_SMTP_URL: mail intake needs an SMTP server for the acknowledgements "
                                    "and replies (smtp://host:587 or smtps://user:pass@host)")
        mail_from = env.get("CHATDESK_MAIL_FROM", "").strip()
        address = parseaddr(mail_from)[1]
        if not mail_from or not EMAIL_ADDRESS.match(address):
            raise MailConfigError(f"CHATDESK_MAIL_FROM: {mail_from!r} is not a mail address "
                                    "(support@example.com or 'Support <support@example.com>')")
        text = env.get("CHATDESK_IMAP_POLL_SECONDS", "30")
        try:
            poll = float(text)
            if not 1 <= poll <= 3600:
                raise ValueError
        except ValueError:
            raise MailConfigError(f"CHATDESK_IMAP_POLL_SECONDS: {text!r} is not a number of seconds (1-3600)"
                                    ) from None
        unknown = env.get("CHATDESK_IMAP_UNKNOWN_FOLDER", "").strip() or None
        if unknown is not None and imap is not None and unknown == imap.folder:
            raise MailConfigError("CHATDESK_IMAP_UNKNOWN_FOLDER: must differ from the folder that is read")
        return cls(imap=imap, poll_seconds=poll, unknown_folder=unknown, smtp=smtp, mail_from=mail_from)


def _url(name: str, text: str, schemes: tuple[str, ...], ports: dict[str, int]) -> ServerUrl | None:
    text = text.strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise MailConfigError(f"{name}: not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise MailConfigError(f"{name}: the scheme must be {' or '.join(s + '://' for s in schemes)}, "
                                f"not {scheme + '://' if scheme else 'nothing'}")
    if not parts.hostname:
        raise MailConfigError(f"{name}: names no host")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ServerUrl(scheme=scheme, host=parts.hostname, port=port or ports[scheme],
                     username=unquote(parts.username) if parts.username else None,
                     password=unquote(parts.password) if parts.password else None, folder=folder)
