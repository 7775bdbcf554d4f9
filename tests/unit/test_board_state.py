"""The board's arithmetic and its incremental state: the same answer as counting from scratch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot import tickets as svc
from bot.board import BoardState, BusinessLine
from bot.clock import FakeClock
from bot.sla import Calendar, business_minutes_between
from storage.models import Customer, Person, Ticket
from tests.conftest import MONDAY_9_HELSINKI

HELSINKI = Calendar.from_config({"timezone": "Europe/Helsinki", "hours": {
    "mon": ["08:00-16:00"], "tue": ["08:00-16:00"], "wed": ["08:00-16:00"], "thu": ["08:00-16:00"],
    "fri": ["08:00-12:00", "13:00-16:00"]}, "holidays": ["2026-12-24"]})


@pytest.mark.parametrize("seed", range(5))
def test_business_line_matches_counting(seed: int) -> None:
    rng = random.Random(seed)
    # Spans the clock change of 28 March 2027 and the Christmas holiday.
    now = datetime(2026, 12, 20, 10, tzinfo=UTC)
    line = BusinessLine(HELSINKI, now)
    for _ in range(200):
        a = now + timedelta(minutes=rng.randint(-60 * 24 * 90, 60 * 24 * 500))
        b = a + timedelta(minutes=rng.randint(0, 60 * 24 * 20))
        assert line.at(b) - line.at(a) == pytest.approx(business_minutes_between(HELSINKI, a, b), abs=1e-6)


def keys(state: BoardState, now: datetime, customer: str | None = None) -> list[tuple[str | None, list[str]]]:
    return [(c["person"], [p.row["key"] for p in c["tickets"]]) for c in state.columns(now, customer, limit=500)]


async def test_incremental_state_matches_a_fresh_load(database: str) -> None:
    clock = FakeClock(MONDAY_9_HELSINKI)
    acme, globex = await Customer.get(key="ACME"), await Customer.get(key="GLOBEX")
    olli, sanna = await Person.get(pid="olli"), await Person.get(pid="sanna")
    rng = random.Random(3)
    now = clock.now()
    for n in range(1, 41):
        customer = acme if n % 2 else globex
        due = now + timedelta(minutes=rng.randint(-300, 3000))
        await Ticket.create(key=f"{customer.key}-{n}", number=n, customer_id=customer.id, title=f"t{n}",
                            platform="slack", tenant="T", channel=f"C{n % 3}", thread=f"{n}.1",
                            priority=rng.choice(["P1", "P2", "P3", "P4"]), status="open",
                            assignee_id=rng.choice([olli.id, sanna.id, None]), created_at=now, updated_at=now,
                            escalation_at=due, resolution_due=due)
    live = BoardState()
    await live.load(now, 0.0)
    for step in range(30):
        clock.advance(minutes=7)
        now = clock.now()
        ticket = await Ticket.get(key=rng.choice([t.key for t in await Ticket.all()]))
        change = step % 4
        if change == 0:
            ticket.assignee_id = rng.choice([olli.id, sanna.id, None])
        elif change == 1:
            ticket.status = rng.choice(["waiting_on_customer", "resolved", "in_progress"])
        elif change == 2:
            ticket.rank = rng.choice([None, 1, 2, 3]) if ticket.assignee_id else None
        else:
            ticket.escalation_at = ticket.resolution_due = now + timedelta(minutes=rng.randint(-100, 900))
        await svc.save(ticket, now)
        await live.update(now, float(step))
        fresh = BoardState()
        await fresh.load(now, 0.0)
        assert keys(live, now) == keys(fresh, now), step
        assert keys(live, now, "GLOBEX") == keys(fresh, now, "GLOBEX")


async def test_columns_put_rank_first_then_least_business_time_left(database: str) -> None:
    now = MONDAY_9_HELSINKI
    acme = await Customer.get(key="ACME")
    olli = await Person.get(pid="olli")

    async def make(n: int, minutes: int, rank: int | None = None, status: str = "open") -> None:
        due = now + timedelta(minutes=minutes)
        await Ticket.create(key=f"ACME-{n}", number=n, customer_id=acme.id, title="t", platform="slack", tenant="T",
                            channel="C", thread=f"{n}.1", status=status, assignee_id=olli.id, rank=rank,
                            created_at=now, updated_at=now, escalation_at=due, resolution_due=due)

    await make(1, 6000)  # four days on: well over 600 business minutes left
    await make(2, -30)  # breached
    await make(3, 60, rank=1)
    await make(4, 20)
    await make(5, 5, status="waiting_on_customer")  # paused: last
    state = BoardState()
    await state.load(now, 0.0)
    olli_column = next(c for c in state.columns(now) if c["person"] == "olli")
    assert [p.row["key"] for p in olli_column["tickets"]] == ["ACME-3", "ACME-2", "ACME-4", "ACME-1", "ACME-5"]
    # P3 resolution target 2400 minutes: under 600 left is a warning
    assert [p.urgency for p in olli_column["tickets"]] == ["warning", "breached", "warning", "ok", "paused"]
    assert olli_column["count"] == 5
    assert [p.row["key"] for p in next(c for c in state.columns(now, limit=2)
                                       if c["person"] == "olli")["tickets"]] == ["ACME-3", "ACME-2"]
