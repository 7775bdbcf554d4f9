"""What the customer feels: the in-thread acknowledgement, end to end.

    .venv/bin/python tests/bench/bench_e2e.py [--quick] [--postgres URL] [--api-latency-ms N]

A signed new-thread event is sent to `chatdesk serve`; the clock stops when the fake Slack Web
API (a subprocess) receives the bot's "Thanks, this is ACME-12" post in that thread. For SQLite
(and PostgreSQL when --postgres or TEST_POSTGRES_URL is given) it measures:

- idle: events one at a time, a pause between them; the acknowledgement's p50;
- steady: 50 events/s for 20 s, sent on schedule whatever the answers do; the acknowledgement's
  p50/p99 and the backlog (events sent and not yet acknowledged) at the middle and at the end;
- burst: 1,500 events from 50 senders as fast as the server takes them; how long after the last
  HTTP answer the last acknowledgement arrives, and the rate tickets are created during the burst
  against the rate after it (from the processed-event rows' times);
- the HTTP acknowledgement rate of that burst.

Baselines measured in the same run: a bare slack-bolt app whose listener does nothing, and a bare
aiohttp app doing one SQLite insert (WAL, synchronous=NORMAL, a commit each) per request: the floor
of a durable acknowledgement. The fake Web API answers each call after --api-latency-ms (default
30, Slack's own answers take longer). Results go to bench-results/e2e.json. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from bench_slack import (
    CHANNELS,
    EVENT_FIXTURE,
    HOST,
    ORG_YAML,
    ROOT,
    SECRET,
    TOKEN,
    VENV_BIN,
    chatdesk,
    create_pg_database,
    drop_pg_database,
    free_port,
    process,
    refuse_remote_postgres,
    run_noop_bolt,
    sign,
    wait_for_port,
)

SENDERS = 50
TARGETS = {"idle_p50_ms": 50.0, "steady_p99_ms": 1000.0, "burst_last_ack_s": 10.0, "burst_rate_ratio": 0.5,
           "http_rate_vs_floor": 0.3}


# -- subprocess roles -----------------------------------------------------------------------------------

def run_fake_api(port: int, latency_ms: float) -> None:
    """A Slack Web API that records when each thread acknowledgement arrives (wall clock)."""
    from aiohttp import web

    counter = iter(range(1, 10**9))
    acks: dict[str, float] = {}
    posts = {"count": 0}

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        received = time.time()  # the post has arrived; the answer then takes latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if method == "auth.test":
            return web.json_response({"ok": True, "team_id": "T0HOME", "user_id": "U0BOT", "bot_id": "B0BOT",
                                      "team": "Bench", "user": "chatdesk", "url": "https://bench.slack.com/"})
        if method == "chat.postMessage":
            posts["count"] += 1
            try:
                body = json.loads(raw) if raw[:1] == b"{" else dict(await request.post())
            except ValueError:
                body = {}
            thread = body.get("thread_ts")
            if thread and str(body.get("text", "")).startswith("Thanks, this is"):
                acks.setdefault(str(thread), received)
            return web.json_response({"ok": True, "ts": f"{1900000000 + next(counter)}.000100"})
        return web.json_response({"ok": True})

    async def records(request: web.Request) -> web.Response:
        return web.json_response({"acks": acks, "posts": posts["count"]})

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    app.router.add_get("/records", records)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def run_sqlite_floor(port: int, path: str) -> None:
    """The floor of a durable acknowledgement: check the signature, one INSERT and commit, 200."""
    import hashlib
    import hmac

    from aiohttp import web

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, key TEXT UNIQUE, payload TEXT)")

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers.get("X-Slack-Request-Timestamp", "0")
        wanted = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(wanted, request.headers.get("X-Slack-Signature", "")):
            return web.Response(status=401)
        payload = json.loads(body)
        conn.execute("INSERT OR IGNORE INTO inbox (key, payload) VALUES (?, ?)", (payload["event_id"], body))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


# -- events ---------------------------------------------------------------------------------------------

@dataclass
class Event:
    body: bytes
    headers: dict[str, str]
    ts: str
    sent: float = 0.0  # wall clock when the request went out


_template: dict[str, Any] | None = None
_sequence = iter(range(10**9))


def make_event(run: str) -> Event:
    """A new top-level customer message (a new ticket), alternately in the two customers' channels."""
    global _template
    if _template is None:
        _template = json.loads(EVENT_FIXTURE.read_text(encoding="utf-8"))
    i = next(_sequence)
    payload = json.loads(json.dumps(_template))
    ts = f"{1795417201 + i}.{uuid.uuid4().int % 1000000:06d}"
    channel, team = CHANNELS[i % len(CHANNELS)]
    payload["event_id"] = f"Ev{run}{uuid.uuid4().hex[:12]}"
    payload["event"].update(ts=ts, event_ts=ts, text=f"Problem {i}: the printer in room {i % 23} jams",
                            client_msg_id=str(uuid.uuid4()), channel=channel, team=team, user_team=team,
                            source_team=team)
    body = json.dumps(payload).encode()
    now = int(time.time())
    return Event(body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(now),
                        "X-Slack-Signature": sign(body, now)}, ts)


async def post(session: aiohttp.ClientSession, url: str, event: Event) -> tuple[int, float]:
    event.sent = time.time()
    started = time.perf_counter()
    try:
        async with session.post(url, data=event.body, headers=event.headers) as resp:
            await resp.read()
            status = resp.status
    except aiohttp.ClientError:
        status = 0
    return status, time.perf_counter() - started


# -- measurements ---------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


@dataclass
class Run:
    name: str
    idle_p50_ms: float | None = None
    idle_p90_ms: float | None = None
    steady_rate: float = 0.0
    steady_seconds: float = 0.0
    steady_p50_ms: float | None = None
    steady_p99_ms: float | None = None
    steady_unacked: int = 0
    steady_backlog_mid: int = 0
    steady_backlog_end: int = 0
    burst_events: int = 0
    burst_seconds: float = 0.0
    http_rate: float = 0.0
    http_p99_ms: float | None = None
    http_errors: int = 0
    burst_last_ack_s: float | None = None
    burst_unacked: int = 0
    created_during_per_s: float | None = None
    created_after_per_s: float | None = None
    burst_rate_ratio: float | None = None
    posts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


async def records(api_port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://{HOST}:{api_port}/records") as resp:
        data = await resp.json()
    return {str(k): float(v) for k, v in data["acks"].items()}


async def wait_acked(api_port: int, events: list[Event], timeout: float) -> dict[str, float]:
    """Poll the fake API until every event is acknowledged or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        acks = await records(api_port)
        if all(e.ts in acks for e in events) or time.monotonic() > deadline:
            return acks
        await asyncio.sleep(0.2)


async def idle(url: str, api_port: int, n: int, run: Run) -> list[Event]:
    events = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            event = make_event("I")
            await post(session, url, event)
            events.append(event)
            await wait_acked(api_port, [event], timeout=5)
            await asyncio.sleep(0.05)
    acks = await records(api_port)
    latencies = [acks[e.ts] - e.sent for e in events if e.ts in acks]
    run.idle_p50_ms = ms(statistics.median(latencies)) if latencies else None
    run.idle_p90_ms = ms(pct(latencies, 0.9))
    return events


async def steady(url: str, api_port: int, rate: float, seconds: float, run: Run) -> None:
    """Open loop: an event every 1/rate seconds, whatever the answers do."""
    events = [make_event("S") for _ in range(int(rate * seconds))]
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        tasks = []
        for i, event in enumerate(events):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, url, event)))
        await asyncio.gather(*tasks)
    first = events[0].sent
    end = first + seconds
    acks = await wait_acked(api_port, events, timeout=60)
    latencies = [acks[e.ts] - e.sent for e in events if e.ts in acks]

    def backlog(at: float) -> int:
        return sum(1 for e in events if e.sent <= at and acks.get(e.ts, float("inf")) > at)

    run.steady_rate, run.steady_seconds = rate, seconds
    run.steady_p50_ms = ms(statistics.median(latencies)) if latencies else None
    run.steady_p99_ms = ms(pct(latencies, 0.99))
    run.steady_unacked = len(events) - len(latencies)
    run.steady_backlog_mid = backlog(first + seconds / 2)
    run.steady_backlog_end = backlog(end)


async def burst(url: str, n: int, run: Run | None = None) -> tuple[list[Event], float, float]:
    """Closed loop: SENDERS connections send n events as fast as they are answered."""
    events = [make_event("B") for _ in range(n)]
    queue = list(reversed(events))
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def sender() -> None:
            nonlocal errors
            while queue:
                status, seconds = await post(session, url, queue.pop())
                latencies.append(seconds)
                errors += status != 200

        started = time.time()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        ended = time.time()
    if run is not None:
        run.burst_events, run.burst_seconds = n, round(ended - started, 3)
        run.http_rate = round(n / (ended - started), 1)
        run.http_p99_ms = ms(pct(latencies, 0.99))
        run.http_errors = errors
    return events, started, ended


async def created_times(database_url: str, marker: str) -> list[float]:
    """When each event of a phase was processed: its processed-event row's time."""
    query = f"SELECT created_at FROM processed_event WHERE event_id LIKE '%|Ev{marker}%'"
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split("://", 1)[1])
        try:
            raw = [r[0] for r in conn.execute(query)]
        finally:
            conn.close()
        return [datetime.fromisoformat(str(v)).timestamp() for v in raw]
    import asyncpg

    pg = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return [r[0].timestamp() for r in await pg.fetch(query)]
    finally:
        await pg.close()


async def bench_chatdesk(name: str, database_url: str, api_url: str, api_port: int, workdir: Path,
                         sizes: dict[str, Any], single_process: bool = False) -> Run:
    env = {**os.environ, "DATABASE_URL": database_url, "CHATDESK_CONFIG": str(ORG_YAML)}
    for key in ("SLACK_APP_TOKEN", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD"):
        env.pop(key, None)
    chatdesk(["db", "migrate"], env)
    chatdesk(["config", "apply", str(ORG_YAML)], env)
    port = free_port()
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api_url, PORT=str(port))
    url = f"http://{HOST}:{port}/slack/events"
    run = Run(name=f"chatdesk ({name}{', one process' if single_process else ''})")
    command = [str(VENV_BIN / "chatdesk"), "serve", "--port", str(port), *(["--single-process"] if single_process
                                                                          else [])]
    with process(command, env, workdir / f"serve-{name}.log") as proc:
        await wait_for_port(port, proc, f"chatdesk serve ({name})")
        await idle(url, api_port, 5, Run("warm-up"))
        await idle(url, api_port, sizes["idle"], run)
        await steady(url, api_port, sizes["rate"], sizes["seconds"], run)
        events, started, ended = await burst(url, sizes["burst"], run)
        acks = await wait_acked(api_port, events, timeout=180)
        got = [acks[e.ts] for e in events if e.ts in acks]
        run.burst_unacked = len(events) - len(got)
        run.burst_last_ack_s = round(max(got) - ended, 2) if got and not run.burst_unacked else None
        created = await created_times(database_url, "B")
        during = sum(1 for t in created if t <= ended)
        after = [t for t in created if t > ended]
        run.created_during_per_s = round(during / (ended - started), 1)
        if after:
            span = max(after) - ended
            run.created_after_per_s = round(len(after) / span, 1) if span > 0 else None
        if run.created_after_per_s:
            run.burst_rate_ratio = round(run.created_during_per_s / run.created_after_per_s, 2)
        elif during == len(events):
            run.burst_rate_ratio = None  # everything was created during the burst: nothing to compare
            run.extra["all_created_during_burst"] = True
        async with aiohttp.ClientSession() as session, session.get(f"http://{HOST}:{api_port}/records") as resp:
            run.posts = int((await resp.json())["posts"])
    return run


async def bench_baseline(kind: str, api_url: str, n: int, workdir: Path) -> Run:
    port = free_port()
    me = str(Path(__file__).resolve())
    if kind == "bolt":
        args = [sys.executable, me, "--noop-server", str(port), "--api-url", api_url]
        run = Run(name="bare slack-bolt (no-op)")
    else:
        args = [sys.executable, me, "--floor-server", str(port), "--floor-db", str(workdir / "floor.sqlite3")]
        run = Run(name="aiohttp + 1 SQLite insert (floor)")
    with process(args) as proc:
        await wait_for_port(port, proc, run.name)
        url = f"http://{HOST}:{port}/slack/events"
        await burst(url, 100)
        await burst(url, n, run)
    return run


def table(runs: list[Run], floor: Run) -> str:
    head = (f"{'run':<34} {'idle p50':>8} {'50/s p50':>8} {'50/s p99':>8} {'backlog':>9} {'burst http/s':>12} "
            f"{'x floor':>7} {'last ack s':>10} {'during/after':>12}")
    lines = [head, "-" * len(head)]
    for r in runs:
        ratio = r.http_rate / floor.http_rate if floor.http_rate else 0

        def f(v: float | None, spec: str = ".1f") -> str:
            return "" if v is None else format(v, spec)

        backlog = f"{r.steady_backlog_mid}->{r.steady_backlog_end}" if r.steady_rate else ""
        rates = (f"{f(r.created_during_per_s, '.0f')}/{f(r.created_after_per_s, '.0f')}"
                 if r.created_during_per_s is not None else "")
        lines.append(f"{r.name:<34} {f(r.idle_p50_ms):>8} {f(r.steady_p50_ms):>8} {f(r.steady_p99_ms):>8} "
                     f"{backlog:>9} {r.http_rate:>12.0f} {ratio:>7.2f} {f(r.burst_last_ack_s, '.2f'):>10} "
                     f"{rates:>12}")
    return "\n".join(lines)


def verdict(run: Run, floor: Run) -> dict[str, Any]:
    ratio = run.http_rate / floor.http_rate if floor.http_rate else 0.0
    burst_ok = (run.burst_rate_ratio is None and run.extra.get("all_created_during_burst")) or (
        run.burst_rate_ratio is not None and run.burst_rate_ratio >= TARGETS["burst_rate_ratio"])
    return {
        "run": run.name,
        "idle_p50_ok": run.idle_p50_ms is not None and run.idle_p50_ms <= TARGETS["idle_p50_ms"],
        "steady_p99_ok": run.steady_p99_ms is not None and run.steady_p99_ms <= TARGETS["steady_p99_ms"]
        and run.steady_unacked == 0,
        "no_growing_backlog": run.steady_backlog_end <= max(5, 2 * run.steady_backlog_mid) and run.steady_backlog_end
        <= run.steady_rate,  # at most a second's worth of events waiting at the end
        "burst_last_ack_ok": run.burst_last_ack_s is not None and run.burst_last_ack_s <= TARGETS["burst_last_ack_s"],
        "burst_rate_ok": bool(burst_ok),
        "http_rate_vs_floor": round(ratio, 3),
        "http_rate_ok": ratio >= TARGETS["http_rate_vs_floor"] and run.http_errors == 0,
    }


async def main(args: argparse.Namespace) -> int:
    sizes = ({"idle": 10, "rate": 50.0, "seconds": 5.0, "burst": 300} if args.quick
             else {"idle": 30, "rate": 50.0, "seconds": 20.0, "burst": 1500})
    workdir = Path(tempfile.mkdtemp(prefix="chatdesk-e2e-"))
    pg_admin = "" if args.sqlite_only else (args.postgres or os.environ.get("TEST_POSTGRES_URL", ""))
    api_port = free_port()
    api_url = f"http://{HOST}:{api_port}/api/"
    runs: list[Run] = []
    pg_name = None
    fake = [sys.executable, str(Path(__file__).resolve()), "--fake-api", str(api_port),
            "--api-latency-ms", str(args.api_latency_ms)]
    try:
        with process(fake) as proc:
            await wait_for_port(api_port, proc, "fake Slack Web API")
            bolt = await bench_baseline("bolt", api_url, sizes["burst"], workdir)
            floor = await bench_baseline("floor", api_url, sizes["burst"], workdir)
            if not args.postgres_only:
                runs.append(await bench_chatdesk("sqlite", f"sqlite://{workdir / 'e2e.sqlite3'}", api_url, api_port,
                                                 workdir, sizes, args.single_process))
            if pg_admin:
                pg_name, pg_url = await create_pg_database(pg_admin)
                runs.append(await bench_chatdesk("postgres", pg_url, api_url, api_port, workdir, sizes,
                                                 args.single_process))
    finally:
        if pg_name:
            await drop_pg_database(pg_admin, pg_name)
    verdicts = [verdict(r, floor) for r in runs]
    report = {"benchmark": "e2e-thread-ack", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "sizes": sizes, "senders": SENDERS, "api_latency_ms": args.api_latency_ms, "cpus": os.cpu_count(),
              "targets": TARGETS, "baselines": [asdict(bolt), asdict(floor)], "runs": [asdict(r) for r in runs],
              "verdicts": verdicts}
    out = ROOT / "bench-results" / "e2e.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table([bolt, floor, *runs], floor))
    for v in verdicts:
        marks = ", ".join(f"{k} {'ok' if v[k] else 'MISSED'}" for k in v if k.endswith("_ok") or k == "no_growing_backlog")
        print(f"{v['run']}: HTTP {v['http_rate_vs_floor']:.2f}x the floor; {marks}")
    print(f"written to {out.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s steady, a burst of 300 (for development)")
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server (default: TEST_POSTGRES_URL)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--api-latency-ms", type=float, default=30.0, help="the fake Web API's answer time")
    parser.add_argument("--single-process", action="store_true",
                        help="serve --single-process: the workers in the web server's process (for comparison)")
    parser.add_argument("--fake-api", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--noop-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-db", default="", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_api:
        run_fake_api(args.fake_api, args.api_latency_ms)
        return 0
    if args.noop_server:
        run_noop_bolt(args.noop_server, args.api_url)
        return 0
    if args.floor_server:
        run_sqlite_floor(args.floor_server, args.floor_db)
        return 0
    refuse_remote_postgres(parser, args.postgres)
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(cli())
