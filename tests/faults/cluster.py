"""`chatdesk serve --workers N` as real processes on 127.0.0.1, for the fault tests.

The cluster runs the installed command line with PostgreSQL, SLACK_API_URL pointed at a fake
Web API in the test process, and an org config whose deadlines are all due at once (every
contract on the 24-hour calendar, 0-minute targets), so that the SLA reminder workers have a
breach to post for every ticket within seconds. Workers can be killed with SIGKILL and
replaced (`serve --reuse-port`, as `--workers` starts them); `chatdesk reminders` processes
run beside them. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bot.config import load_config
from storage import db
from storage.config_apply import apply_config
from tests.scenarios.slack_harness import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[2]
ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LEASE_BOOT = Path(__file__).resolve().parent / "lease"  # sitecustomize that shortens the outbox lease


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def instant_org(path: Path) -> Path:
    """tests/fixtures/org.yaml with every deadline due at once: what the reminder workers sweep."""
    org: dict[str, Any] = yaml.safe_load(ORG_YAML.read_text(encoding="utf-8"))
    for contract in org["contracts"].values():
        contract["calendar"] = "always"
        contract["targets"] = {p: {"first_response": 0, "resolution": 0} for p in ("P1", "P2", "P3", "P4")}
    path.write_text(yaml.safe_dump(org, sort_keys=False), encoding="utf-8")
    return path


async def apply_org(database_url: str, config: Path) -> None:
    await db.init(database_url)
    try:
        await apply_config(load_config(config))
    finally:
        await db.close()


def tcp_sockets() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket on this machine."""
    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
        out.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return out


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets a process has open."""
    out = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    out.add(int(link[8:-1]))
    return out


def listening(port: int, pids: list[int]) -> set[int]:
    """Which of `pids` listen on the port (each SO_REUSEPORT worker has a socket of its own)."""
    inodes = {inode for local, _, state, inode in tcp_sockets() if local == port and state == "0A"}
    return {pid for pid in pids if socket_inodes(pid) & inodes}


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int | None:
    """Which of `pids` owns the TCP connection from local_port to remote_port."""
    inodes = {inode for lp, rp, _, inode in tcp_sockets() if lp == local_port and rp == remote_port}
    return next((pid for pid in pids if socket_inodes(pid) & inodes), None)


def serving(port: int, pids: list[int]) -> dict[int, int]:
    """Established connections on the port per worker: which workers are taking requests now."""
    inodes = {inode for local, _, state, inode in tcp_sockets() if local == port and state == "01"}
    counts = {pid: len(socket_inodes(pid) & inodes) for pid in pids}
    return {pid: n for pid, n in counts.items() if n}


class Cluster:
    """`chatdesk serve --workers N` plus replacement workers and `chatdesk reminders` processes."""

    def __init__(self, database_url: str, api_url: str, config: Path, workdir: Path, *, workers: int = 4,
                 lease_seconds: float | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        self.workdir = workdir
        self.env = {**os.environ, "DATABASE_URL": database_url, "CHATDESK_CONFIG": str(config),
                    "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url,
                    "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        for key in ("SLACK_APP_TOKEN", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID"):
            self.env.pop(key, None)
        if lease_seconds is not None:
            self.env["CHATDESK_TEST_OUTBOX_LEASE"] = str(lease_seconds)
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LEASE_BOOT), os.environ.get("PYTHONPATH")]))
        self.parent: subprocess.Popen[bytes] | None = None
        self.extra: list[subprocess.Popen[bytes]] = []  # workers started to replace killed ones
        self.reminders: list[subprocess.Popen[bytes]] = []
        self.killed: list[int] = []
        self._logs: list[Any] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/slack/events"

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        self._logs.append(log)
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    async def start(self, timeout: float = 60.0) -> None:
        self.parent = self._spawn([str(BIN / "chatdesk"), "serve", "--port", str(self.port), "--workers",
                                   str(self.workers)], "serve")
        await self.wait_listening(lambda: len(listening(self.port, self.worker_pids())) == self.workers, timeout)

    async def wait_listening(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.parent is not None and self.parent.poll() is not None:
                raise RuntimeError(f"chatdesk serve exited with {self.parent.returncode}: {self.log_tail()}")
            if ready():
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"workers did not listen on {self.port} within {timeout:.0f} s: {self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The serving processes alive now: the children of `serve --workers` and the replacements."""
        pids: list[int] = []
        if self.parent is not None:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{self.parent.pid}/task/{self.parent.pid}/children").read_text().split()
                pids += [int(p) for p in children]
        pids += [p.pid for p in self.extra if p.poll() is None]
        return [p for p in pids if p not in self.killed]

    async def watch_serving(self, seen: set[int], every: float = 0.05) -> None:
        """Until cancelled: add to `seen` each worker found with a connection from a client."""
        while True:
            seen.update(serving(self.port, self.worker_pids()))
            await asyncio.sleep(every)

    def kill(self, pid: int) -> None:
        """kill -9: no shutdown, no commit, sockets reset."""
        os.kill(pid, signal.SIGKILL)
        self.killed.append(pid)

    async def replace_killed(self, timeout: float = 60.0) -> None:
        """Start a worker like those of `--workers` (SO_REUSEPORT) and wait until it listens."""
        worker = self._spawn([sys.executable, "-m", "chatdesk.cli", "serve", "--port", str(self.port),
                              "--reuse-port", "--single-process"], f"worker-{len(self.extra) + 1}")
        self.extra.append(worker)
        await self.wait_listening(lambda: worker.pid in listening(self.port, [worker.pid]), timeout)

    def start_reminders(self, count: int = 2, interval: float = 0.5) -> None:
        for i in range(count):
            self.reminders.append(self._spawn([str(BIN / "chatdesk"), "reminders", "--interval", str(interval)],
                                              f"reminders-{i + 1}"))

    def stop_reminders(self) -> None:
        _stop(self.reminders)
        self.reminders = []

    def stop(self) -> None:
        workers = self.worker_pids()
        _stop([*self.reminders, *self.extra, *([self.parent] if self.parent else [])])
        for pid in workers:  # a worker that outlived its parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._logs = []

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.workdir.glob("*.log")))


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
