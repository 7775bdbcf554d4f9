"""`chatdesk sla due` (chatdesk/sla_cmd.py), against the README's command table."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from chatdesk import sla_cmd

DEADLINE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\n")

HELSINKI = """\
timezone: Europe/Helsinki
hours: {mon: ["08:00-16:00"], tue: ["08:00-16:00"], wed: ["08:00-16:00"],
        thu: ["08:00-16:00"], fri: ["08:00-12:00", "13:00-16:00"]}
holidays: ["2026-12-24", 2026-12-25]
"""

ORG_STYLE = """\
calendars:
  helsinki-office:
    timezone: Europe/Helsinki
    hours: {mon: ["08:00-16:00"], tue: ["08:00-16:00"], wed: ["08:00-16:00"],
            thu: ["08:00-16:00"], fri: ["08:00-12:00", "13:00-16:00"]}
    holidays: ["2026-12-24", "2026-12-25"]
"""

NEW_YORK_ALWAYS = """\
timezone: America/New_York
hours: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"], thu: ["00:00-24:00"],
        fri: ["00:00-24:00"], sat: ["00:00-24:00"], sun: ["00:00-24:00"]}
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    sla_cmd.register(app)
    return app


def write(tmp_path: Path, text: str, name: str = "calendar.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def due(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["sla", "due", *args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert DEADLINE.fullmatch(result.stdout), result.stdout
    return result.stdout.strip()


# --- happy paths ------------------------------------------------------------------------


def test_prints_one_line_ending_in_z(app: typer.Typer, tmp_path: Path) -> None:
    cal = write(tmp_path, HELSINKI)
    # Monday 2026-12-28 09:00 Helsinki + 90 minutes = 10:30 Helsinki = 08:30 UTC
    result = due(app, "--calendar", cal, "--start", "2026-12-28T09:00:00+02:00", "--minutes", "90")
    assert ok(result) == "2026-12-28T08:30:00Z"
    assert result.stdout.count("\n") == 1


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2026-12-28T07:00:00Z", "90", "2026-12-28T08:30:00Z"),  # Z suffix
        ("2026-12-28T09:00:00", "90", "2026-12-28T08:30:00Z"),  # no offset: the calendar's zone
        ("2026-12-23T15:00:00+02:00", "120", "2026-12-28T07:00:00Z"),  # across the holidays
        ("2026-12-23T15:00:00+02:00", "60", "2026-12-23T14:00:00Z"),  # lands on closing: stays
        ("2026-12-26T12:00:00+02:00", "0", "2026-12-28T06:00:00Z"),  # 0 outside hours: next opening
        ("2026-12-28T09:00:00+02:00", "0", "2026-12-28T07:00:00Z"),  # 0 inside hours: the start
        ("2026-12-23T16:00:00+02:00", "4800", "2027-01-11T08:00:00Z"),  # P4 resolution
        ("2026-12-28T09:00:00+02:00", "0.5", "2026-12-28T07:00:30Z"),  # fractions of a minute
        ("2026-12-28T09:00:00+02:00", "0.0083", "2026-12-28T07:00:00Z"),  # rounded to the second
    ],
)
def test_deadlines(app: typer.Typer, tmp_path: Path, start: str, minutes: str, expected: str) -> None:
    cal = write(tmp_path, HELSINKI)
    assert ok(due(app, "--calendar", cal, "--start", start, "--minutes", minutes)) == expected


def test_pauses_repeat(app: typer.Typer, tmp_path: Path) -> None:
    cal = write(tmp_path, HELSINKI)
    args = ["--calendar", cal, "--start", "2026-12-28T08:00:00+02:00", "--minutes", "120"]
    assert ok(due(app, *args)) == "2026-12-28T08:00:00Z"
    one = ["--pause", "2026-12-28T09:00:00+02:00/2026-12-28T09:30:00+02:00"]
    assert ok(due(app, *args, *one)) == "2026-12-28T08:30:00Z"
    # overlapping pauses count once; a pause given without offsets is in the calendar's zone
    two = [*one, "--pause", "2026-12-28T09:15/2026-12-28T10:00"]
    assert ok(due(app, *args, *two)) == "2026-12-28T09:00:00Z"
    # pause time at night changes nothing
    night = ["--pause", "2026-12-27T20:00:00Z/2026-12-28T06:00:00Z"]
    assert ok(due(app, *args, *night)) == "2026-12-28T08:00:00Z"


def test_accepts_calendars_with_one_entry(app: typer.Typer, tmp_path: Path) -> None:
    cal = write(tmp_path, ORG_STYLE)
    result = due(app, "--calendar", cal, "--start", "2026-12-28T09:00:00+02:00", "--minutes", "90")
    assert ok(result) == "2026-12-28T08:30:00Z"


def test_dst_start_in_the_gap_and_25_hour_day(app: typer.Typer, tmp_path: Path) -> None:
    cal = write(tmp_path, NEW_YORK_ALWAYS)
    # 02:30 does not exist in New York on 2026-03-08: the clock starts at 03:00 EDT
    assert ok(due(app, "--calendar", cal, "--start", "2026-03-08T02:30", "--minutes", "0")) == (
        "2026-03-08T07:00:00Z"
    )
    # 24 hours after Saturday noon EDT is Sunday 11:00 EST on the fall-back weekend
    assert ok(due(app, "--calendar", cal, "--start", "2026-10-31T12:00", "--minutes", "1440")) == (
        "2026-11-01T16:00:00Z"
    )


def test_help_lists_the_options(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["sla", "due", "--help"])
    assert result.exit_code == 0
    for option in ("--calendar", "--start", "--minutes", "--pause"):
        assert option in result.stdout


# --- bad input: exit 1, the key or value named on stderr, nothing on stdout -------------

GOOD_ARGS = {"--start": "2026-12-28T09:00:00+02:00", "--minutes": "90"}


@pytest.mark.parametrize(
    ("calendar_text", "overrides", "extra", "named"),
    [
        (None, {}, [], "--calendar"),  # missing file
        ("timezone: [unclosed\n", {}, [], "YAML"),
        ("- just\n- a list\n", {}, [], "expected a mapping"),
        (HELSINKI.replace('"13:00-16:00"', '"13:00-12:00"'), {}, [], "hours.fri[1]: end 12:00 is not after"),
        (HELSINKI.replace('"13:00-16:00"', '"11:00-16:00"'), {}, [], "hours.fri[1]"),
        (HELSINKI.replace('"08:00-16:00"', '"25:00-26:00"', 1), {}, [], "hours.mon[0]"),
        (HELSINKI.replace("Europe/Helsinki", "Europe/Atlantis"), {}, [], "timezone"),
        (HELSINKI.replace('"2026-12-24"', '"2026-12-32"'), {}, [], "holidays[0]"),
        (HELSINKI + "hourz: {}\n", {}, [], "hourz"),
        (HELSINKI.replace("hours:", "hours_:"), {}, [], "hours_"),
        ("timezone: UTC\nhours: {}\n", {}, [], "no business hours in any day"),
        (ORG_STYLE + "  always: {timezone: UTC, hours: {mon: ['00:00-24:00']}}\n", {}, [], "calendars"),
        (
            ORG_STYLE.replace('"13:00-16:00"', '"13:00-12:00"'),
            {},
            [],
            "calendars.helsinki-office.hours.fri[1]",
        ),
        (HELSINKI, {"--start": "yesterday"}, [], "'yesterday'"),
        (HELSINKI, {"--start": "2026-13-01T09:00"}, [], "--start"),
        (HELSINKI, {"--minutes": "-5"}, [], "--minutes"),
        (HELSINKI, {"--minutes": "abc"}, [], "'abc'"),
        (HELSINKI, {"--minutes": "nan"}, [], "--minutes"),
        (HELSINKI, {"--minutes": "1e12"}, [], "--minutes"),
        (HELSINKI, {}, ["--pause", "2026-12-28T10:00:00Z/2026-12-28T09:00:00Z"], "ends before it starts"),
        (HELSINKI, {}, ["--pause", "2026-12-28T10:00:00Z"], "--pause"),
        (HELSINKI, {}, ["--pause", "2026-12-28T10:00:00Z/later"], "'later'"),
        (HELSINKI, {"--start": None}, [], "--start"),
        (HELSINKI, {"--minutes": None}, [], "--minutes"),
    ],
)
def test_bad_input(
    app: typer.Typer,
    tmp_path: Path,
    calendar_text: str | None,
    overrides: dict[str, str | None],
    extra: list[str],
    named: str,
) -> None:
    cal = str(tmp_path / "missing.yaml") if calendar_text is None else write(tmp_path, calendar_text)
    options = {"--calendar": cal, **GOOD_ARGS, **overrides}
    args = [item for key, value in options.items() if value is not None for item in (key, value)]
    result = due(app, *args, *extra)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert named in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_calendar_option(app: typer.Typer) -> None:
    result = due(app, "--start", "2026-12-28T09:00:00Z", "--minutes", "5")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "--calendar" in result.stderr


def test_bad_yaml_names_the_line(app: typer.Typer, tmp_path: Path) -> None:
    cal = write(tmp_path, "timezone: UTC\nhours: {mon: [\n")
    result = due(app, "--calendar", cal, "--start", "2026-12-28T09:00:00Z", "--minutes", "5")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert cal in result.stderr
    assert "line" in result.stderr
