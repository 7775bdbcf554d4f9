"""The README's walk-through works as written in a fresh clone."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import load_config, parse_config

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_config_is_valid_and_its_board_token_matches_the_example() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert blocks, "the README shows an org config"
    shown = parse_config(yaml.safe_load(blocks[0]))
    example = load_config(ROOT / "examples" / "chatdesk.yaml")
    assert shown.board.tokens == example.board.tokens


def test_piped_commands_name_the_venv() -> None:
    piped = re.findall(r"(?:printf|echo|cat) [^|`]*\|\s*(\S*chatdesk)\b", README)
    assert piped and all(cmd.startswith(".venv/bin/") for cmd in piped), piped


def test_license_is_an_spdx_string() -> None:
    assert re.search(r'^license = "MIT"$', (ROOT / "pyproject.toml").read_text(), re.M)
