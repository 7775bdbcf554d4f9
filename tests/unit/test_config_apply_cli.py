"""`chatdesk config apply`: dry runs, pruning only on request, empty files refused, all problems at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from chatdesk.cli import app
from storage import db
from storage.models import ChannelBinding, Customer, Person
from tests.conftest import ORG_YAML


def raw() -> dict[str, Any]:
    return yaml.safe_load(ORG_YAML.read_text())


def apply(db_url: str, path: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["config", "apply", str(path), *args], env={"DATABASE_URL": db_url})


def write(tmp_path: Path, data: object, name: str = "org.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def counts(db_url: str) -> tuple[int, int, int]:
    async def body() -> tuple[int, int, int]:
        async with db.database(db_url):
            return (await Customer.all().count(), await Person.filter(active=True).count(),
                    await ChannelBinding.all().count())
    return asyncio.run(body())


def test_dry_run_prints_the_changes_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    result = apply(db_url, ORG_YAML, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would be created customer ACME" in result.stdout
    assert "nothing written" in result.stdout
    assert counts(db_url) == (0, 0, 0)
    assert apply(db_url, ORG_YAML).exit_code == 0
    assert counts(db_url)[0] == 2


@pytest.mark.parametrize("text", ["", "# nothing here\n", "calendars: {}\n"])
def test_empty_or_truncated_file_is_refused_and_changes_nothing(db_url: str, tmp_path: Path, text: str) -> None:
    assert apply(db_url, ORG_YAML).exit_code == 0
    before = counts(db_url)
    result = apply(db_url, write(tmp_path, text), "--prune")
    assert result.exit_code == 1
    assert "customers: the file lists no customers" in result.stderr
    assert "people: the file lists no people" in result.stderr
    assert counts(db_url) == before


def test_missing_entries_are_kept_unless_prune(db_url: str, tmp_path: Path) -> None:
    assert apply(db_url, ORG_YAML).exit_code == 0
    data = raw()
    data["people"] = [p for p in data["people"] if p["id"] != "sanna"]
    data["support_teams"]["support"]["members"] = ["olli"]
    data["triage"] = data["triage"][:1]
    smaller = write(tmp_path, data)
    kept = apply(db_url, smaller)
    assert kept.exit_code == 0, kept.output
    assert "kept person sanna (not in the file; --prune removes it)" in kept.stdout
    active_before = counts(db_url)
    assert active_before[1] == 3 and active_before[2] == 6
    dry = apply(db_url, smaller, "--prune", "--dry-run")
    assert "would be removed person sanna (deactivated)" in dry.stdout
    assert counts(db_url) == active_before
    pruned = apply(db_url, smaller, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "removed person sanna (deactivated)" in pruned.stdout
    assert counts(db_url)[1:] == (2, 5)


def test_every_calendar_problem_in_one_run(db_url: str, tmp_path: Path) -> None:
    data = raw()
    cal = data["calendars"]["helsinki-office"]
    cal["timezone"] = "Europe/Helsinky"
    cal["hours"]["mon"] = ["08:00-25:00"]
    cal["hours"]["tue"] = ["8-16"]
    cal["hours"]["funday"] = ["08:00-16:00"]
    cal["holidays"] = ["2026-12-24", "24.12.2026"]
    data["customers"][1]["contract"] = "gld"
    result = apply(db_url, write(tmp_path, data))
    assert result.exit_code == 1
    for expected in (
        "calendars.helsinki-office.timezone: unknown time zone 'Europe/Helsinky'",
        "calendars.helsinki-office.hours.mon[0]: end 25:00: hour 25 is out of range",
        "calendars.helsinki-office.hours.tue[0]: '8-16' is not a period",
        "calendars.helsinki-office.hours.funday: unknown weekday",
        "calendars.helsinki-office.holidays[1]: '24.12.2026' is not a date",
        "customers[1].contract: unknown contract 'gld'",
    ):
        assert expected in result.stderr, result.stderr
    assert counts(db_url) == (0, 0, 0)


def test_calendar_problems_beside_schema_problems(db_url: str, tmp_path: Path) -> None:
    data = raw()
    data["calendars"]["helsinki-office"]["timezone"] = "Nowhere/Land"
    data["people"][0]["role"] = "boss"
    result = apply(db_url, write(tmp_path, data))
    assert result.exit_code == 1
    assert "people[0].role" in result.stderr
    assert "calendars.helsinki-office.timezone: unknown time zone" in result.stderr
