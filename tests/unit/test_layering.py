"""bot/ and kb/ are the neutral core: they must never import a chat SDK, a mail library or aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("slack_bolt", "slack_sdk", "botbuilder", "aiohttp",
             "email", "imaplib", "smtplib", "aioimaplib", "aiosmtplib", "aiosmtpd")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.append(node.args[0].value)
    return names


def core_files() -> list[Path]:
    return sorted(p for d in ("bot", "kb") for p in (ROOT / d).rglob("*.py"))


def test_core_exists() -> None:
    assert len(core_files()) >= 5


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_chat_sdk(path: Path) -> None:
    bad = [m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom slack_sdk.web import WebClient\nimport importlib\nimportlib.import_module('aiohttp')\n")
    assert [m for m in imported_modules(sample) if m.split(".")[0] in FORBIDDEN] == ["slack_sdk.web", "aiohttp"]
