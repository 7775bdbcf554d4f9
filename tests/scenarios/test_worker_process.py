"""`chatdesk serve` as the web server plus a worker process: a message is acknowledged by the one
and turned into a ticket (and its thread acknowledgement) by the other; the worker process is
started again when it dies and never outlives the web server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chatdesk.worker_process import WORKER_NICENESS, WORKER_NICENESS_POSTGRES, worker_niceness
from tests.conftest import ORG_YAML
from tests.scenarios.slack_harness import BOT_TOKEN, SIGNING_SECRET, FakeSlackApi, load, sign, with_event

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, api: FakeSlackApi) -> None:
        self.proc, self.port, self.api = proc, port, api
        self._n = 0

    async def message(self, text: str) -> str:
        """A new customer message in ACME's channel; its ts (the ticket's thread)."""
        self._n += 1
        ts = f"{1795417200 + self._n}.000100"
        payload = with_event(load("message_in_shared_channel.json"), event_id=f"EvWorker{self._n}", ts=ts,
                             event_ts=ts, text=text, client_msg_id=f"client-{self._n}")
        body = json.dumps(payload)
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(stamp),
                   "X-Slack-Signature": sign(body, stamp)}
        async with aiohttp.ClientSession() as session, session.post(
                f"http://{HOST}:{self.port}/slack/events", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        return ts

    def acknowledgement(self, thread: str) -> str | None:
        for post in self.api.posts():
            if post.get("thread_ts") == thread and str(post.get("text", "")).startswith("Thanks, this is"):
                return str(post["text"])
        return None


@pytest.fixture
async def served(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Served]:
    from bot.config import load_config
    from storage import db
    from storage.config_apply import apply_config

    path = tmp_path / "serve.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite://{path}"
    await db.init(url)
    await apply_config(load_config(ORG_YAML))
    await db.close()
    api = await FakeSlackApi().start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "CHATDESK_"))}
    env.update(DATABASE_URL=url, CHATDESK_CONFIG=str(ORG_YAML), SLACK_BOT_TOKEN=BOT_TOKEN,
               SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=api.url, PYTHONUNBUFFERED="1")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "chatdesk.cli", "serve", "--host", HOST, "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        await until(lambda: _listening(port) or proc.poll() is not None, "chatdesk serve listening")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        yield Served(proc, port, api)
    finally:
        workers = children(proc.pid)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
        await api.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


async def test_the_worker_process_makes_the_ticket_the_web_server_acknowledged(served: Served) -> None:
    workers = await until(lambda: children(served.proc.pid), "a worker process")
    assert len(workers) == 1
    thread = await served.message("The VPN drops every ten minutes")
    ack = await until(lambda: served.acknowledgement(thread), "the thread acknowledgement")
    assert "ACME-1" in ack


async def test_the_worker_process_yields_the_processor_to_the_web_server(served: Served) -> None:
    (worker,) = await until(lambda: children(served.proc.pid), "a worker process")
    await until(lambda: os.getpriority(os.PRIO_PROCESS, worker) > os.getpriority(os.PRIO_PROCESS, served.proc.pid),
                "the worker process's lower priority")
    assert os.getpriority(os.PRIO_PROCESS, worker) - os.getpriority(os.PRIO_PROCESS, served.proc.pid) \
        == WORKER_NICENESS  # (on SQLite)


def test_the_worker_process_yields_more_on_postgresql_whose_own_processes_run_its_queries() -> None:
    assert worker_niceness("postgres://chatdesk@db/chatdesk") == WORKER_NICENESS_POSTGRES > WORKER_NICENESS
    assert worker_niceness("sqlite://chatdesk.sqlite3") == WORKER_NICENESS > 0


async def test_a_worker_process_that_dies_is_started_again_and_nothing_is_lost(served: Served) -> None:
    first = (await until(lambda: children(served.proc.pid), "a worker process"))[0]
    os.kill(first, signal.SIGKILL)
    thread = await served.message("Printing fails on the third floor")  # accepted while no worker runs
    again = await until(lambda: [p for p in children(served.proc.pid) if p != first and alive(p)],
                        "a new worker process")
    assert again and not alive(first)
    assert "ACME-1" in await until(lambda: served.acknowledgement(thread), "the acknowledgement after the restart")


async def test_the_worker_process_stops_with_the_web_server_even_one_killed_outright(served: Served) -> None:
    worker = (await until(lambda: children(served.proc.pid), "a worker process"))[0]
    served.proc.kill()
    served.proc.wait(timeout=10)
    await until(lambda: not alive(worker), "the worker process gone", timeout=30)


async def test_single_process_runs_no_worker_process(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite3"
    shutil.copy(sqlite_template, path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "CHATDESK_"))}
    env.update(DATABASE_URL=f"sqlite://{path}", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL="http://127.0.0.1:9/api/")
    proc = subprocess.Popen([sys.executable, "-m", "chatdesk.cli", "serve", "--host", HOST, "--port", str(port),
                             "--single-process"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await until(lambda: _listening(port), "chatdesk serve --single-process listening")
        await asyncio.sleep(1.0)
        assert children(proc.pid) == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
