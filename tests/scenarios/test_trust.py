"""Trust boundaries: who may act, and where chatdesk is willing to send what it knows.

Each test plays one probe an outsider would try: an unauthenticated Teams activity, a
token that does not vouch for its serviceUrl, another tenant's ids, a user of one
customer's workspace in another customer's channel, a guessed board token.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.teams.config import TeamsConfigError
from bot.clock import FakeClock
from chatdesk.server import build_app
from chatdesk.settings import Settings, SettingsError
from storage.models import AuditEvent, Contact, ConversationReference, Message, Ticket
from tests.conftest import ORG_YAML
from tests.scenarios.slack_harness import SlackWorld, slack_world
from tests.scenarios.teams_harness import TENANT, TeamsWorld

APP_ID = "0a1b2c3d-1111-4222-8333-444455556666"
GLOBEX_TENANT = "9e8d7c6b-5a49-4838-a726-150493827160"
KEY_ID = "test-signing-key"


async def counts() -> tuple[int, int, int, int]:
    return (await Ticket.all().count(), await Message.all().count(), await Contact.all().count(),
            await ConversationReference.all().count())


# -- Teams: no route without an app id, the emulator only on loopback --------------------------------


async def test_without_an_app_id_there_is_no_teams_route(database: str, clock: FakeClock) -> None:
    app = build_app(Settings(database_url=database, slack_bot_token="xoxb-1", slack_signing_secret="s" * 12),
                    clock, manage_db=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        from tests.scenarios.teams_harness import fixture

        activity = {**fixture("channel_message_top_level"), "serviceUrl": "http://127.0.0.1:9/teams/"}
        response = await client.post("/api/messages", json=activity)
        assert response.status == 404
    assert await counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "chatdesk.example.com"])
def test_the_emulator_is_refused_unless_the_server_listens_on_loopback(database: str, clock: FakeClock,
                                                                        host: str) -> None:
    with pytest.raises(TeamsConfigError, match="loopback"):
        build_app(Settings(database_url=database, teams_emulator=True, host=host), clock, manage_db=False,
                  run_workers=False)


def test_the_emulator_warns_on_every_start(database: str, clock: FakeClock,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chatdesk.teams"):
        build_app(Settings(database_url=database, teams_emulator=True, host="127.0.0.1"), clock, manage_db=False,
                  run_workers=False)
    assert any(r.levelno == logging.WARNING and "EMULATOR MODE" in r.getMessage() for r in caplog.records)


def test_the_emulator_switch_is_read_from_the_environment() -> None:
    assert Settings.from_env({"CHATDESK_TEAMS_EMULATOR": "1"}).teams_emulator is True
    assert Settings.from_env({}).teams_emulator is False
    with pytest.raises(SettingsError, match="CHATDESK_TEAMS_EMULATOR"):
        Settings.from_env({"CHATDESK_TEAMS_EMULATOR": "maybe"})


@pytest.fixture
async def emulator(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    world = await TeamsWorld(clock, database).start()
    yield world
    await world.close()


@pytest.mark.parametrize("service_url", ["https://evil.example/teams/", "https://smba.trafficmanager.net/emea/",
                                         "http://10.0.0.8/teams/", "http://127.0.0.1.evil.example/"])
async def test_the_emulator_accepts_only_loopback_service_urls(emulator: TeamsWorld, service_url: str) -> None:
    for name in ("channel_message_top_level", "conversation_update_installed", "personal_chat_command"):
        assert await emulator.post(emulator.activity(name, serviceUrl=service_url)) == 403
    assert await counts() == (0, 0, 0, 0)
    assert emulator.connector.calls == []


async def test_a_foreign_service_url_never_replaces_a_stored_reference(emulator: TeamsWorld) -> None:
    assert await emulator.post(emulator.activity("conversation_update_installed")) == 200
    before = {r.key: r.reference for r in await ConversationReference.all()}
    assert before
    hostile = emulator.activity("conversation_update_installed", serviceUrl="https://evil.example/")
    assert await emulator.post(hostile) == 403
    other_tenant = emulator.activity("conversation_update_installed")
    other_tenant["channelData"]["tenant"]["id"] = GLOBEX_TENANT
    other_tenant["conversation"]["tenantId"] = GLOBEX_TENANT
    other_tenant["serviceUrl"] = emulator.connector.service_url + "other/"
    assert await emulator.post(other_tenant) == 200
    after = {r.key: r.reference for r in await ConversationReference.all() if not r.key.startswith("tenant:" +
                                                                                                  GLOBEX_TENANT)}
    assert after == before


# -- Teams: another tenant's ids ---------------------------------------------------------------------


def in_tenant(activity: dict[str, Any], tenant: str) -> dict[str, Any]:
    activity = copy.deepcopy(activity)
    activity["conversation"]["tenantId"] = tenant
    activity["channelData"]["tenant"]["id"] = tenant
    return activity


async def test_an_activity_from_another_tenant_does_not_count_for_the_channel(emulator: TeamsWorld) -> None:
    foreign = in_tenant(emulator.message("channel_message_top_level", "Please reset the VPN"), GLOBEX_TENANT)
    assert await emulator.post(foreign) == 200
    assert (await Ticket.all().count(), await Contact.all().count()) == (0, 0)

    assert await emulator.post(emulator.message("channel_message_top_level", "VPN drops in Oulu")) == 200
    (ticket,) = await Ticket.all()
    await emulator.deliver()
    emulator.connector.take()
    show = in_tenant(emulator.message("mention_command", f"<at>Helpdesk</at> show {ticket.key}"), GLOBEX_TENANT)
    assert await emulator.post(show) == 200
    await emulator.deliver()
    answers = emulator.connector.take()
    assert answers and all("VPN drops" not in call.text for call in answers)
    assert any("not allowed" in call.text for call in answers)
    assert await Contact.all().count() == 1  # only ACME's own contact


async def test_two_tenant_ids_that_disagree_are_malformed(emulator: TeamsWorld) -> None:
    activity = emulator.activity("channel_message_top_level")
    activity["conversation"]["tenantId"] = GLOBEX_TENANT
    assert activity["channelData"]["tenant"]["id"] == TENANT
    assert await emulator.post(activity) == 400
    assert await counts() == (0, 0, 0, 0)


# -- Teams with an app id: the token must vouch for the serviceUrl ------------------------------------


@pytest.fixture
def signing_key() -> Iterator[rsa.RSAPrivateKey]:
    """Bot Framework's OpenID keys replaced by one of ours, so real signed tokens can be made here."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    class Published:  # what botframework's OpenID metadata cache hands its token validator
        public_key = key.public_key()
        endorsements = ["msteams"]

    async def get(self: object, key_id: str) -> Published | None:
        return Published() if key_id == KEY_ID else None

    with mock.patch("botframework.connector.auth.jwt_token_extractor._OpenIdMetadata.get", get):
        yield key


def channel_token(key: rsa.RSAPrivateKey, service_url: str, audience: str = APP_ID) -> str:
    now = int(time.time())
    claims = {"iss": "https://api.botframework.com", "aud": audience, "serviceurl": service_url,
              "nbf": now - 60, "exp": now + 3600, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})


@pytest.fixture
async def authenticated(database: str, clock: FakeClock, signing_key: rsa.RSAPrivateKey
                        ) -> AsyncIterator[tuple[TeamsWorld, rsa.RSAPrivateKey]]:
    world = await TeamsWorld(clock, database, app_id=APP_ID, app_password="secret").start()
    yield world, signing_key
    await world.close()


async def test_a_valid_token_for_the_activitys_service_url_is_accepted(
        authenticated: tuple[TeamsWorld, rsa.RSAPrivateKey]) -> None:
    world, key = authenticated
    activity = world.activity("channel_message_top_level")
    token = channel_token(key, activity["serviceUrl"])
    assert await world.post(activity, headers={"Authorization": f"Bearer {token}"}) == 200
    assert await Ticket.all().count() == 1


async def test_a_token_that_vouches_for_another_service_url_is_refused(
        authenticated: tuple[TeamsWorld, rsa.RSAPrivateKey]) -> None:
    world, key = authenticated
    for name in ("channel_message_top_level", "conversation_update_installed"):
        activity = world.activity(name, serviceUrl="https://evil.example/teams/")
        token = channel_token(key, "https://smba.trafficmanager.net/emea/")
        assert await world.post(activity, headers={"Authorization": f"Bearer {token}"}) == 401
    assert await counts() == (0, 0, 0, 0)
    assert world.connector.calls == []


async def test_a_token_for_another_bot_is_refused(authenticated: tuple[TeamsWorld, rsa.RSAPrivateKey]) -> None:
    world, key = authenticated
    activity = world.activity("channel_message_top_level")
    token = channel_token(key, activity["serviceUrl"], audience="another-bot-app-id")
    assert await world.post(activity, headers={"Authorization": f"Bearer {token}"}) == 401
    assert await counts() == (0, 0, 0, 0)


# -- Slack: a contact counts only for their own workspace's customer ----------------------------------


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as world:
        yield world


def from_workspace(payload: dict[str, Any], team: str, user: str, ts: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    event = payload["event"]
    event.update(user=user, team=team, user_team=team, source_team=team, ts=ts, event_ts=ts,
                 client_msg_id=str(uuid.uuid4()))
    event["user_profile"]["team"] = team
    payload["event_id"] = f"Ev{uuid.uuid4().hex[:10]}"
    return payload


async def test_a_user_of_another_customers_workspace_opens_nothing(slack: SlackWorld) -> None:
    globex_user = from_workspace(slack.fixture("message_in_shared_channel.json"), "T0GLOBEX", "UGLOBEX9",
                                 "1795417301.000100")
    assert (await slack.http.event(globex_user)).status == 200
    assert (await Ticket.all().count(), await Contact.all().count()) == (0, 0)
    home_stranger = from_workspace(slack.fixture("message_in_shared_channel.json"), "T0HOME", "UHOME99",
                                   "1795417302.000100")
    assert (await slack.http.event(home_stranger)).status == 200
    assert (await Ticket.all().count(), await Contact.all().count()) == (0, 0)
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    assert (await Ticket.all().count(), await Contact.all().count()) == (1, 1)


async def test_a_user_of_another_customers_workspace_cannot_approve(slack: SlackWorld) -> None:
    from tests.scenarios.test_process_slack import press

    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    for text in ("type ACME-1 change_request", 'estimate ACME-1 6h "VPN profile for Oulu"'):
        assert (await slack.http.command(slack.command(text, user="U0OLLI"))).status == 200
    await slack.drain()
    card = next(p for p in slack.api.posts("C0ACME") if "Approve" in str(p.get("blocks")))
    audit_before = await AuditEvent.all().count()
    intruder = {"id": "UGLOBEX9", "username": "gus", "name": "gus", "team_id": "T0GLOBEX"}
    assert (await slack.http.interaction(press(slack, card, "Approve", intruder, "1.9.gus"))).status == 200
    ticket = await Ticket.get(key="ACME-1")
    assert (ticket.status, ticket.approval) == ("awaiting_approval", "pending")
    assert await AuditEvent.all().count() == audit_before
    assert await Contact.filter(user_id="UGLOBEX9").count() == 0


# -- the board -----------------------------------------------------------------------------------------

BOARD_TOKEN = "test-board-token-0123456789"  # tests/fixtures/org.yaml


@pytest.fixture
async def board(database: str, clock: FakeClock) -> AsyncIterator[TestClient[Any, Any]]:
    app = build_app(Settings(database_url=database, config_path=ORG_YAML), clock, manage_db=False,
                    run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_token_in_the_url_is_swapped_for_a_session_cookie(board: TestClient[Any, Any]) -> None:
    response = await board.get("/board", params={"token": BOARD_TOKEN}, allow_redirects=False)
    assert response.status == 303
    assert "token" not in response.headers["Location"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and BOARD_TOKEN not in cookie
    page = await board.get("/board")  # the client keeps the cookie, as a browser does
    assert page.status == 200
    html = await page.text()
    assert BOARD_TOKEN not in html and "<section class=column" in html
    assert (await board.get("/board.json")).status == 200


async def test_a_forged_session_cookie_is_refused(board: TestClient[Any, Any]) -> None:
    board.session.cookie_jar.update_cookies({"chatdesk_board": "0" * 64})
    assert (await board.get("/board.json")).status == 401


async def test_failed_board_logins_are_limited_per_client(board: TestClient[Any, Any], clock: FakeClock) -> None:
    for i in range(10):
        assert (await board.get("/board.json", headers={"Authorization": f"Bearer guess-{i}"})).status == 401
    limited = await board.get("/board.json", headers={"Authorization": f"Bearer {BOARD_TOKEN}"})
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    clock.advance(seconds=61)
    assert (await board.get("/board.json", headers={"Authorization": f"Bearer {BOARD_TOKEN}"})).status == 200


async def test_board_tokens_never_reach_the_logs(database: str, clock: FakeClock) -> None:
    import io

    from chatdesk import logs

    settings = Settings(database_url=database, config_path=ORG_YAML)
    stream = io.StringIO()
    handler = logs.configure(settings, stream=stream)
    try:
        app = build_app(settings, clock, manage_db=False, run_workers=False)
        async with TestClient(TestServer(app)) as client:
            encoded = "".join(f"%{b:02X}" for b in BOARD_TOKEN.encode())
            await client.get(f"/board?token={encoded}", allow_redirects=False)
            await client.get(f"/board?token={BOARD_TOKEN}&x=" + "a" * 9000, allow_redirects=False)
            await client.get("/board.json?token=some-other-guess-0000")
            logging.getLogger("aiohttp.server").error("Error handling request", exc_info=ValueError(
                f"Got more than 8190 bytes when reading: GET /board?token={BOARD_TOKEN}&..."))
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "/board" in text  # the requests were logged, without the tokens
    assert BOARD_TOKEN not in text
    assert "%74%65%73%74" not in text.upper()
    assert "some-other-guess" not in text


# -- serve --host ----------------------------------------------------------------------------------------


def test_serve_takes_a_host() -> None:
    from typer.testing import CliRunner

    from chatdesk.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--host" in result.output


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_env(database: str, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "CHATDESK_"))}
    env.update(DATABASE_URL=database, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s" * 16,
               SLACK_API_URL="http://127.0.0.1:9/api/", **extra)
    return env


def test_chatdesk_serve_with_only_slack_has_no_teams_route(sqlite_template: Any, tmp_path: Any) -> None:
    import shutil
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    path = tmp_path / "serve.sqlite3"
    shutil.copy(sqlite_template, path)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "chatdesk.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], env=_serve_env(f"sqlite://{path}"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as ok:
                    assert ok.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "chatdesk serve did not start"
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/messages", method="POST",
                                         data=b'{"type": "message"}', headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chatdesk_serve_refuses_the_emulator_on_all_addresses(sqlite_template: Any, tmp_path: Any) -> None:
    import shutil
    import subprocess
    import sys

    path = tmp_path / "serve.sqlite3"
    shutil.copy(sqlite_template, path)
    result = subprocess.run([sys.executable, "-m", "chatdesk.cli", "serve", "--port", str(_free_port())],
                            env=_serve_env(f"sqlite://{path}", CHATDESK_TEAMS_EMULATOR="1"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "loopback" in result.stderr and "Traceback" not in result.stderr


# -- kb import -----------------------------------------------------------------------------------------


def test_kb_import_follows_no_link_out_of_the_folder_and_reads_only_markdown(tmp_path: Any) -> None:
    from kb.importer import collect, read_articles

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\nroot password is hunter2\n")
    (outside / "passwd").write_text("root:x:0:0\n")
    kb = tmp_path / "kb"
    (kb / "sub").mkdir(parents=True)
    (kb / "vpn.md").write_text("# Reset the VPN\nSteps.\n")
    (kb / "sub" / "inner.md").write_text("# Inner\nText.\n")
    (kb / "notes.txt").write_text("# Not an article\n")
    (kb / "linked.md").symlink_to(outside / "secret.md")
    (kb / "passwd.md").symlink_to(outside / "passwd")
    (kb / "alias.md").symlink_to(kb / "vpn.md")  # inside the folder: fine
    (kb / "elsewhere").symlink_to(outside, target_is_directory=True)
    files = collect([kb])
    assert sorted(f.name for f in files) == ["inner.md", "vpn.md"]
    articles, skipped = read_articles(collect([kb, kb / "notes.txt"]))
    assert sorted(a.title for a in articles) == ["Inner", "Reset the VPN"]
    assert [s.reason for s in skipped] == ["not a Markdown file (.md)"]
    assert all("hunter2" not in a.body for a in articles)
