"""Start-up: `chatdesk --help` and `chatdesk sla due` load neither the chat SDKs nor the ORM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("slack_bolt", "slack_sdk", "botbuilder", "aiohttp", "tortoise", "rapidfuzz", "numpy", "adapters", "kb",
         "storage")
PROBE = """
import json, sys
sys.argv = ["chatdesk", *json.loads(sys.argv[1])]
try:
    from chatdesk.cli import main
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})) + "\\n")
"""


def modules_after(args: list[str]) -> set[str]:
    """The top-level modules loaded by running the CLI with `args` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_loads_no_chat_sdk_nor_orm() -> None:
    loaded = modules_after(["--help"])
    assert "typer" in loaded  # the probe did run the CLI
    assert sorted(loaded & set(HEAVY)) == []


@pytest.mark.parametrize("extra", [[], ["--pause", "2026-12-28T10:00:00+02:00/2026-12-28T11:00:00+02:00"]])
def test_sla_due_loads_no_chat_sdk_nor_orm(tmp_path: Path, extra: list[str]) -> None:
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text('timezone: Europe/Helsinki\nhours: {mon: ["08:00-16:00"]}\n', encoding="utf-8")
    loaded = modules_after(["sla", "due", "--calendar", str(calendar), "--start", "2026-12-28T09:00:00+02:00",
                            "--minutes", "90", *extra])
    assert "yaml" in loaded and "bot" in loaded  # it did read the calendar and compute
    assert sorted(loaded & set(HEAVY)) == []
