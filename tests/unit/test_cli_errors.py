"""A broken database is one line naming the fix and exit 1; the traceback only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatdesk.errors import explain


def chatdesk(*args: str, url: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "CHATDESK_CONFIG": ""}
    return subprocess.run([sys.executable, "-m", "chatdesk.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60, check=False)


@pytest.mark.parametrize("args", [("tickets", "list"), ("audit", "ACME-1"), ("console", "--as", "lead:maija")])
def test_unmigrated_database_is_one_line_with_the_fix(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = chatdesk(*args, url=f"sqlite://{tmp_path}/fresh.sqlite3", cwd=tmp_path, stdin="/helpdesk help\n")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: database not migrated: run chatdesk db migrate", done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    done = chatdesk("tickets", "list", url="postgres://u:p@127.0.0.1:9/none", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "check the URL" in lines[0], done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = chatdesk("--debug", "tickets", "list", url=f"sqlite://{tmp_path}/fresh.sqlite3", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "no such table" in done.stderr


def test_unknown_errors_point_at_debug() -> None:
    assert explain(RuntimeError("boom\nmore")) == "boom (run again with --debug for the details)"
