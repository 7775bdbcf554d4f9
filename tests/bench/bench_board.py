"""The leads' board at 10,000 open tickets: GET /board.json p50/p95, and what polling costs the inbox.

    .venv/bin/python tests/bench/bench_board.py [--quick] [--tickets N] [--out FILE]

Loads N open tickets (10,000; 2,000 with --quick) into a fresh SQLite database, across
customers, consultants, priorities, statuses and deadlines, then in the same run:

- polls GET /board.json (the first 50 cards per column, what the page shows) through
  the real server while another task saves a few tickets a second, and compares its
  p50/p95 with the baseline: GET of a route on the same server doing one indexed
  SELECT of one ticket (the floor of any request that reads the database);
- times the full rebuild (every open ticket read and sorted from scratch), which a
  poll never waits for: the server runs it in the background every 30 seconds;
- measures ticket saves per second (the inbox's kind of write) with no board open and
  with the board polled every second (five times the page's rate); the ratio is what
  a lead's open board costs the inbox.

The target is a board p95 <= 100 ms. Results go to bench-results/board.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.board import BoardState  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from chatdesk.server import build_app  # noqa: E402
from chatdesk.settings import Settings  # noqa: E402
from storage import db  # noqa: E402
from storage.config_apply import apply_config  # noqa: E402
from storage.models import Customer, Person, Ticket  # noqa: E402

ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
TOKEN = "test-board-token-0123456789"  # tests/fixtures/org.yaml board.tokens
TARGET_P95_MS = 100.0
STATUSES = ("new", "open", "in_progress", "in_progress", "in_progress", "waiting_on_customer")
PRIORITIES = ("P1", "P2", "P3", "P3", "P4")


async def load(count: int, now: datetime) -> float:
    customers = [c.id for c in await Customer.all()]
    people = [p.id for p in await Person.filter(role="consultant")] + [None]
    rng = random.Random(7)
    started = time.perf_counter()
    rows = []
    for n in range(1, count + 1):
        created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 5))
        due = now + timedelta(minutes=rng.randint(-600, 60 * 24 * 4))
        status = rng.choice(STATUSES)
        paused = status == "waiting_on_customer"
        assignee = rng.choice(people)  # the first 60 are ranked: a lead ranks a few per person
        rows.append(Ticket(
            key=f"B{n}", number=n, customer_id=customers[n % len(customers)], title=f"Bench ticket {n} " * 3,
            type="incident", status=status, priority=rng.choice(PRIORITIES), assignee_id=assignee,
            rank=(n % 7 or None) if assignee and n <= 60 else None, platform="slack", tenant="T0HOME", channel="C0ACME",
            thread=f"{n}.000100", created_at=created, updated_at=created, sla_state={},
            first_response_due=None if paused else due, resolution_due=None if paused else due + timedelta(days=1),
            escalation_at=None if paused else due))
    await Ticket.bulk_create(rows, batch_size=1000)
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "n": len(ordered)}


async def timed_gets(client: TestClient[Any, Any], path: str, count: int, **kwargs: Any) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(path, **kwargs)
        await response.read()
        assert response.status == 200, (path, response.status)
        samples.append(time.perf_counter() - started)
    return samples


async def writer(stop: asyncio.Event, per_second: float, count: int) -> int:
    """Saves random tickets, the way the inbox and commands do (updated_at moves on)."""
    rng = random.Random(11)
    done = 0
    while not stop.is_set():
        ticket = await Ticket.get(key=f"B{rng.randint(1, count)}")
        ticket.updated_at = datetime.now(UTC)
        ticket.priority = rng.choice(PRIORITIES)
        await ticket.save(update_fields=["updated_at", "priority"])
        done += 1
        if per_second:
            await asyncio.sleep(1 / per_second)
    return done


async def saves_per_second(seconds: float, count: int, client: TestClient[Any, Any] | None) -> float:
    stop = asyncio.Event()
    task = asyncio.create_task(writer(stop, 0, count))

    async def poll() -> None:
        assert client is not None
        while not stop.is_set():
            await (await client.get("/board.json", headers={"Authorization": f"Bearer {TOKEN}"})).read()
            await asyncio.sleep(1.0)

    poller = asyncio.create_task(poll()) if client else None
    await asyncio.sleep(seconds)
    stop.set()
    done = await task
    if poller:
        await poller
    return done / seconds


async def run(count: int, polls: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/board.sqlite3"
        await db.migrate(url)
        await db.init(url)
        try:
            await apply_config(load_config(ORG_YAML))
            now = datetime.now(UTC)
            load_s = await load(count, now)
            app = build_app(Settings(database_url=url, config_path=ORG_YAML), SystemClock(), manage_db=False,
                            run_workers=False)

            async def floor(request: web.Request) -> web.Response:
                row = await Ticket.filter(key="B1").values("id", "key")
                return web.json_response(row)

            app.router.add_get("/floor", floor)
            async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
                auth = {"headers": {"Authorization": f"Bearer {TOKEN}"}}
                first = await timed_gets(client, "/board.json", 1, **auth)  # the one full load
                stop = asyncio.Event()
                background = asyncio.create_task(writer(stop, 5, count))
                floor_s = await timed_gets(client, "/floor", polls)
                board_s = await timed_gets(client, "/board.json", polls, **auth)
                page_s = await timed_gets(client, f"/board?token={TOKEN}", max(10, polls // 5))
                stop.set()
                await background
                state = BoardState()
                started = time.perf_counter()
                await state.load(datetime.now(UTC), time.monotonic())
                state.columns(datetime.now(UTC))
                rebuild_s = time.perf_counter() - started
                quiet = await saves_per_second(seconds, count, None)
                polled = await saves_per_second(seconds, count, client)
        finally:
            await db.close()
    board = percentiles(board_s)
    base = percentiles(floor_s)
    return {
        "tickets": count, "load_seconds": round(load_s, 1), "first_poll_ms": round(first[0] * 1000, 1),
        "board_json": board, "board_page": percentiles(page_s), "baseline_floor": base,
        "ratio_p95_vs_floor": round(board["p95_ms"] / base["p95_ms"], 1),
        "full_rebuild_ms": round(rebuild_s * 1000, 1),
        "saves_per_second_quiet": round(quiet, 1), "saves_per_second_board_polled": round(polled, 1),
        "inbox_ratio_polled_vs_quiet": round(polled / quiet, 2),
        "target_p95_ms": TARGET_P95_MS, "meets_target": board["p95_ms"] <= TARGET_P95_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tickets", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "board.json")
    args = parser.parse_args()
    count = args.tickets or (2_000 if args.quick else 10_000)
    polls = 40 if args.quick else 200
    result = asyncio.run(run(count, polls, 3.0 if args.quick else 8.0))
    result["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
