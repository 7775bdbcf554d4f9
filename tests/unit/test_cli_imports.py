"""Start-up: `chatdesk --help` and `chatdesk sla due` load only what they use.

Neither loads the chat SDKs, the ORM, asyncio, pydantic (typer >= 0.29 builds a pydantic
validator for every option, about half of `sla due`'s start-up) or rich; `--help` does not
load the calendar code (zoneinfo, yaml) either, and `sla due` imports no other command module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("slack_bolt", "slack_sdk", "botbuilder", "aiohttp", "tortoise", "rapidfuzz", "numpy", "adapters", "kb",
         "storage", "asyncio", "pydantic", "pydantic_core", "pydantic_settings", "rich", "logging")
NOT_FOR_HELP = ("yaml", "zoneinfo", "bot.sla", "bot.hours", "csv", "zipfile")
OTHER_COMMANDS = ("chatdesk.kb_cmd", "chatdesk.hours_cmd", "chatdesk.mail_cmd", "chatdesk.reminders_cmd",
                  "chatdesk.report_cmd", "chatdesk.slack_cmd", "chatdesk.teams_cmd")
PROBE = """
import json, sys
sys.argv = ["chatdesk", *json.loads(sys.argv[1])]
try:
    from chatdesk.cli import main
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def modules_after(args: list[str]) -> set[str]:
    """The modules (top-level and dotted) loaded by running the CLI with `args` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def unwanted(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (a package also counts when only one of its submodules is loaded) were loaded."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in loaded))


def test_help_loads_only_the_command_table() -> None:
    loaded = modules_after(["--help"])
    assert "typer" in loaded and "chatdesk.sla_cmd" in loaded  # the probe did run the CLI
    assert unwanted(loaded, HEAVY + NOT_FOR_HELP) == []


@pytest.mark.parametrize("extra", [[], ["--pause", "2026-12-28T10:00:00+02:00/2026-12-28T11:00:00+02:00"]])
def test_sla_due_loads_only_the_calendar_code(tmp_path: Path, extra: list[str]) -> None:
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text('timezone: Europe/Helsinki\nhours: {mon: ["08:00-16:00"]}\n', encoding="utf-8")
    loaded = modules_after(["sla", "due", "--calendar", str(calendar), "--start", "2026-12-28T09:00:00+02:00",
                            "--minutes", "90", *extra])
    assert "yaml" in loaded and "bot.sla" in loaded  # it did read the calendar and compute
    assert unwanted(loaded, HEAVY + OTHER_COMMANDS) == []
