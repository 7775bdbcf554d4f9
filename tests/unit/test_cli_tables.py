"""`tickets list` and `audit` read at 80 columns, and come out as tab-separated rows in a pipe."""

from __future__ import annotations

import asyncio
import io
import re

from typer.testing import CliRunner

from bot.clock import FakeClock
from chatdesk.cli import app
from chatdesk.tables import audit_table, detail_text, emit, ticket_table
from storage import db
from storage.queries import audit_rows, ticket_rows
from tests.conftest import MONDAY_9_HELSINKI
from tests.scenarios.console_driver import ConsoleWorld

LONG_TITLE = "The invoicing export to the accounting system fails for every customer with a VAT number"


async def play(url: str) -> None:
    async with db.database(url):
        from bot.config import load_config
        from storage.config_apply import apply_config
        from tests.conftest import ORG_YAML

        await apply_config(load_config(ORG_YAML))
        world = ConsoleWorld(FakeClock(MONDAY_9_HELSINKI))
        customer = await world.person("customer:ACME")
        await customer.say(LONG_TITLE)
        lead = await world.person("lead:maija")
        await lead.say("/helpdesk priority ACME-1 P1")
        await lead.say("/helpdesk assign ACME-1 @olli")


def rendered(url: str, which: str) -> str:
    async def body() -> str:
        async with db.database(url):
            rows = await (ticket_rows() if which == "list" else audit_rows("ACME-1"))
        assert rows is not None
        out = io.StringIO()
        table = ticket_table(rows, terminal=True) if which == "list" else audit_table(rows, terminal=True)
        emit(*table, stream=out, terminal=True, width=80)
        return out.getvalue()
    return asyncio.run(body())


def test_tickets_list_and_audit_fit_80_columns_without_cutting_keys(db_url: str) -> None:
    asyncio.run(play(db_url))
    for which in ("list", "audit"):
        text = re.sub(r"\x1b\[[0-9;]*m", "", rendered(db_url, which))
        lines = text.splitlines()
        assert lines and all(len(line) <= 80 for line in lines), text
        assert "ACME-1" in text or which == "audit"
        assert re.search(r"2026-11-2\d \d\d:\d\d", text), text  # a whole timestamp, never cut
        if which == "list":
            words = " ".join(text.split())
            assert all(word in words for word in ("invoicing", "accounting", "number"))  # folded, not cut
        else:
            assert "P3 → P1" in text and "{" not in text  # words, not raw JSON


def test_piped_output_is_tab_separated(db_url: str) -> None:
    asyncio.run(play(db_url))
    listed = CliRunner().invoke(app, ["tickets", "list"], env={"DATABASE_URL": db_url})
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == ["key", "customer", "type", "status", "priority", "assignee", "messages",
                                  "resolution_due", "title"]
    assert rows[0].split("\t")[0] == "ACME-1" and rows[0].split("\t")[-1] == LONG_TITLE
    assert all(len(r.split("\t")) == 9 for r in rows)
    audited = CliRunner().invoke(app, ["audit", "acme-1"], env={"DATABASE_URL": db_url})
    assert audited.exit_code == 0, audited.output
    header, *rows = audited.stdout.splitlines()
    assert header.split("\t") == ["at", "who", "channel", "what", "detail"]
    priority = next(r.split("\t") for r in rows if "\tpriority\t" in r)
    assert priority[0] == "2026-11-23T07:00:00Z" and priority[4] == "P3 → P1"


def test_detail_text_reads_as_words() -> None:
    assert detail_text({"from": None, "to": 2, "person": "olli"}) == "— → 2; person: olli"
    assert detail_text({"order": ["ACME-1", "ACME-2"], "reason": ""}) == "order: ACME-1, ACME-2"
