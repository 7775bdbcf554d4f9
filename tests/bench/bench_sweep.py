"""How long one SLA sweep takes with a million tickets in PostgreSQL.

    .venv/bin/python tests/bench/bench_sweep.py [--quick] [--postgres URL] [--keep]

Loads 1,000,000 tickets (100,000 with --quick) into a fresh database with COPY, 1 %
of them with a notice due, then times, in the same run:

- the sweep's due-selection query exactly as `bot.reminders.tick` runs it (ORM,
  ``WHERE notice_at <= now ORDER BY notice_at LIMIT 50 FOR NO KEY UPDATE SKIP
  LOCKED`` inside a transaction) against the baseline, a plain indexed SELECT of the
  same rows with no lock and no transaction; the ratio is selection / baseline;
- a whole batch of the sweep (lock 50 tickets, record their notices, queue the posts,
  move notice_at on, commit), per batch and per notice;
- an idle sweep, when nothing is due (what the worker does most of the time).

The target for a sweep's selection is under 50 ms. Results go to bench-results/sweep.json.
PostgreSQL comes from --postgres, else TEST_POSTGRES_URL (`make bench` starts one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from tortoise import connections  # noqa: E402
from tortoise.transactions import in_transaction  # noqa: E402

from bot import clocks, reminders  # noqa: E402
from bot import tickets as svc  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.core import Helpdesk  # noqa: E402
from storage import db  # noqa: E402
from storage.config_apply import apply_config  # noqa: E402
from storage.models import Customer, Person  # noqa: E402

ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
TARGET_MS = 50.0
DUE_SHARE = 0.01
# Monday 23 November 2026, 13:30 in Helsinki: the due tickets, opened at 09:00, are past
# their first-response deadline (13:00); their warning (12:00) was never sent.
NOW = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
OPENED = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
COLUMNS = ("key", "number", "title", "type", "status", "priority", "team", "platform", "tenant", "channel",
           "thread", "created_at", "updated_at", "sla_state", "first_response_due", "resolution_due",
           "escalation_at", "notice_at", "assignee_id", "customer_id")


def _rows(count: int, acme: int, ctx: svc.SlaContext, assignees: list[int]) -> Iterator[tuple[Any, ...]]:
    """Every 100th ticket has a notice due; about half the rest are open with notices later, half resolved."""
    target = ctx.target("P3")
    assert target is not None
    # The due tickets open a few milliseconds apart on Monday morning, well inside business
    # hours, so their deadlines are the first one's shifted by the same amount.
    base = {v.metric: v for v in clocks.view(clocks.new_state(OPENED), ctx.calendar, target, ctx.contract.warn_at,
                                             OPENED)}
    base_first, base_resolution = base["first_response"].due, base["resolution"].due
    base_notice = clocks.next_notice_at(list(base.values()), set())
    assert base_first and base_resolution and base_notice and base_notice <= NOW
    for n in range(1, count + 1):
        first: datetime | None
        resolution: datetime | None
        notice: datetime | None
        if n % int(1 / DUE_SHARE) == 0:
            shift = timedelta(milliseconds=5 * (n // 100))
            created = OPENED + shift
            first, resolution = base_first + shift, base_resolution + shift
            notice, status = base_notice + shift, "open"
        elif n % 2:
            created = OPENED - timedelta(days=1 + n % 30, seconds=n % 3600)
            first = resolution = notice = None
            status = "resolved"
        else:
            created = OPENED - timedelta(days=1 + n % 30, seconds=n % 3600)
            first = None
            resolution = NOW + timedelta(days=1 + n % 10, seconds=n % 86400)
            notice, status = resolution - timedelta(hours=10), "in_progress"
        escalation = min((d for d in (first, resolution) if d is not None), default=None)
        yield (f"ACME-{n}", n, f"Bench ticket {n}", "incident", status, "P3", "support", "slack", "T0HOME",
               "C0ACME", f"{n}.000100", created, created, json.dumps(clocks.new_state(created)), first, resolution,
               escalation, notice, assignees[n % len(assignees)], acme)


async def load(url: str, count: int) -> dict[str, Any]:
    acme = await Customer.get(key="ACME")
    ctx = await svc.sla_context(acme.id)
    assignees = [p.id for p in await Person.filter(role="consultant").order_by("id")]
    conn = await asyncpg.connect(url)
    started = time.perf_counter()
    try:
        rows = _rows(count, acme.id, ctx, assignees)
        chunk = 50_000
        while True:
            part = [r for _, r in zip(range(chunk), rows, strict=False)]
            if not part:
                break
            await conn.copy_records_to_table("ticket", records=part, columns=list(COLUMNS))
        await conn.execute("ANALYZE ticket")
        due = await conn.fetchval("SELECT count(*) FROM ticket WHERE notice_at <= $1", NOW)
    finally:
        await conn.close()
    return {"tickets": count, "due": due, "load_seconds": round(time.perf_counter() - started, 1)}


async def _no_suggestions(text: str, limit: int) -> list[object]:
    return []


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median": round(statistics.median(ordered), 3), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
            "min": round(ordered[0], 3), "runs": len(ordered)}


async def measure(repeat: int, batches: int) -> dict[str, Any]:
    async def selection() -> None:
        async with in_transaction() as conn:
            rows = await reminders.due_query(NOW, lock=True).using_db(conn)
            assert len(rows) == reminders.BATCH

    async def plain() -> None:
        rows = await reminders.due_query(NOW)
        assert len(rows) == reminders.BATCH

    same = [t.id for t in await reminders.due_query(NOW)] == [t.id for t in await reminders.due_query(NOW, lock=True)]
    assert same, "the locked and the plain query must read the same rows"
    for warm in (selection, plain):  # warm the pool and the caches for both sides alike
        await timed(warm, 5)
    # Interleave the two so neither side gets a warmer cache or a quieter machine.
    sel: list[float] = []
    base: list[float] = []
    for _ in range(repeat):
        sel += await timed(selection, 1)
        base += await timed(plain, 1)

    sql = reminders.due_query(NOW, lock=True).sql(params_inline=True)
    plan_rows = await connections.get("default").execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
    plan = [r["QUERY PLAN"] for r in plan_rows]

    desk = Helpdesk(clock=FakeClock(NOW), suggest=_no_suggestions)
    sweep = reminders._Sweep(desk, NOW)
    per_batch: list[float] = []
    notices = 0
    for _ in range(batches):
        t0 = time.perf_counter()
        seen, recorded = await sweep.batch()
        per_batch.append((time.perf_counter() - t0) * 1000)
        assert seen == reminders.BATCH and recorded == reminders.BATCH, (seen, recorded)
        notices += recorded

    earliest = (await reminders.due_query(NOW + timedelta(days=365), limit=1))[0].notice_at
    assert earliest is not None
    idle_now = earliest - timedelta(seconds=1)
    idle = await timed(lambda: reminders.tick(desk, idle_now), repeat)

    s, b = summary(sel), summary(base)
    return {
        "batch": reminders.BATCH,
        "same_rows": same,
        "selection_ms": s,
        "plain_select_ms": b,
        "ratio": round(s["median"] / b["median"], 2),
        "ms_per_sweep": s["median"],
        "target_ms": TARGET_MS,
        "meets_target": s["median"] < TARGET_MS,
        "batch_tick_ms": summary(per_batch),
        "per_notice_ms": round(statistics.median(per_batch) / reminders.BATCH, 3),
        "notices_recorded": notices,
        "idle_tick_ms": summary(idle),
        "plan": plan,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base_url = args.postgres or os.environ.get("TEST_POSTGRES_URL")
    if not base_url:
        raise SystemExit("bench_sweep needs PostgreSQL: --postgres URL or TEST_POSTGRES_URL (make bench sets it)")
    name = f"chatdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    version = await admin.fetchval("SHOW server_version")
    await admin.close()
    url = f"{base_url.rsplit('/', 1)[0]}/{name}"
    try:
        await db.migrate(url)
        await db.init(url)
        try:
            await apply_config(load_config(ORG_YAML))
            count = 100_000 if args.quick else 1_000_000
            print(f"loading {count:,} tickets ({DUE_SHARE:.0%} due) into {name} ...", flush=True)
            loaded = await load(url, count)
            print(f"  loaded in {loaded['load_seconds']} s; {loaded['due']:,} due", flush=True)
            result = await measure(repeat=30 if args.quick else 50, batches=10)
        finally:
            await db.close()
    finally:
        if not args.keep:
            admin = await asyncpg.connect(base_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return {"name": "sweep", "quick": args.quick, "postgres": version, **loaded, **result}


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k tickets instead of 1M")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server (default: TEST_POSTGRES_URL)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "sweep.json"))
    args = parser.parse_args()
    result = asyncio.run(main(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    s, b = result["selection_ms"], result["plain_select_ms"]
    print(f"due-selection (FOR NO KEY UPDATE SKIP LOCKED, {result['batch']} rows): median {s['median']} ms, "
          f"p95 {s['p95']} ms (target < {TARGET_MS:.0f} ms: {'met' if result['meets_target'] else 'MISSED'})")
    print(f"plain indexed SELECT of the same rows: median {b['median']} ms; ratio {result['ratio']}")
    print(f"one sweep batch (lock, record, queue, move on): median {result['batch_tick_ms']['median']} ms, "
          f"{result['per_notice_ms']} ms per notice; idle sweep {result['idle_tick_ms']['median']} ms")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli()
