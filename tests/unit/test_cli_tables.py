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


def test_tickets_show_prints_the_conversation_with_notes_marked(db_url: str) -> None:
    asyncio.run(play(db_url))

    async def note() -> None:
        async with db.database(db_url):
            world = ConsoleWorld(FakeClock(MONDAY_9_HELSINKI))
            olli = await world.person("consultant:olli")
            await olli.say("/helpdesk note ACME-1 the export job runs at night")
            await olli.say("/helpdesk reply ACME-1 We are looking into it")
    asyncio.run(note())
    shown = CliRunner().invoke(app, ["tickets", "show", "acme-1"], env={"DATABASE_URL": db_url})
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"ACME-1  {LONG_TITLE}\n")
    assert "[internal note]: the export job runs at night" in shown.stdout
    assert "We are looking into it" in shown.stdout and "assignee olli" in shown.stdout
    as_json = CliRunner().invoke(app, ["tickets", "show", "ACME-1", "--json"], env={"DATABASE_URL": db_url})
    import json
    data = json.loads(as_json.stdout)
    assert [m["internal"] for m in data["conversation"]] == [False, True, False]
    missing = CliRunner().invoke(app, ["tickets", "show", "ACME-99"], env={"DATABASE_URL": db_url})
    assert missing.exit_code == 1 and "no ticket ACME-99" in missing.stderr
