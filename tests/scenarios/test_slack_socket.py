"""`chatdesk socket`: the same listeners over Socket Mode, with the outbox worker beside them."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from typer.testing import CliRunner

from bot.clock import FakeClock
from chatdesk.cli import app as cli
from chatdesk.settings import Settings
from chatdesk.slack_cmd import run_socket_mode
from storage.models import Ticket
from tests.scenarios.slack_harness import BOT_TOKEN, FakeSlackApi, fixture_text, load

APP_TOKEN = "xapp-1-A0CHATDESK-8086000000000-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


async def test_socket_mode_serves_events_and_commands(database: str, clock: FakeClock) -> None:
    api = await FakeSlackApi().start()
    api.socket_url = api.websocket_url
    settings = Settings(database_url=database, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN,
                        slack_api_url=api.url)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_socket_mode(settings, stop, clock=clock, manage_db=False))
    try:
        await asyncio.wait_for(api.socket_connected.wait(), timeout=5)
        await api.socket_envelopes.put({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                                        "retry_attempt": 0, "retry_reason": "",
                                        "payload": load("message_in_shared_channel.json")})
        await api.socket_ack("env-1")
        ticket = await Ticket.get(key="ACME-1")
        assert ticket.thread == "1795417201.000100"
        for _ in range(100):  # the outbox worker runs beside the socket
            if api.posts("C0ACME") and api.posts("C0TRIAGE"):
                break
            await asyncio.sleep(0.05)
        assert api.posts("C0ACME")[0]["thread_ts"] == "1795417201.000100"

        form = dict(parse_qsl(fixture_text("slash_command.txt")))
        await api.socket_envelopes.put({"envelope_id": "env-2", "type": "slash_commands",
                                        "accepts_response_payload": True, "payload": form})
        ack = await api.socket_ack("env-2")
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "ACME-1 priority P3 → P1" in ack["payload"]["text"]
        assert (await Ticket.get(key="ACME-1")).priority == "P1"
        opened = [c for c in api.calls if c.method == "apps.connections.open"]
        assert opened and opened[0].authorization == f"Bearer {APP_TOKEN}"
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=15)
        await api.close()


@pytest.mark.parametrize(("env", "message"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_APP_TOKEN is not set"),
    ({"SLACK_APP_TOKEN": APP_TOKEN}, "SLACK_BOT_TOKEN is not set"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "an app-level token starts with xapp-"),
])
def test_socket_needs_both_tokens(env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "CHATDESK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["socket"], env=env)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
