"""The test org on the intake defaults: tests/fixtures/org.yaml without its `intake:` key (which turns
grouping off for the other stories), plus any intake keys a test sets."""

from __future__ import annotations

from typing import Any

import yaml

from bot.config import parse_config
from storage.config_apply import apply_config
from tests.conftest import ORG_YAML


def org(customer_intake: dict[str, dict[str, Any]] | None = None, **intake_keys: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ORG_YAML.read_text(encoding="utf-8"))
    data.pop("intake", None)
    if intake_keys:
        data["intake"] = intake_keys
    for customer in data["customers"]:
        if customer_intake and customer["key"] in customer_intake:
            customer["intake"] = customer_intake[customer["key"]]
    return data


async def apply_org(customer_intake: dict[str, dict[str, Any]] | None = None, **intake_keys: Any) -> None:
    await apply_config(parse_config(org(customer_intake, **intake_keys)))
