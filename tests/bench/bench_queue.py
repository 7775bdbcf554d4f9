"""`/helpdesk queue` and `/helpdesk show` with 100,000 tickets, against `/helpdesk help`.

    .venv/bin/python tests/bench/bench_queue.py [--quick] [--postgres URL]

Loads 100,000 tickets (20,000 with --quick) straight into a fresh SQLite database (and a
PostgreSQL one when --postgres or TEST_POSTGRES_URL is given): 2 % open and assigned round
robin to the three consultants and the lead, the rest resolved or closed. Then, through the
core exactly as a chat command arrives (`Helpdesk.handle_invocation`: event recorded, caller
resolved, command run, reply built), it times a consultant's `queue`, `show KEY` of random
tickets, and the baseline `help`, interleaved, with the clock moving a minute a round as it
would between real calls. The very first queue (nothing kept yet) is reported on its own.
Target: queue and show p95 <= 50 ms; the ratios to `help` (p50 to p50, p95 to p95) are reported
because the machine is shared. Results go to bench-results/queue.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot import clocks  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.core import Helpdesk  # noqa: E402
from bot.types import Actor, Invocation, Place, Platform  # noqa: E402
from storage import db  # noqa: E402
from storage.config_apply import apply_config  # noqa: E402
from storage.models import Customer, Person  # noqa: E402

ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OPEN_SHARE = 0.02
TARGET_P95_MS = 50.0
COLUMNS = ("key", "number", "title", "type", "status", "priority", "team", "platform", "tenant", "channel", "thread",
           "created_at", "updated_at", "sla_state", "escalation_at", "assignee_id", "customer_id")


async def load(url: str, count: int) -> dict[str, Any]:
    customers = [c async for c in _customers()]
    people = [p.id for p in await Person.all().order_by("id")]
    rows = []
    for n in range(1, count + 1):
        customer = customers[n % len(customers)]
        number = n // len(customers) + 1
        created = NOW - timedelta(days=n % 400, seconds=n % 86400)
        is_open = n % int(1 / OPEN_SHARE) == 0
        status = random.choice(("open", "in_progress", "new")) if is_open else random.choice(("resolved", "closed"))
        rows.append((f"{customer.key}-{number}", number, f"Bench ticket {n}: the printer jams", "incident", status,
                     "P3", "support", "slack", "T0HOME", customer_channel(customer.key), f"{1700000000 + n}.000100",
                     created, created, json.dumps(clocks.new_state(created)),
                     created + timedelta(days=2) if is_open else None, people[n % len(people)], customer.id))
    started = time.perf_counter()
    if url.startswith("sqlite"):
        await db.close()
        conn = sqlite3.connect(url.split("://", 1)[1])
        marks = ",".join("?" * len(COLUMNS))
        conn.executemany(f'INSERT INTO ticket ({",".join(COLUMNS)}) VALUES ({marks})',
                         [tuple(v.isoformat() if isinstance(v, datetime) else v for v in r) for r in rows])
        for customer in customers:
            conn.execute("UPDATE customer SET next_number = ? WHERE id = ?", (count, customer.id))
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        await db.init(url)
    else:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.copy_records_to_table("ticket", records=rows, columns=list(COLUMNS))
            await conn.execute("UPDATE customer SET next_number = $1", count)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    return {"tickets": count, "open": sum(1 for r in rows if r[4] in ("open", "in_progress", "new")),
            "load_seconds": round(time.perf_counter() - started, 1)}


async def _customers():  # type: ignore[no-untyped-def]
    for c in await Customer.all().order_by("id"):
        yield c


def customer_channel(key: str) -> str:
    return {"ACME": "C0ACME", "GLOBEX": "C0GLOBEX"}.get(key, "C0ACME")


def olli(text: str) -> Invocation:
    return Invocation(event_id=f"Ev{uuid.uuid4().hex}", actor=Actor(Platform.SLACK, "T0HOME", "U0OLLI", "Olli"),
                      place=Place(Platform.SLACK, "T0HOME", "C0TRIAGE", None), text=text)


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "runs": len(ordered)}


async def measure(count: int, repeat: int) -> dict[str, Any]:
    clock = FakeClock(NOW)
    desk = Helpdesk(clock=clock)
    times: dict[str, list[float]] = {"help": [], "queue": [], "show": []}
    keys = [f"ACME-{random.randint(1, count // 2)}" for _ in range(repeat + 5)]
    lines = 0
    first_queue = None
    for i in range(repeat + 5):
        clock.advance(minutes=1)
        for name, text in (("help", "help"), ("queue", "queue"), ("show", f"show {keys[i]}")):
            started = time.perf_counter()
            outcome = await desk.handle_invocation(olli(text))
            elapsed = (time.perf_counter() - started) * 1000
            assert outcome.replies and outcome.replies[0].kind not in ("error", "refusal"), (text, outcome)
            if name == "queue":
                lines = outcome.replies[0].text.count("\n")
                first_queue = elapsed if first_queue is None else first_queue
            if i >= 5:  # the first rounds warm the caches
                times[name].append(elapsed)
    result = {name: summary(t) for name, t in times.items()}
    for name in ("queue", "show"):
        for q in ("p50", "p95"):
            base = result["help"][q]
            result[name][f"x_help_{q}"] = round(result[name][q] / base, 2) if base else None
        result[name]["meets_target"] = result[name]["p95"] <= TARGET_P95_MS
    result["queue_lines"] = lines
    result["first_queue_ms"] = round(first_queue or 0.0, 2)
    return result


async def run_one(url: str, count: int, repeat: int) -> dict[str, Any]:
    await db.migrate(url)
    await db.init(url)
    try:
        await apply_config(load_config(ORG_YAML))
        loaded = await load(url, count)
        return {**loaded, **await measure(count, repeat)}
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> int:
    count = 20_000 if args.quick else 100_000
    repeat = 20 if args.quick else 60
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await run_one(f"sqlite://{tmp}/queue.sqlite3", count, repeat)
    admin = args.postgres or os.environ.get("TEST_POSTGRES_URL", "")
    if admin:
        import asyncpg

        name = f"chatdesk_bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        try:
            results["postgres"] = await run_one(f"{admin.rsplit('/', 1)[0]}/{name}", count, repeat)
        finally:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    print(f"{'database':<10} {'tickets':>8} {'command':<6} {'p50 ms':>7} {'p95 ms':>7} {'p50 x help':>10} "
          f"{'p95 x help':>10}  p95 <= {TARGET_P95_MS:.0f} ms")
    for database, r in results.items():
        for name in ("help", "queue", "show"):
            ratios = [r[name].get(f"x_help_{q}") for q in ("p50", "p95")]
            verdict = "" if name == "help" else ("met" if r[name]["meets_target"] else "MISSED")
            print(f"{database:<10} {r['tickets']:>8} {name:<6} {r[name]['p50']:>7.1f} {r[name]['p95']:>7.1f} "
                  + " ".join(f"{'' if x is None else format(x, '.2f'):>10}" for x in ratios) + f"  {verdict}")
        print(f"{database:<10} first queue (nothing kept yet): {r['first_queue_ms']:.1f} ms, "
              f"{r['queue_lines']} lines")
    met = all(r[name]["meets_target"] for r in results.values() for name in ("queue", "show"))
    print(f"target queue and show p95 <= {TARGET_P95_MS:.0f} ms on {', '.join(results)}: "
          f"{'met' if met else 'MISSED'}")
    out = ROOT / "bench-results" / "queue.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"benchmark": "queue-show", "target_p95_ms": TARGET_P95_MS, "cpus": os.cpu_count(),
                               **results}, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 tickets")
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server (default: TEST_POSTGRES_URL)")
    sys.exit(asyncio.run(main(parser.parse_args())))
