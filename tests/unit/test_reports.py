"""The report on a small hand-built history played on a fake clock:
JSON numbers, CSV and table output, and `chatdesk report`'s refusals of bad input."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.clock import FakeClock
from bot.config import load_config
from bot.reports import CSV_COLUMNS, ReportError, build_report, period_for
from chatdesk import cli, report_cmd
from storage import db
from storage.config_apply import apply_config
from tests.conftest import MONDAY_9_HELSINKI, ORG_YAML
from tests.scenarios.console_driver import ConsoleWorld

# Tuesday 24 November 2026, 12:00 in Helsinki: when the report is made.
TUESDAY_NOON = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

EXPECTED_ACME = {
    "customer": "ACME",
    "open": 1,  # ACME-4
    "resolved": 2,  # ACME-2 and ACME-3; ACME-1 was resolved in October
    "sla": {
        "first_response": {"met": 1, "missed": 2},  # ACME-2 met; ACME-3 late; ACME-4 unanswered past its deadline
        "next_response": {"met": 1, "missed": 0},
        "resolution": {"met": 1, "missed": 1},  # ACME-3 became P1 (4 h) and took 5 h
    },
    "median_first_response_minutes": 160.0,  # median of 20 and 300 business minutes
    "csat": {"count": 2, "mean": 4.5},
}
EXPECTED_GLOBEX = {
    "customer": "GLOBEX", "open": 1, "resolved": 0,
    "sla": {"first_response": {"met": 0, "missed": 1}, "next_response": {"met": 0, "missed": 0},
            "resolution": {"met": 0, "missed": 0}},
    "median_first_response_minutes": None,
    "csat": {"count": 0, "mean": None},
}


async def play_history(clock: FakeClock) -> None:
    """Six weeks of ACME and GLOBEX, ending on TUESDAY_NOON."""
    world = ConsoleWorld(clock)
    acme = await world.person("customer:ACME")
    olli = await world.person("consultant:olli")
    maija = await world.person("lead:maija")

    clock.set(datetime(2026, 10, 12, 7, 0, tzinfo=UTC))  # before the default period
    await acme.say("Old problem")  # ACME-1
    await olli.say("/helpdesk resolve ACME-1 Fixed at once")
    await acme.say("/helpdesk rate ACME-1 1")

    clock.set(MONDAY_9_HELSINKI)
    await acme.say(":top")
    await acme.say("Mail bounces")  # ACME-2 at 09:00
    await olli.say(":thread ACME-2")
    clock.advance(minutes=20)
    await olli.say("Looking at the MX records")  # first response after 20 minutes: met
    clock.advance(minutes=10)
    await acme.say("Thanks, it is urgent")
    clock.advance(minutes=10)
    await olli.say("Fix is rolling out")  # next response: met

    await acme.say(":top")
    await acme.say("VPN slow")  # ACME-3 at 09:40
    await maija.say("/helpdesk priority ACME-3 P1")
    clock.advance(hours=5)  # 14:40
    await olli.say(":thread ACME-3")
    await olli.say("Replaced the gateway")  # first response after 300 minutes: missed
    await olli.say("/helpdesk resolve ACME-2 MX records corrected")
    await olli.say("/helpdesk resolve ACME-3 New gateway in place")  # resolution after 300 > 240: missed
    await acme.say("/helpdesk rate ACME-2 4")
    await acme.say("/helpdesk rate ACME-3 5")

    await acme.say(":top")
    await acme.say("Printer jammed")  # ACME-4, never answered
    await maija.say("/helpdesk assign ACME-4 @olli")
    globex = await world.person("customer:GLOBEX")
    await globex.say("Invoices do not load")  # GLOBEX-1, never answered
    await maija.say("/helpdesk assign GLOBEX-1 @sanna")
    clock.set(TUESDAY_NOON)


@pytest.fixture
async def history(database: str, clock: FakeClock) -> FakeClock:
    await play_history(clock)
    return clock


async def test_default_period_is_the_last_30_days(history: FakeClock) -> None:
    report = await build_report(history.now(), period_for(history.now()))
    assert report["period"] == {"from": "2026-10-26", "to": "2026-11-24"}
    assert report["customers"] == [EXPECTED_ACME, EXPECTED_GLOBEX]
    assert report["consultants"] == [{"person": "maija", "open": 0}, {"person": "olli", "open": 1},
                                     {"person": "sanna", "open": 1}]
    json.dumps(report)  # plain JSON values only


async def test_an_earlier_period_counts_what_happened_then(history: FakeClock) -> None:
    report = await build_report(history.now(), period_for(history.now(), "2026-10-01", "2026-10-31"))
    acme = report["customers"][0]
    assert acme == {
        "customer": "ACME", "open": 0, "resolved": 1,
        "sla": {"first_response": {"met": 1, "missed": 0}, "next_response": {"met": 0, "missed": 0},
                "resolution": {"met": 1, "missed": 0}},
        "median_first_response_minutes": 0.0, "csat": {"count": 1, "mean": 1.0},
    }
    assert all(c["open"] == 0 for c in report["consultants"])  # today's open tickets came later


async def test_one_customer(history: FakeClock) -> None:
    report = await build_report(history.now(), period_for(history.now()), "globex")
    assert report["customers"] == [EXPECTED_GLOBEX]
    assert {c["person"]: c["open"] for c in report["consultants"]} == {"maija": 0, "olli": 0, "sanna": 1}
    with pytest.raises(ReportError, match=r"no customer 'NOPE' \(known customers: ACME, GLOBEX\)"):
        await build_report(history.now(), period_for(history.now()), "NOPE")


def test_period_input_is_checked() -> None:
    now = TUESDAY_NOON
    assert period_for(now, "2026-11-01").to_json() == {"from": "2026-11-01", "to": "2026-11-24"}
    assert period_for(now, None, "2026-11-10").to_json() == {"from": "2026-10-12", "to": "2026-11-10"}
    with pytest.raises(ReportError, match=r"^--from: '2026-13-01' is not a date"):
        period_for(now, "2026-13-01")
    with pytest.raises(ReportError, match=r"^--to: 'yesterday' is not a date"):
        period_for(now, None, "yesterday")
    with pytest.raises(ReportError, match=r"^--from: 2026-11-30 is after --to 2026-11-01"):
        period_for(now, "2026-11-30", "2026-11-01")


# -- chatdesk report -------------------------------------------------------------------------------


def prepare(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, history: bool) -> str:
    async def build() -> None:
        await db.init(db_url)
        try:
            await apply_config(load_config(ORG_YAML))
            if history:
                await play_history(FakeClock(MONDAY_9_HELSINKI))
        finally:
            await db.close()

    asyncio.run(build())
    monkeypatch.setattr(report_cmd, "clock", FakeClock(TUESDAY_NOON))
    monkeypatch.chdir(tmp_path)  # no chatdesk.yaml of the working tree is picked up
    return db_url


@pytest.fixture
def history_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    return prepare(db_url, monkeypatch, tmp_path, history=True)


@pytest.fixture
def org_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    return prepare(db_url, monkeypatch, tmp_path, history=False)


def report(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, ["report", *args], env={"DATABASE_URL": db_url, "CHATDESK_CONFIG": ""})
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_is_one_object(history_db: str) -> None:
    code, out, err = report(history_db, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["period"] == {"from": "2026-10-26", "to": "2026-11-24"}
    assert data["customers"] == [EXPECTED_ACME, EXPECTED_GLOBEX]
    code, out, _ = report(history_db, "--format", "json", "--customer", "ACME", "--from", "2026-11-24")
    assert json.loads(out)["customers"][0]["resolved"] == 0


def test_cli_csv_has_one_row_per_customer(history_db: str) -> None:
    code, out, err = report(history_db, "--format", "csv")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["customer"] for r in rows] == ["ACME", "GLOBEX"]
    assert rows[0] == {
        "customer": "ACME", "open": "1", "resolved": "2", "first_response_met": "1", "first_response_missed": "2",
        "next_response_met": "1", "next_response_missed": "0", "resolution_met": "1", "resolution_missed": "1",
        "median_first_response_minutes": "160.0", "csat_count": "2", "csat_mean": "4.5",
    }
    assert rows[1]["median_first_response_minutes"] == "" and rows[1]["csat_mean"] == ""


def test_cli_table_is_the_default(history_db: str) -> None:
    code, out, err = report(history_db)
    assert (code, err) == (0, "")
    assert "2026-10-26 – 2026-11-24" in out
    acme = next(line for line in out.splitlines() if "ACME" in line)
    for cell in ("1 met / 2 missed", "1 met / 1 missed", "160.0", "4.5 (2)"):
        assert cell in acme, cell
    assert any("olli" in line and "1" in line for line in out.splitlines())


@pytest.mark.parametrize(("args", "option"), [
    (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date"),
    (["--to", "tomorrow"], "--to: 'tomorrow' is not a date"),
    (["--from", "2026-11-20", "--to", "2026-11-01"], "--from: 2026-11-20 is after --to 2026-11-01"),
    (["--customer", "NOPE"], "--customer: no customer 'NOPE' (known customers: ACME, GLOBEX)"),
    (["--format", "xml"], "--format: 'xml' is not one of table, csv, json"),
])
def test_cli_bad_input_exits_1_naming_the_option(org_db: str, args: list[str], option: str) -> None:
    code, out, err = report(org_db, *args)
    assert (code, out) == (1, "")
    assert option in err
