"""manifest/slack/manifest.yaml is a valid Slack app manifest and names what adapters/slack/app.py serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.slack import app as slack_app
from bot.core import Helpdesk
from chatdesk.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest" / "slack" / "manifest.yaml"
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"

# The scopes each subscribed event needs (Slack's event reference).
EVENT_SCOPES = {
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "app_mention": {"app_mentions:read"},
    "member_joined_channel": {"channels:read", "groups:read"},
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert manifest["_metadata"]["major_version"] == 1  # so schema 1.0.0 is the one that applies
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_schema_catches_a_broken_manifest(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = {**manifest, "features": {**manifest["features"], "slash_commands": [{"command": "helpdesk"}]}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_slash_command_matches_the_app(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [slack_app.SLASH_COMMAND]
    assert commands[0]["usage_hint"]
    assert commands[0]["should_escape"] is True  # mentions arrive as <@U123|name>


def test_shortcuts_match_the_app(manifest: dict[str, Any]) -> None:
    shortcuts = manifest["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == set(slack_app.SHORTCUTS)
    assert all(s["type"] == "message" for s in shortcuts)


def test_events_match_the_app(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) == set(slack_app.BOT_EVENTS)
    assert {e.split(".")[0] for e in events} == set(slack_app.EVENT_TYPES)


def _adapter() -> slack_app.SlackAdapter:
    settings = Settings(slack_bot_token="xoxb-test", slack_signing_secret="secret")
    return slack_app.SlackAdapter(settings.slack(), Helpdesk())


async def _listeners_for(adapter: slack_app.SlackAdapter, body: dict[str, Any]) -> list[str]:
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    names = []
    for listener in adapter.bolt._async_listeners:
        if await listener.async_matches(req=request, resp=BoltResponse(status=200)):
            names.append(listener.ack_function.__name__)
    return names


async def test_the_app_listens_to_what_the_manifest_declares(manifest: dict[str, Any]) -> None:
    adapter = _adapter()
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        base = event.split(".")[0]
        body = {"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
                "event": {"type": base, "channel": "C1", "user": "U1", "ts": "1.1"}}
        assert (await _listeners_for(adapter, body))[0] == ("on_message" if base == "message" else "on_ignored_event")
    for command in manifest["features"]["slash_commands"]:
        body = {"command": command["command"], "text": "help", "team_id": "T1", "user_id": "U1",
                "channel_id": "C1", "trigger_id": "1.2.3"}
        assert await _listeners_for(adapter, body) == ["on_command"]
    expected = {slack_app.SHORTCUT_CREATE_TICKET: "on_create_ticket", slack_app.SHORTCUT_ADD_TO_TICKET: "on_add_to_ticket"}
    for shortcut in manifest["features"]["shortcuts"]:
        body = {"type": "message_action", "callback_id": shortcut["callback_id"], "trigger_id": "1.2.3",
                "team": {"id": "T1"}, "user": {"id": "U1"}, "channel": {"id": "C1"}, "message": {"ts": "1.1"}}
        assert await _listeners_for(adapter, body) == [expected[shortcut["callback_id"]]]


def test_scopes_cover_events_and_features(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert EVENT_SCOPES[event] <= scopes, event
    assert {"chat:write", "commands", "files:read", "users:read", "im:write"} <= scopes


def test_every_request_url_is_the_events_path(manifest: dict[str, Any]) -> None:
    urls = [manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"],
            *(c["url"] for c in manifest["features"]["slash_commands"])]
    assert {urlsplit(u).path for u in urls} == {slack_app.EVENTS_PATH}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert isinstance(manifest["settings"]["socket_mode_enabled"], bool)
