"""Slack ingestion benchmark: signed new-message events against the real server.

    .venv/bin/python tests/bench/bench_slack.py [--quick] [--postgres URL] [--events N]

For each database (SQLite always; PostgreSQL when --postgres or TEST_POSTGRES_URL is given)
it starts `chatdesk serve` on 127.0.0.1 with SLACK_API_URL pointed at a fake Web API (a
subprocess too), sends N correctly signed message events from 50 concurrent connections (a
tenth of them re-sent as Slack retries), and measures throughput and ack latency. In the same
run it measures a bare slack-bolt AsyncApp on aiohttp whose message listener does nothing:
the ceiling. Then it reads the database to check that every ticket was stored exactly once.
Results go to bench-results/slack.json and a table on stdout. Only loopback addresses are used.

Targets: throughput >= 0.5x the bare bolt app, p99 ack latency < 250 ms, every ticket once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
EVENT_FIXTURE = ROOT / "tests" / "fixtures" / "slack" / "message_in_shared_channel.json"
SECRET = "bench-signing-secret-5f0e1d2c3b4a"
TOKEN = "xoxb-bench-0000000000-0000000000-benchbenchbench"
HOST = "127.0.0.1"
CONCURRENCY = 50
RETRY_SHARE = 0.1  # this share of events is sent a second time with X-Slack-Retry-Num
TARGET_RATIO = 0.5
CHANNELS = (("C0ACME", "T0ACME"), ("C0GLOBEX", "T0GLOBEX"))  # the customers' channels in org.yaml
TARGET_P99_MS = 250.0


# -- subprocess roles: the fake Web API and the bare bolt app ---------------------------------------

def run_fake_api(port: int) -> None:
    """A minimal Slack Web API: auth.test and chat.postMessage answer ok, everything else ok too."""
    from aiohttp import web

    counter = iter(range(1, 10**9))

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        await request.read()
        if method == "auth.test":
            return web.json_response({"ok": True, "team_id": "T0HOME", "user_id": "U0BOT", "bot_id": "B0BOT",
                                      "team": "Bench", "user": "chatdesk", "url": "https://bench.slack.com/"})
        if method == "chat.postMessage":
            return web.json_response({"ok": True, "ts": f"{1900000000 + next(counter)}.000100"})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def run_noop_bolt(port: int, api_url: str) -> None:
    """The ceiling: slack-bolt's AsyncApp on aiohttp, verifying signatures, doing nothing."""
    import logging

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # as `chatdesk serve` does
    bolt = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=api_url), signing_secret=SECRET,
                    process_before_response=True)

    @bolt.event("message")
    async def noop() -> None:
        return None

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    web.run_app(app, host=HOST, port=port, print=None)


# -- helpers ---------------------------------------------------------------------------------------------

def refuse_remote_postgres(parser: argparse.ArgumentParser, given: str) -> None:
    """Load goes only to this machine: a PostgreSQL URL (given or TEST_POSTGRES_URL) must be on loopback."""
    for url in (given, os.environ.get("TEST_POSTGRES_URL", "")):
        host = url.split("@")[-1].split("/")[0].split(":")[0] if url else HOST
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            parser.error(f"PostgreSQL must be on a loopback address, not {host}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


async def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def sign(body: bytes, timestamp: int) -> str:
    return "v0=" + hmac.new(SECRET.encode(), b"v0:%d:" % timestamp + body, hashlib.sha256).hexdigest()


@dataclass
class Request:
    body: bytes
    headers: dict[str, str]
    ts: str


def make_events(n: int, run: str, bots: bool = False) -> tuple[list[Request], set[str]]:
    """N distinct top-level customer messages, alternately in C0ACME and C0GLOBEX (each one a new
    ticket), plus retries. With bots=True they are another integration's bot posts instead, which
    the adapter drops before the core: what the Slack adapter itself costs."""
    template = json.loads(EVENT_FIXTURE.read_text(encoding="utf-8"))
    now = int(time.time())
    base = 1795417201 + random.randint(0, 10**6) * 1000
    requests: list[Request] = []
    expected: set[str] = set()
    for i in range(n):
        payload = json.loads(json.dumps(template))
        ts = f"{base + i}.{i % 1000000:06d}"
        payload["event_id"] = f"Ev{run}{i:07d}"
        channel, team = CHANNELS[i % len(CHANNELS)]
        payload["event"].update(ts=ts, event_ts=ts, text=f"Bench problem {i}: the VPN drops in office {i % 17}",
                                client_msg_id=str(uuid.uuid4()), channel=channel, team=team, user_team=team,
                                source_team=team)
        if bots:
            payload["event"].update(subtype="bot_message", bot_id="B0ZABBIX", username="Zabbix")
            del payload["event"]["user"]
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(now),
                   "X-Slack-Signature": sign(body, now)}
        requests.append(Request(body, headers, ts))
        expected.add(ts)
    random.shuffle(requests)
    # Each retry arrives a little after its original, as Slack's do.
    keyed = [(float(i), r) for i, r in enumerate(requests)]
    for i in random.sample(range(n), int(n * RETRY_SHARE)):
        r = requests[i]
        retry = Request(r.body, {**r.headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}, r.ts)
        keyed.append((i + random.uniform(1, 200), retry))
    mixed = [r for _, r in sorted(keyed, key=lambda kr: kr[0])]
    return mixed, expected


@dataclass
class Result:
    name: str
    requests: int = 0
    concurrency: int = CONCURRENCY
    seconds: float = 0.0
    throughput_rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    tickets_expected: int | None = None
    tickets_stored: int | None = None
    tickets_duplicated: int | None = None
    tickets_missing: int | None = None
    exactly_once: bool | None = None
    outbox_drain_seconds: float | None = None


async def load(port: int, requests: list[Request], name: str, concurrency: int = CONCURRENCY) -> Result:
    url = f"http://{HOST}:{port}/slack/events"
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while True:
                try:
                    r = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    async with session.post(url, data=r.body, headers=r.headers) as resp:
                        await resp.read()
                        key = str(resp.status)
                except aiohttp.ClientError as exc:
                    key = type(exc).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[key] = statuses.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return Result(name=name, requests=len(requests), concurrency=concurrency, seconds=round(seconds, 3),
                  throughput_rps=round(len(requests) / seconds, 1), p50_ms=round(statistics.median(latencies), 1),
                  p90_ms=pct(0.90), p99_ms=pct(0.99), max_ms=round(latencies[-1], 1),
                  errors=sum(v for k, v in statuses.items() if k != "200"), statuses=statuses)


async def warm_up(port: int, n: int, run: str) -> set[str]:
    requests, expected = make_events(n, run)
    await load(port, [r for r in requests if "X-Slack-Retry-Num" not in r.headers], "warm-up")
    return expected


# -- the database side -------------------------------------------------------------------------------------

def chatdesk(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([str(VENV_BIN / "chatdesk"), *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


async def create_pg_database(admin_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"chatdesk_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def stored_threads(url: str) -> list[tuple[str, int]]:
    """(thread, messages) per Slack ticket in the customers' channels."""
    query = ("SELECT t.thread, (SELECT count(*) FROM message m WHERE m.ticket_id = t.id) "
             "FROM ticket t WHERE t.platform = 'slack' AND t.channel IN ('C0ACME', 'C0GLOBEX')")
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.split("://", 1)[1])) as conn:
            return [(str(a), int(b)) for a, b in conn.execute(query)]
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return [(str(r[0]), int(r[1])) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def outbox_drain(port: int, timeout: float) -> float | None:
    """Seconds until /healthz reports no inbox and no outbox lag (every accepted message processed,
    and the worker posted everything to the fake)."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            async with session.get(f"http://{HOST}:{port}/healthz") as resp:
                data = await resp.json()
            if data.get("outbox_lag_seconds") == 0 and not data.get("inbox_lag_seconds"):
                return round(time.perf_counter() - started, 2)
            await asyncio.sleep(0.25)
    return None


# -- the runs ---------------------------------------------------------------------------------------------

async def bench_chatdesk(name: str, database_url: str, api_url: str, n: int, workdir: Path,
                         adapter_only: list[Result] | None = None) -> Result:
    """New-ticket events through `chatdesk serve`; with adapter_only (a list to append to), also
    bot posts that the adapter drops before the core, to separate the adapter's cost."""
    env = {**os.environ, "DATABASE_URL": database_url, "CHATDESK_CONFIG": str(ORG_YAML)}
    for key in ("SLACK_APP_TOKEN", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD"):
        env.pop(key, None)
    chatdesk(["db", "migrate"], env)
    chatdesk(["config", "apply", str(ORG_YAML)], env)
    port = free_port()
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api_url, PORT=str(port))
    log = workdir / f"serve-{name}.log"
    with process([str(VENV_BIN / "chatdesk"), "serve", "--port", str(port)], env, log) as proc:
        await wait_for_port(port, proc, f"chatdesk serve ({name})")
        warm = await warm_up(port, 50, f"W{name[:2]}")
        requests, expected = make_events(n, name[:2].upper())
        result = await load(port, requests, f"chatdesk ({name})")
        result.outbox_drain_seconds = await outbox_drain(port, timeout=120)
        if adapter_only is not None:
            bots, _ = make_events(n, f"B{name[:1].upper()}", bots=True)
            adapter_only.append(await load(port, bots, f"adapter only ({name})"))
            # Unsaturated: one connection, so latency is one event's handling, not queueing.
            single, single_expected = make_events(100, f"S{name[:1].upper()}")
            adapter_only.append(await load(port, [r for r in single if "X-Slack-Retry-Num" not in r.headers],
                                           f"chatdesk ({name}), 1 conn", concurrency=1))
            expected |= single_expected
            await outbox_drain(port, timeout=120)
    threads = await stored_threads(database_url)
    tickets_per_thread: dict[str, int] = {}
    for thread, _ in threads:
        tickets_per_thread[thread] = tickets_per_thread.get(thread, 0) + 1
    wanted = expected | warm
    result.tickets_expected = len(expected)
    result.tickets_stored = sum(1 for t in expected if t in tickets_per_thread)
    result.tickets_duplicated = sum(1 for c in tickets_per_thread.values() if c > 1) + sum(
        1 for _, messages in threads if messages != 1)  # a ticket twice, or its message twice
    result.tickets_missing = len(wanted - set(tickets_per_thread))
    result.exactly_once = (result.tickets_duplicated == 0 and result.tickets_missing == 0
                           and set(tickets_per_thread) == wanted)
    return result


async def bench_noop(api_url: str, n: int) -> Result:
    port = free_port()
    args = [sys.executable, str(Path(__file__).resolve()), "--noop-server", str(port), "--api-url", api_url]
    with process(args) as proc:
        await wait_for_port(port, proc, "bare bolt app")
        await warm_up(port, 50, "WN")
        requests, _ = make_events(n, "NO")
        return await load(port, requests, "bare slack-bolt (ceiling)")


def table(results: list[Result], ceiling: Result) -> str:
    head = (f"{'run':<28} {'requests':>8} {'conns':>5} {'req/s':>8} {'x ceiling':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} {'errors':>6} {'once':>5} {'outbox s':>8}")
    lines = [head, "-" * len(head)]
    for r in [ceiling, *results]:
        ratio = r.throughput_rps / ceiling.throughput_rps if ceiling.throughput_rps else 0
        once = "" if r.exactly_once is None else ("yes" if r.exactly_once else "NO")
        drain = "" if r.outbox_drain_seconds is None else f"{r.outbox_drain_seconds:.1f}"
        lines.append(f"{r.name:<28} {r.requests:>8} {r.concurrency:>5} {r.throughput_rps:>8.0f} {ratio:>9.2f} {r.p50_ms:>7.1f} "
                     f"{r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.errors:>6} {once:>5} {drain:>8}")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    n = args.events or (400 if args.quick else 2000)
    workdir = Path(tempfile.mkdtemp(prefix="chatdesk-bench-"))
    pg_admin = args.postgres or os.environ.get("TEST_POSTGRES_URL", "")
    api_port = free_port()
    api_url = f"http://{HOST}:{api_port}/api/"
    results: list[Result] = []
    adapter_only: list[Result] = []
    pg_name = None
    fake_args = [sys.executable, str(Path(__file__).resolve()), "--fake-api", str(api_port)]
    try:
        with process(fake_args) as fake:
            await wait_for_port(api_port, fake, "fake Slack Web API")
            ceiling = await bench_noop(api_url, n)
            results.append(await bench_chatdesk("sqlite", f"sqlite://{workdir / 'bench.sqlite3'}", api_url, n,
                                                workdir, adapter_only))
            if pg_admin:
                pg_name, pg_url = await create_pg_database(pg_admin)
                results.append(await bench_chatdesk("postgres", pg_url, api_url, n, workdir))
    finally:
        if pg_name:
            await drop_pg_database(pg_admin, pg_name)
    verdicts = []
    for r in results:
        ratio = r.throughput_rps / ceiling.throughput_rps
        verdicts.append({"run": r.name, "throughput_ratio": round(ratio, 3),
                         "ratio_ok": ratio >= TARGET_RATIO, "p99_ok": r.p99_ms < TARGET_P99_MS,
                         "exactly_once": bool(r.exactly_once), "no_errors": r.errors == 0})
    adapter_rows = [r for r in adapter_only if r.name.startswith("adapter only")]
    adapter_ratio = adapter_rows[0].throughput_rps / ceiling.throughput_rps if adapter_rows else None
    report = {
        "benchmark": "slack-ingest",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "events": n, "concurrency": CONCURRENCY, "retry_share": RETRY_SHARE, "cpus": os.cpu_count(),
        "targets": {"throughput_ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS},
        "ceiling": asdict(ceiling), "runs": [asdict(r) for r in results], "verdicts": verdicts,
        "extra_runs": [asdict(r) for r in adapter_only],
        "adapter_only_ratio": round(adapter_ratio, 3) if adapter_ratio is not None else None,
    }
    out = ROOT / "bench-results" / "slack.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table([*results, *adapter_only], ceiling))
    for v in verdicts:
        marks = ", ".join(f"{k} {'ok' if v[k] else 'MISSED'}" for k in ("ratio_ok", "p99_ok", "exactly_once", "no_errors"))
        print(f"{v['run']}: {v['throughput_ratio']:.2f}x the ceiling; {marks}")
    print(f"written to {out.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(all(v[k] for k in ("exactly_once", "no_errors")) for v in verdicts) else 1


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events (400 instead of 2000)")
    parser.add_argument("--events", type=int, default=0, help="events per run")
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server (default: TEST_POSTGRES_URL)")
    parser.add_argument("--fake-api", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--noop-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_api:
        run_fake_api(args.fake_api)
        return 0
    if args.noop_server:
        run_noop_bolt(args.noop_server, args.api_url)
        return 0
    refuse_remote_postgres(parser, args.postgres)
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(cli())
