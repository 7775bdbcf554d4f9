"""botbuilder stays inside adapters/teams (so the Microsoft 365 Agents SDK can replace it there alone)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[2]
SDK = ("botbuilder", "botframework")
SDK_FREE_IN_ADAPTER = ("inbound.py", "render.py", "references.py")


def python_files() -> list[Path]:
    folders = ("bot", "kb", "storage", "chatdesk", "adapters", "tests", "manifest", "scripts")
    return [p for folder in folders if (ROOT / folder).is_dir() for p in (ROOT / folder).rglob("*.py")]


def test_no_botbuilder_import_outside_the_teams_adapter() -> None:
    teams = ROOT / "adapters" / "teams"
    offenders = [str(p.relative_to(ROOT)) for p in python_files()
                 if teams not in p.parents and any(m.split(".")[0] in SDK for m in imported_modules(p))]
    assert offenders == []


def test_translation_and_rendering_need_no_sdk() -> None:
    for name in SDK_FREE_IN_ADAPTER:
        path = ROOT / "adapters" / "teams" / name
        assert not [m for m in imported_modules(path) if m.split(".")[0] in SDK], name
