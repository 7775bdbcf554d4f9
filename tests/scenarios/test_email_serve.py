"""`chatdesk serve` reads the mailbox when CHATDESK_IMAP_URL is set; `chatdesk mail --once` does it from cron."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FakeClock
from bot.config import parse_config
from chatdesk.server import build_app
from chatdesk.settings import Settings
from storage.config_apply import apply_config
from storage.models import Ticket
from tests.conftest import ORG_YAML
from tests.scenarios.mail_harness import IMAP_PORT, MailWorld, mail, make_world, world_env

pytestmark = pytest.mark.skipif(not IMAP_PORT, reason="TEST_IMAP_PORT not set (make test starts dovecot)")
ROOT = Path(__file__).resolve().parents[2]


def mail_org() -> dict:
    data = yaml.safe_load(ORG_YAML.read_text())
    data["customers"][0]["email_domains"] = ["acme.fi"]
    return data


@pytest.fixture
async def slow_poll_world(database: str, clock: FakeClock) -> AsyncIterator[MailWorld]:
    await apply_config(parse_config(mail_org()))
    w = await make_world(clock, poll_seconds=600)  # only IDLE can notice new mail within the test
    try:
        yield w
    finally:
        w.stop()


async def test_serve_reads_new_mail_at_once_through_idle(slow_poll_world: MailWorld, database: str,
                                                         clock: FakeClock) -> None:
    w = slow_poll_world
    settings = Settings.from_env({**world_env, "DATABASE_URL": database, "CHATDESK_CONFIG": str(ORG_YAML)})
    assert settings.mail() == w.settings
    app = build_app(settings, clock, manage_db=False, run_workers=True)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with client.get("/healthz") as resp:
            assert "email" in (await resp.json())["adapters"]
        await asyncio.sleep(1.0)  # the poller has read the empty folder and waits in IDLE
        await w.deliver_to_mailbox(mail("Matti <matti@acme.fi>", "Printer on fire", "Really."))
        for _ in range(100):
            if w.sink.mails:
                break
            await asyncio.sleep(0.1)
    assert await Ticket.filter(key="ACME-1", platform="email").exists()
    assert [m["Subject"] for m in w.sink.mails] == ["[ACME-1] Printer on fire"]


async def test_mail_once_from_the_command_line(database: str, clock: FakeClock, tmp_path: Path) -> None:
    w = await make_world(clock)
    try:
        config = tmp_path / "org.yaml"
        config.write_text(yaml.safe_dump(mail_org()))
        env = {**os.environ, **world_env, "DATABASE_URL": database, "CHATDESK_CONFIG": str(config)}
        chatdesk = [sys.executable, "-m", "chatdesk.cli"]
        applied = subprocess.run([*chatdesk, "config", "apply", str(config)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert applied.returncode == 0, applied.stderr
        await w.deliver_to_mailbox(mail("Matti <matti@acme.fi>", "VPN", "Down again."))
        done = await asyncio.to_thread(subprocess.run, [*chatdesk, "mail", "--once"], env=env, cwd=ROOT,
                                       capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "mail: 1 opened; 1 mail(s) sent" in done.stdout
        assert [m["Subject"] for m in w.sink.mails] == ["[ACME-1] VPN"]
        again = await asyncio.to_thread(subprocess.run, [*chatdesk, "mail", "--once"], env=env, cwd=ROOT,
                                        capture_output=True, text=True, timeout=120)
        assert "mail: no unseen mail; 0 mail(s) sent" in again.stdout
        off = subprocess.run([*chatdesk, "mail", "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in env.items() if not k.startswith("CHATDESK_IMAP")})
        assert off.returncode == 1 and "CHATDESK_IMAP_URL" in off.stderr
    finally:
        w.stop()


async def test_killing_the_mail_worker_mid_batch_loses_nothing_and_doubles_nothing(
        database: str, clock: FakeClock, tmp_path: Path) -> None:
    """`kill -9` while mail is being read, at whatever point it lands; a second run finishes the job."""
    import signal
    from datetime import UTC, datetime, timedelta

    from storage import outbox
    from storage.models import Message, OutboxMessage

    w = await make_world(clock)
    try:
        config = tmp_path / "org.yaml"
        config.write_text(yaml.safe_dump(mail_org()))
        env = {**os.environ, **world_env, "DATABASE_URL": database, "CHATDESK_CONFIG": str(config)}
        chatdesk = [sys.executable, "-m", "chatdesk.cli"]
        subprocess.run([*chatdesk, "config", "apply", str(config)], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
        count = 12
        for n in range(count):
            await w.deliver_to_mailbox(mail("Matti <matti@acme.fi>", f"Problem {n}", f"Details {n}.",
                                            message_id=f"<p{n}@acme.fi>"))
        worker = subprocess.Popen([*chatdesk, "mail"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if await Ticket.all().count() >= 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        stored = await Ticket.all().count()
        assert 3 <= stored <= count  # killed mid-batch
        done = await asyncio.to_thread(subprocess.run, [*chatdesk, "mail", "--once"], env=env, cwd=ROOT,
                                       capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        titles = sorted(await Ticket.all().values_list("title", flat=True))
        assert titles == sorted(f"Problem {n}" for n in range(count))  # each mail once, none lost
        assert await Message.all().count() == count
        # An acknowledgement the killed worker had claimed goes out once its lease has run out.
        later = datetime.now(UTC) + outbox.LEASE + timedelta(seconds=5)
        while await outbox.deliver_due({"email": w.sender}, later):
            pass
        assert await OutboxMessage.filter(platform="email").exclude(status="sent").count() == 0
        assert await OutboxMessage.filter(platform="email").count() == count
        assert len({m["Message-ID"] for m in w.sink.mails}) == count  # one acknowledgement per ticket
        assert all("\\Seen" in f for f in await w.flags())
    finally:
        w.stop()
