"""Logs are JSON lines with context fields, and configured secrets never appear in them."""

from __future__ import annotations

import io
import json
import logging

from chatdesk.logs import configure
from chatdesk.settings import Settings


def test_json_lines_with_context_and_no_secrets() -> None:
    settings = Settings(slack_bot_token="xoxb-very-secret-token", slack_signing_secret="signing-secret-123",
                        microsoft_app_password="teams-password-456")
    stream = io.StringIO()
    handler = configure(settings, stream=stream)
    try:
        log = logging.getLogger("chatdesk.test")
        log.info("ticket created", extra={"ticket": "ACME-1", "event_id": "Ev1"})
        log.warning("posting with token %s and %s", "xoxb-very-secret-token", "teams-password-456")
        logging.getLogger("slack_bolt").error("bad signature for secret signing-secret-123")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["ticket"] == "ACME-1" and lines[0]["event_id"] == "Ev1" and lines[0]["msg"] == "ticket created"
    text = stream.getvalue()
    for secret in ("xoxb-very-secret-token", "signing-secret-123", "teams-password-456"):
        assert secret not in text
    assert lines[1]["msg"] == "posting with token *** and ***"


def test_board_tokens_from_the_config_are_masked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import ORG_YAML

    settings = Settings(config_path=ORG_YAML)
    stream = io.StringIO()
    handler = configure(settings, stream=stream)
    try:
        logging.getLogger("aiohttp.access").info('"GET /board?token=test-board-token-0123456789 HTTP/1.1" 200')
    finally:
        logging.getLogger().removeHandler(handler)
    assert "test-board-token-0123456789" not in stream.getvalue() and "token=***" in stream.getvalue()
