"""Every kind of card chatdesk sends passes Adaptive Cards' own validateProperties() (no duplicate ids)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.teams.render import card
from bot.types import Button, Field, Reply
from bot.views import agent_buttons

ROOT = Path(__file__).parents[2]
MODULES = Path(os.environ.get("ADAPTIVECARDS_NODE_MODULES") or ROOT / ".node" / "node_modules")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (MODULES / "adaptivecards").is_dir(),
    reason="node and the adaptivecards npm package are needed (make test installs them into .node/)")


def validate(cards: list[dict[str, object]]) -> list[list[str]]:
    done = subprocess.run([str(NODE), str(ROOT / "tests" / "js" / "check_cards.js")], input=json.dumps(cards),
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "ADAPTIVECARDS_NODE_MODULES": str(MODULES)})
    return json.loads(done.stdout)


def test_the_validator_catches_duplicate_ids() -> None:
    dup = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Input.Text", "id": "input"},
                                                             {"type": "Input.Text", "id": "input"}]}
    assert validate([dup]) == [['DuplicateId: Duplicate Id "input".']]


def test_chatdesk_cards_are_valid() -> None:
    replies = [
        Reply("New ticket ACME-7", title="ACME-7: VPN down", fields=(Field("Customer", "Acme Oy"),),
              buttons=agent_buttons("ACME-7")),
        Reply("ACME-7", title="ACME-7", buttons=(Button("Solved it", "kb solved ACME-7 vpn"),
                                                 Button("Reply", "reply ACME-7", needs_input="Your reply"),
                                                 Button("Note", "note ACME-7", needs_input="Internal note"))),
        Reply("SLA for ACME-7", fields=(Field("first response", "3h 10m business time left"),)),
    ]
    results = validate([card(r) for r in replies])
    assert results == [[] for _ in replies], results
