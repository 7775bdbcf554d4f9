"""What one SLA reminder sweep costs per notice, on SQLite and on PostgreSQL.

    .venv/bin/python tests/bench/bench_sweep.py [--quick] [--database sqlite|postgres|both]
                                                [--postgres URL] [--keep]

Loads 1,000,000 tickets (100,000 with --quick) into a fresh database (COPY on PostgreSQL,
one multi-row insert per chunk on SQLite), 1 % of them with a notice due, then times, in the
same run and on the same database:

- a whole sweep (`bot.reminders.tick`) over every due ticket, batch by batch (lock up to 50
  tickets, record their notices, queue the posts, move notice_at on, commit), against the
  baseline, the floor of a durable batch: the same due-selection, one INSERT of 50 notice rows,
  one of 150 pre-rendered outbox rows and one UPDATE of the 50 tickets in one transaction
  (rolled back), timed between the sweep's batches; the ratio is sweep / floor, the per-notice
  cost a batch's median time / 50. The target is at most 1 ms per notice;
- on PostgreSQL, the sweep's due-selection query exactly as the sweep runs it (``FOR NO KEY
  UPDATE SKIP LOCKED`` in a transaction) against a plain indexed SELECT of the same rows
  (target under 50 ms);
- an idle sweep, when nothing is due (what the worker does most of the time).

Results go to bench-results/sweep.json. PostgreSQL comes from --postgres, else
TEST_POSTGRES_URL (`make bench` starts one); without either only SQLite runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
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
from bot.types import Audience, Reply  # noqa: E402
from storage import db  # noqa: E402
from storage.config_apply import apply_config  # noqa: E402
from storage.models import Customer, OutboxMessage, Person, SlaNotice, Ticket  # noqa: E402

ORG_YAML = ROOT / "tests" / "fixtures" / "org.yaml"
SELECTION_TARGET_MS = 50.0
NOTICE_TARGET_MS = 1.0
DUE_SHARE = 0.01
POSTS_PER_NOTICE = 3  # the thread, triage and the assignee's DM
# Monday 23 November 2026, 13:30 in Helsinki: the due tickets, opened at 09:00, are past
# their first-response deadline (13:00); their warning (12:00) was never sent.
NOW = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
OPENED = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
COLUMNS = ("key", "number", "title", "type", "status", "priority", "team", "platform", "tenant", "channel",
           "thread", "created_at", "updated_at", "sla_state", "first_response_due", "resolution_due",
           "escalation_at", "notice_at", "assignee_id", "customer_id")


class _Rollback(Exception):
    """Ends the floor's transaction without keeping its writes."""


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


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while part := [r for _, r in zip(range(size), rows, strict=False)]:
        yield part


async def load(url: str, count: int) -> dict[str, Any]:
    acme = await Customer.get(key="ACME")
    ctx = await svc.sla_context(acme.id)
    assignees = [p.id for p in await Person.filter(role="consultant").order_by("id")]
    rows = _rows(count, acme.id, ctx, assignees)
    started = time.perf_counter()
    if db.is_postgres(url):
        conn = await asyncpg.connect(url)
        try:
            for part in _chunks(rows, 50_000):
                await conn.copy_records_to_table("ticket", records=part, columns=list(COLUMNS))
            await conn.execute("ANALYZE ticket")
        finally:
            await conn.close()
    else:
        # Values go through the ORM's fields, so SQLite stores them exactly as the app does.
        client = connections.get("default")
        fields_map = Ticket._meta.fields_map
        marks = "(" + ",".join("?" * len(COLUMNS)) + ")"
        per_statement = 32_000 // len(COLUMNS)  # SQLite's limit on parameters per statement
        for part in _chunks(rows, per_statement):
            values = [fields_map[c].to_db_value(v, Ticket) if c.endswith(("_at", "_due")) else v
                      for row in part for c, v in zip(COLUMNS, row, strict=True)]
            await client.execute_query(f'INSERT INTO "ticket" ({",".join(COLUMNS)}) VALUES '
                                       f'{",".join([marks] * len(part))}', values)
        await client.execute_script("ANALYZE")
    due = await Ticket.filter(notice_at__lte=NOW).count()
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


def _marks(postgres: bool, start: int, rows: int, width: int) -> str:
    """`rows` groups of `width` placeholders, numbered from `start` on PostgreSQL."""
    if not postgres:
        return ",".join(["(" + ",".join("?" * width) + ")"] * rows)
    return ",".join("(" + ",".join(f"${start + r * width + c}" for c in range(width)) + ")" for r in range(rows))


def _floor_post() -> tuple[str, str]:
    """A notice's post as the outbox stores it, rendered once: the floor pays for no wording."""
    reply = Reply("ACME-1 first response breached 30m ago (due Mon 13:00)", audience=Audience.TRIAGE,
                  title="SLA breach: ACME-1", ticket_key="ACME-1", internal=True, kind="notice")
    return json.dumps({"tenant": "T0HOME", "channel": "C0HOME", "thread": None, "user": None}), \
        json.dumps(reply.to_json())


async def floor_batch(now: datetime, post: tuple[str, str]) -> int:
    """The least a durable batch must do, in one transaction that is then rolled back: select
    and lock the due tickets, record their notices, queue their posts, move them on."""
    rows = 0
    try:
        async with in_transaction() as conn:
            postgres = conn.capabilities.dialect == "postgres"
            ph = "$1" if postgres else "?"
            lock = " FOR NO KEY UPDATE SKIP LOCKED" if postgres else ""
            found = await conn.execute_query_dict(
                f'SELECT "id" FROM "ticket" WHERE "notice_at" <= {ph} ORDER BY "notice_at" '
                f'LIMIT {reminders.BATCH}{lock}', [Ticket._meta.fields_map["notice_at"].to_db_value(now, Ticket)])
            ids = [int(r["id"]) for r in found]
            rows = len(ids)
            if not ids:
                raise _Rollback
            at = SlaNotice._meta.fields_map["due_at"].to_db_value(now, SlaNotice)
            notices = [v for i in ids for v in (i, "first_response", "breach", at, at)]
            await conn.execute_query('INSERT INTO "sla_notice" ("ticket_id","metric","kind","due_at","created_at") '
                                     f'VALUES {_marks(postgres, 1, len(ids), 5)}', notices)
            sent = OutboxMessage._meta.fields_map["next_attempt_at"].to_db_value(now, OutboxMessage)
            tag = uuid.uuid4().hex
            posts = [v for n, i in enumerate(ids) for k in range(POSTS_PER_NOTICE)
                     for v in ("slack", post[0], post[1], f"floor:{tag}:{n}:{k}", "pending", 0, sent, f"ACME-{i}",
                               sent, 1)]
            await conn.execute_query(
                'INSERT INTO "outbox" ("platform","destination","payload","dedupe_key","status","attempts",'
                '"next_attempt_at","ticket_key","created_at","priority") '
                f'VALUES {_marks(postgres, 1, len(ids) * POSTS_PER_NOTICE, 10)}', posts)
            later = Ticket._meta.fields_map["notice_at"].to_db_value(now + timedelta(days=1), Ticket)
            id_marks = ",".join(f"${n + 2}" if postgres else "?" for n in range(len(ids)))
            await conn.execute_query(f'UPDATE "ticket" SET "notice_at" = {ph} WHERE "id" IN ({id_marks})',
                                     [later, *ids])
            raise _Rollback
    except _Rollback:
        pass
    return rows


async def measure_sweep(postgres: bool) -> dict[str, Any]:
    """A whole sweep over every due ticket, the floor timed between its batches."""
    desk = Helpdesk(clock=FakeClock(NOW), suggest=_no_suggestions)
    post = _floor_post()
    per_batch: list[float] = []
    cpu_batch: list[float] = []
    floor: list[float] = []
    full: list[int] = []
    batch = reminders._Sweep.batch

    async def timed_batch(self: reminders._Sweep) -> tuple[int, int]:
        if await floor_batch(self.now, post) == reminders.BATCH:
            floor.append(-time.perf_counter())
            await floor_batch(self.now, post)
            floor[-1] = (floor[-1] + time.perf_counter()) * 1000
        t0, c0 = time.perf_counter(), time.process_time()
        seen, recorded = await batch(self)
        if seen == reminders.BATCH:
            per_batch.append((time.perf_counter() - t0) * 1000)
            cpu_batch.append((time.process_time() - c0) * 1000)
            full.append(recorded)
        return seen, recorded

    reminders._Sweep.batch = timed_batch  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        notices = await reminders.tick(desk, NOW)
        tick_ms = (time.perf_counter() - t0) * 1000
    finally:
        reminders._Sweep.batch = batch  # type: ignore[method-assign]
    assert per_batch and all(r == reminders.BATCH for r in full), full
    assert await SlaNotice.all().count() == notices
    queued = await OutboxMessage.all().count()
    assert queued == POSTS_PER_NOTICE * notices, (queued, notices)

    earliest = (await reminders.due_query(NOW + timedelta(days=365), limit=1))[0].notice_at
    assert earliest is not None
    idle_now = earliest - timedelta(seconds=1)
    idle = await timed(lambda: reminders.tick(desk, idle_now), 20)

    b, f = summary(per_batch), summary(floor)
    per_notice = b["median"] / reminders.BATCH
    return {
        "batch": reminders.BATCH,
        "notices": notices,
        "posts_queued": queued,
        "tick_ms": round(tick_ms, 1),
        "batch_ms": b,
        "batch_cpu_ms": summary(cpu_batch),
        "floor_batch_ms": f,
        "ratio_to_floor": round(b["median"] / f["median"], 2),
        "per_notice_ms": round(per_notice, 3),
        "per_notice_cpu_ms": round(statistics.median(cpu_batch) / reminders.BATCH, 3),
        "floor_per_notice_ms": round(f["median"] / reminders.BATCH, 3),
        "per_notice_target_ms": NOTICE_TARGET_MS,
        "meets_notice_target": per_notice <= NOTICE_TARGET_MS,
        "idle_tick_ms": summary(idle),
    }


async def measure_selection(repeat: int) -> dict[str, Any]:
    """PostgreSQL: the sweep's locked due-selection against a plain SELECT of the same rows."""
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
    s, b = summary(sel), summary(base)
    return {
        "same_rows": same,
        "selection_ms": s,
        "plain_select_ms": b,
        "selection_ratio": round(s["median"] / b["median"], 2),
        "selection_target_ms": SELECTION_TARGET_MS,
        "meets_selection_target": s["median"] < SELECTION_TARGET_MS,
        "plan": [r["QUERY PLAN"] for r in plan_rows],
    }


async def run_one(url: str, count: int, repeat: int) -> dict[str, Any]:
    postgres = db.is_postgres(url)
    await db.migrate(url)
    await db.init(url)
    try:
        await apply_config(load_config(ORG_YAML))
        print(f"{'postgres' if postgres else 'sqlite'}: loading {count:,} tickets ({DUE_SHARE:.0%} due) ...",
              flush=True)
        loaded = await load(url, count)
        print(f"  loaded in {loaded['load_seconds']} s; {loaded['due']:,} due", flush=True)
        selection = await measure_selection(repeat) if postgres else {}
        sweep = await measure_sweep(postgres)
    finally:
        await db.close()
    return {**loaded, **selection, **sweep}


async def on_postgres(base_url: str, count: int, repeat: int, keep: bool) -> dict[str, Any]:
    name = f"chatdesk_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    version = await admin.fetchval("SHOW server_version")
    await admin.close()
    try:
        return {"server": f"PostgreSQL {version}",
                **await run_one(f"{base_url.rsplit('/', 1)[0]}/{name}", count, repeat)}
    finally:
        if not keep:
            admin = await asyncpg.connect(base_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def on_sqlite(count: int, repeat: int, keep: bool) -> dict[str, Any]:
    import sqlite3

    folder = tempfile.mkdtemp(prefix="chatdesk-bench-sweep-")
    path = Path(folder) / "chatdesk.sqlite3"
    try:
        return {"server": f"SQLite {sqlite3.sqlite_version}", **await run_one(f"sqlite://{path}", count, repeat)}
    finally:
        if keep:
            print(f"  kept {path}")
        else:
            for leftover in Path(folder).iterdir():
                leftover.unlink()
            Path(folder).rmdir()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    count = 100_000 if args.quick else 1_000_000
    repeat = 30 if args.quick else 50
    base_url = args.postgres or os.environ.get("TEST_POSTGRES_URL")
    wanted = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in wanted and not base_url:
        if args.database == "postgres":
            raise SystemExit("--database postgres needs --postgres URL or TEST_POSTGRES_URL (make bench sets it)")
        print("no PostgreSQL (--postgres URL or TEST_POSTGRES_URL): SQLite only")
        wanted.remove("postgres")
    results: dict[str, Any] = {}
    for name in wanted:
        if name == "sqlite":
            results[name] = await on_sqlite(count, repeat, args.keep)
        else:
            assert base_url
            results[name] = await on_postgres(base_url, count, repeat, args.keep)
    return {"name": "sweep", "quick": args.quick, **results}


def report(name: str, r: dict[str, Any]) -> None:
    print(f"{name} ({r['server']}, {r['tickets']:,} tickets, {r['notices']:,} notices in "
          f"{r['notices'] // r['batch']} batches of {r['batch']}):")
    if "selection_ms" in r:
        s, b = r["selection_ms"], r["plain_select_ms"]
        print(f"  due-selection (FOR NO KEY UPDATE SKIP LOCKED): median {s['median']} ms, p95 {s['p95']} ms "
              f"(target < {SELECTION_TARGET_MS:.0f} ms: {'met' if r['meets_selection_target'] else 'MISSED'}); "
              f"plain SELECT {b['median']} ms; ratio {r['selection_ratio']}")
    b, f = r["batch_ms"], r["floor_batch_ms"]
    print(f"  sweep batch: median {b['median']} ms (p95 {b['p95']}, min {b['min']}; {r['batch_cpu_ms']['median']} ms "
          f"of it CPU); floor of a durable batch: median {f['median']} ms; ratio {r['ratio_to_floor']}")
    print(f"  per notice: {r['per_notice_ms']} ms ({r['per_notice_cpu_ms']} ms CPU; floor "
          f"{r['floor_per_notice_ms']} ms); target <= {NOTICE_TARGET_MS:g} ms: "
          f"{'met' if r['meets_notice_target'] else 'MISSED'}; idle sweep {r['idle_tick_ms']['median']} ms")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k tickets instead of 1M")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server (default: TEST_POSTGRES_URL)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases afterwards")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "sweep.json"))
    args = parser.parse_args()
    result = asyncio.run(main(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name in ("sqlite", "postgres"):
        if name in result:
            report(name, result[name])
    print(f"wrote {out}")


if __name__ == "__main__":
    cli()
