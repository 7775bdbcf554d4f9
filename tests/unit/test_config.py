"""Org config validation: every problem names its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config
from tests.conftest import ORG_YAML


def raw() -> dict[str, Any]:
    return yaml.safe_load(ORG_YAML.read_text())


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_example_configs_are_valid() -> None:
    cfg = load_config(ORG_YAML)
    assert [c.key for c in cfg.customers] == ["ACME", "GLOBEX"]
    assert load_config(Path(__file__).parents[2] / "examples" / "chatdesk.yaml").customers


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["customers"][1].update(contract="gld"), "customers[1].contract: unknown contract 'gld'"),
        (lambda d: d["contracts"]["gold"].update(calendar="nope"), "contracts.gold.calendar: unknown calendar 'nope'"),
        (lambda d: d["customers"][0].update(colour="red"), "customers[0].colour: unknown key"),
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d["calendars"]["helsinki-office"]["hours"].update(mon=["08:00-25:00"]),
         "calendars.helsinki-office.hours.mon[0]"),
        (lambda d: d["calendars"]["helsinki-office"]["hours"].update(funday=["08:00-16:00"]),
         "calendars.helsinki-office.hours.funday"),
        (lambda d: d["calendars"]["helsinki-office"].update(timezone="Mars/Olympus"),
         "calendars.helsinki-office.timezone"),
        (lambda d: d["calendars"]["helsinki-office"]["hours"].update(fri=["13:00-12:00"]),
         "calendars.helsinki-office.hours.fri[0]"),
        (lambda d: d["contracts"]["gold"]["targets"].update(P9={"first_response": 1, "resolution": 2}),
         "contracts.gold.targets: unknown priority 'P9'"),
        (lambda d: d["contracts"]["gold"]["targets"]["P1"].update(first_response=-5),
         "contracts.gold.targets.P1.first_response"),
        (lambda d: d["contracts"]["gold"].update(warn_at=1.5), "contracts.gold.warn_at"),
        (lambda d: d["people"][1].update(role="boss"), "people[1].role"),
        (lambda d: d["people"].append({"id": "olli", "name": "O2", "role": "consultant"}),
         "people[3].id: duplicate person id 'olli'"),
        (lambda d: d["customers"][0].update(key="acme"), "customers[0].key"),
        (lambda d: d["customers"][1]["channels"].append({"platform": "slack", "team": "T", "channel": "C0ACME"}),
         "customers[1].channels[2]: channel already used by customers[0].channels[0]"),
        (lambda d: d["customers"][0]["channels"].append({"platform": "teams", "conversation": "19:x@thread.tacv2"}),
         "customers[0].channels[2]: a teams channel needs 'tenant'"),
        (lambda d: d["customers"][0]["channels"].append({"platform": "irc", "channel": "#x"}),
         "customers[0].channels[2].platform"),
        (lambda d: d["support_teams"]["support"]["members"].append("ghost"),
         "support_teams.support.members[2]: unknown person 'ghost'"),
        (lambda d: d["customers"][0].update(account_manager="ghost"), "customers[0].account_manager: unknown person"),
        (lambda d: d["board"].update(tokens=["short"]), "board.tokens"),
    ],
)
def test_problem_names_the_key(mutate: Any, expected: str) -> None:
    data = raw()
    mutate(data)
    found = problems(data)
    assert any(expected in p for p in found), found


def test_not_a_mapping() -> None:
    assert problems(["a", "b"]) == ["(top level): the config must be a mapping of calendars, contracts, customers, ..."]


def test_several_problems_are_all_reported() -> None:
    data = raw()
    data["customers"][0]["contract"] = "x"
    data["customers"][1]["contract"] = "y"
    assert len(problems(data)) == 2


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("customers:\n  - key: ACME\n    name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(bad) in info.value.problems[0] and "line" in info.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
