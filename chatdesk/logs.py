"""Structured JSON logs, one object a line, with ticket key and event id where known.

Secrets from the settings are masked in every record, whatever logged them (our
code, slack-bolt, botbuilder, aiohttp's access log).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from chatdesk.settings import Settings

CONTEXT_FIELDS = ("ticket", "event_id", "platform", "outbox_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


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
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
