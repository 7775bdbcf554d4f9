"""`chatdesk reminders --once` (chatdesk/reminders_cmd.py) against a real SQLite file."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.clock import FakeClock
from bot.config import load_config
from bot.core import Helpdesk
from bot.types import Actor, IncomingMessage, Place, Platform
from chatdesk.cli import app
from storage import db
from storage.config_apply import apply_config
from storage.models import OutboxMessage, SlaNotice, Ticket
from tests.conftest import ORG_YAML


async def _suggest_nothing(text: str, limit: int) -> list[object]:
    return []


async def _ticket_a_week_ago(url: str) -> None:
    """A gold P3 ticket opened a week ago: its first-response deadline has long passed."""
    await db.init(url)
    try:
        await apply_config(load_config(ORG_YAML))
        desk = Helpdesk(clock=FakeClock(datetime.now(UTC) - timedelta(days=7)), suggest=_suggest_nothing)
        await desk.handle_message(IncomingMessage(
            event_id="Ev1", actor=Actor(Platform.SLACK, "T0ACME", "U0CUST"),
            place=Place(Platform.SLACK, "T0HOME", "C0ACME"), message_id="1795000001.000100", text="ERP is down"))
    finally:
        await db.close()


async def _stored(url: str) -> tuple[int, int, datetime | None]:
    await db.init(url)
    try:
        ticket = await Ticket.get(key="ACME-1")
        return (await SlaNotice.all().count(), await OutboxMessage.filter(dedupe_key__startswith="sla:").count(),
                ticket.notice_at)
    finally:
        await db.close()


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "chatdesk.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite://{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("CHATDESK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


def test_once_queues_due_notices_then_nothing(sqlite_file: str) -> None:
    asyncio.run(_ticket_a_week_ago(sqlite_file))
    runner = CliRunner()
    first = runner.invoke(app, ["reminders", "--once"])
    assert first.exit_code == 0, first.output
    match = re.fullmatch(r"(\d+) SLA notice\(s\) queued\n", first.output)
    assert match and int(match.group(1)) >= 1  # the first-response breach (the resolution one too, by now)
    notices, posts, notice_at = asyncio.run(_stored(sqlite_file))
    assert notices == int(match.group(1)) and posts == 2 * notices  # thread and triage: nobody is assigned
    assert notice_at is None or notice_at > datetime.now(UTC)

    again = runner.invoke(app, ["reminders", "--once"])
    assert (again.exit_code, again.output) == (0, "0 SLA notice(s) queued\n")


def test_bad_database_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    result = CliRunner().invoke(app, ["reminders", "--once"])
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output
