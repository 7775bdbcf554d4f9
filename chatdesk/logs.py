"""Structured JSON logs, one object a line, with ticket key and event id where known.

Secrets from the settings are masked in every record, whatever logged them (our
code, slack-bolt, botbuilder, aiohttp's access and server logs), in the message and
in the exception text alike, raw or percent-encoded; and any `token=` query value
is masked, since aiohttp logs request lines (with their query) when they fail.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from chatdesk.settings import Settings

CONTEXT_FIELDS = ("ticket", "event_id", "platform", "outbox_id")
TOKEN_PARAMETER = re.compile(r"(?i)([?&;]token=)[^&\s\"';#]*")


class Masker:
    """Replaces each secret, as written or percent-encoded, and every `token=` query value by ***."""

    def __init__(self, secrets: list[str]) -> None:
        forms: set[str] = set()
        for secret in (s for s in secrets if s and len(s) >= 6):
            for encoded in (secret, quote(secret, safe=""), quote_plus(secret), quote(secret)):
                forms.add(encoded)
                forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded))
        self.forms = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, "***")
        return TOKEN_PARAMETER.sub(r"\1***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, mask: Masker | None = None) -> None:
        super().__init__()
        self.mask = mask or Masker([])

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.mask(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = self.mask(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = self.mask(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = self.mask(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


def secrets_of(settings: Settings) -> list[str]:
    """Tokens and passwords from the environment, and the board tokens (they travel in URLs)."""
    found = [v for v in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
                         settings.microsoft_app_password, settings.pseudonym_secret) if v]
    try:
        org = settings.org_config()
    except ValueError:
        org = None
    return found + (list(org.board.tokens) if org else [])


def configure(settings: Settings, level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(Masker(secrets_of(settings))))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
