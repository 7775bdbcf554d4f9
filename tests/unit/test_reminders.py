"""The SLA reminder worker (bot/reminders.py) on the fake clock.

Tickets come in through the core as Slack messages and commands, so the clocks
move exactly as they do in production; `tick` is called the way `run` calls it.
What a notice posted is read back from the outbox.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot import clocks, reminders
from bot import tickets as svc
from bot.clock import FakeClock
from bot.config import load_config
from bot.core import Helpdesk
from bot.identity import Who, resolve
from bot.types import Actor, IncomingMessage, Invocation, Place, Platform
from bot.views import when as local_time
from storage import db
from storage.config_apply import apply_config
from storage.models import Customer, OutboxMessage, Person, SlaNotice, Ticket
from tests.conftest import MONDAY_9_HELSINKI, ORG_YAML

CUSTOMER = Actor(Platform.SLACK, "T0ACME", "U0CUST", display_name="Aino")
LEAD = Actor(Platform.SLACK, "T0HOME", "U0LEAD")
OLLI = Actor(Platform.SLACK, "T0HOME", "U0OLLI")
ACME = Place(Platform.SLACK, "T0HOME", "C0ACME")
TRIAGE = Place(Platform.SLACK, "T0HOME", "C0TRIAGE")


def helsinki(text: str) -> datetime:
    """Wall clock in Helsinki in late November 2026 (EET, UTC+2)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - timedelta(hours=2)


async def _no_suggestions(text: str, limit: int) -> list[object]:
    return []


class World:
    """One helpdesk on a fake clock, spoken to over Slack."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.desk = Helpdesk(clock=clock, suggest=_no_suggestions)
        self.ids = itertools.count(1)
        self.seen_outbox = 0

    async def post(self, text: str, thread: str | None = None, actor: Actor = CUSTOMER) -> str:
        message_id = f"{1795000000 + next(self.ids)}.000100"
        msg = IncomingMessage(event_id=f"Ev{message_id}", actor=actor, place=Place(ACME.platform, ACME.tenant,
                              ACME.channel, thread), message_id=message_id, text=text)
        await self.desk.handle_message(msg)
        return message_id

    async def command(self, text: str, actor: Actor = LEAD) -> str:
        inv = Invocation(event_id=f"cmd{next(self.ids)}", actor=actor, place=TRIAGE, text=text)
        outcome = await self.desk.handle_invocation(inv)
        said = " | ".join(r.text for r in outcome.replies)
        assert "not allowed" not in said and "no ticket" not in said, said
        return said

    async def new_ticket(self, assignee: str | None = "olli", priority: str | None = None) -> Ticket:
        thread = await self.post("Our VPN is down in the Oulu office")
        ticket = await Ticket.get(platform="slack", channel="C0ACME", thread=thread)
        if priority:
            await self.command(f"priority {ticket.key} {priority}")
        if assignee:
            await self.command(f"assign {ticket.key} @{assignee}")
        return await Ticket.get(id=ticket.id)

    async def tick_at(self, when: datetime) -> int:
        self.clock.set(when)
        return await reminders.tick(self.desk, when)

    async def posts(self) -> list[tuple[str, str]]:
        """Notice posts queued since the last call: (where, text)."""
        rows = await OutboxMessage.filter(dedupe_key__startswith="sla:").order_by("id")
        new, self.seen_outbox = rows[self.seen_outbox:], len(rows)
        out = []
        for r in new:
            d = r.destination
            where = f"dm:{d['user']}" if d["user"] else ("thread" if d["thread"] else f"channel:{d['channel']}")
            out.append((where, r.payload["text"]))
        return out


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(clock)


async def notice_rows(ticket: Ticket) -> list[tuple[str, str, datetime]]:
    rows = await SlaNotice.filter(ticket_id=ticket.id).order_by("id").values_list("metric", "kind", "due_at")
    return [(m, k, d.astimezone(UTC)) for m, k, d in rows]


async def test_warning_at_75_percent_then_breach_each_once(any_database: str, world: World) -> None:
    ticket = await world.new_ticket()
    assert ticket.notice_at == helsinki("2026-11-23 12:00")  # 75 % of gold P3's 240 min first response
    assert await world.tick_at(helsinki("2026-11-23 11:59")) == 0
    assert await world.posts() == []

    assert await world.tick_at(helsinki("2026-11-23 12:00")) == 1
    assert sorted(await world.posts()) == [
        ("channel:C0TRIAGE", "ACME-1 first response due 13:00 EET, in 1h 00m"),
        ("dm:U0OLLI", "ACME-1 first response due 13:00 EET, in 1h 00m"),
        ("thread", "ACME-1: we aim to reply to you by 13:00 EET (in 1h 00m). The team has been reminded."),
    ]
    for later in ("2026-11-23 12:00", "2026-11-23 12:30", "2026-11-23 12:59"):
        assert await world.tick_at(helsinki(later)) == 0
    assert await world.posts() == []

    assert await world.tick_at(helsinki("2026-11-23 13:00")) == 1
    posts = dict((w, t) for w, t in await world.posts())
    assert posts["dm:U0OLLI"] == posts["channel:C0TRIAGE"] == "ACME-1 first response breached just now (due 13:00 EET)"
    assert posts["thread"].startswith("ACME-1: the time we aimed to reply to you by, 13:00 EET, has just passed.")
    assert await world.tick_at(helsinki("2026-11-23 14:05")) == 0
    assert await world.posts() == []

    first_due = helsinki("2026-11-23 13:00")
    assert await notice_rows(ticket) == [("first_response", "warning", first_due),
                                         ("first_response", "breach", first_due)]
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.notice_at == helsinki("2026-11-26 15:00")  # the resolution warning comes next
    assert ticket.first_response_due == first_due  # deadlines are not touched by notices


async def test_a_late_sweep_says_how_late_and_skips_the_stale_warning(database: str, world: World) -> None:
    ticket = await world.new_ticket()
    assert await world.tick_at(helsinki("2026-11-23 14:05")) == 1
    assert ("dm:U0OLLI", "ACME-1 first response breached 1h 05m ago (due 13:00 EET)") in await world.posts()
    assert [k for _, k, _ in await notice_rows(ticket)] == ["breach"]
    assert await world.tick_at(helsinki("2026-11-23 15:00")) == 0


async def test_restart_loses_nothing_and_repeats_nothing(database: str, world: World,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = await world.new_ticket()
    real_route = world.desk.route

    async def crash(*args: object, **kwargs: object) -> int:
        await real_route(*args, **kwargs)  # type: ignore[arg-type]
        raise asyncio.CancelledError  # the worker is stopped in the middle of queueing

    monkeypatch.setattr(world.desk, "route", crash)
    with pytest.raises(asyncio.CancelledError):
        await world.tick_at(helsinki("2026-11-23 12:05"))
    # Nothing of the half-done sweep survived, and the ticket is still due.
    assert await SlaNotice.all().count() == 0
    assert await world.posts() == []
    assert (await Ticket.get(id=ticket.id)).notice_at == helsinki("2026-11-23 12:00")

    monkeypatch.undo()
    await db.close()  # a restart: new connections, a new helpdesk, nothing kept in memory
    await db.init(database)
    world.desk = Helpdesk(clock=world.clock, suggest=_no_suggestions)
    assert await world.tick_at(helsinki("2026-11-23 12:06")) == 1
    assert len(await world.posts()) == 3
    await db.close()
    await db.init(database)
    assert await world.tick_at(helsinki("2026-11-23 12:07")) == 0
    assert await world.posts() == []


async def test_paused_ticket_gets_nothing_and_its_deadline_moves(database: str, world: World) -> None:
    ticket = await world.new_ticket()
    world.clock.set(helsinki("2026-11-23 10:00"))
    await world.command(f"wait {ticket.key}", actor=OLLI)
    paused = await Ticket.get(id=ticket.id)
    assert (paused.status, paused.notice_at, paused.first_response_due) == ("waiting_on_customer", None, None)
    for when in ("2026-11-23 12:00", "2026-11-23 13:00", "2026-11-23 15:00"):
        assert await world.tick_at(helsinki(when)) == 0
    assert await world.posts() == []

    world.clock.set(helsinki("2026-11-23 14:00"))
    await world.post("Here are the logs", thread=ticket.thread)  # resumes: four business hours were paused
    resumed = await Ticket.get(id=ticket.id)
    assert resumed.status == "in_progress"
    # 240 min from 09:00 with 10:00-14:00 paused: 60 + 120 on Monday, 60 on Tuesday
    assert resumed.first_response_due == helsinki("2026-11-24 09:00")
    assert resumed.notice_at == helsinki("2026-11-23 16:00")  # warning at 180 min lands on closing time
    assert await world.tick_at(helsinki("2026-11-23 15:59")) == 0
    assert await world.tick_at(helsinki("2026-11-23 16:00")) == 1
    assert ("dm:U0OLLI", "ACME-1 first response due Tue 24 Nov 09:00 EET, in 17h 00m") in await world.posts()
    assert await notice_rows(ticket) == [("first_response", "warning", helsinki("2026-11-24 09:00"))]


async def test_priority_change_rekeys_notices(database: str, world: World) -> None:
    ticket = await world.new_ticket()
    assert await world.tick_at(helsinki("2026-11-23 12:00")) == 1  # warning for the 13:00 deadline
    await world.posts()

    world.clock.set(helsinki("2026-11-23 12:10"))
    await world.command(f"priority {ticket.key} P4")  # 480 min: due Tuesday 09:00, warning Monday 15:00
    p4 = await Ticket.get(id=ticket.id)
    assert (p4.first_response_due, p4.notice_at) == (helsinki("2026-11-24 09:00"), helsinki("2026-11-23 15:00"))
    assert await world.tick_at(helsinki("2026-11-23 13:00")) == 0  # the old 13:00 deadline is gone
    assert await world.tick_at(helsinki("2026-11-23 15:00")) == 1
    assert ("thread", "ACME-1: we aim to reply to you by Tue 24 Nov 09:00 EET (in 18h 00m). "
                      "The team has been reminded.") in await world.posts()

    world.clock.set(helsinki("2026-11-23 15:10"))
    await world.command(f"priority {ticket.key} P3")  # back to 13:00: warned, never breached
    assert await world.tick_at(helsinki("2026-11-23 15:10")) == 1
    posts = await world.posts()
    assert ("channel:C0TRIAGE", "ACME-1 first response breached 2h 10m ago (due 13:00 EET)") in posts
    assert not any("due 13:00 EET, " in text for _, text in posts)  # no second warning for 13:00

    assert await notice_rows(ticket) == [
        ("first_response", "warning", helsinki("2026-11-23 13:00")),
        ("first_response", "warning", helsinki("2026-11-24 09:00")),
        ("first_response", "breach", helsinki("2026-11-23 13:00")),
    ]


async def test_p1_also_dms_the_leads(database: str, world: World) -> None:
    await world.new_ticket(priority="P1")
    assert await world.tick_at(helsinki("2026-11-23 09:22:30")) == 1  # 75 % of 30 min
    posts = await world.posts()
    assert sorted(w for w, _ in posts) == ["channel:C0TRIAGE", "dm:U0LEAD", "dm:U0OLLI", "thread"]
    assert ("dm:U0LEAD", "ACME-1 first response due 09:30 EET, in 8m") in posts  # 7m 30s rounds to 8m


async def test_lead_who_is_the_assignee_gets_one_dm(database: str, world: World) -> None:
    await world.new_ticket(assignee="maija", priority="P1")
    assert await world.tick_at(helsinki("2026-11-23 09:30")) == 1
    assert sorted(w for w, _ in await world.posts()) == ["channel:C0TRIAGE", "dm:U0LEAD", "thread"]


async def test_unassigned_ticket_notifies_thread_and_triage(database: str, world: World) -> None:
    await world.new_ticket(assignee=None)
    assert await world.tick_at(helsinki("2026-11-23 12:00")) == 1
    assert sorted(w for w, _ in await world.posts()) == ["channel:C0TRIAGE", "thread"]


async def test_next_response_notices_after_a_customer_message(any_database: str, world: World) -> None:
    ticket = await world.new_ticket()
    world.clock.set(helsinki("2026-11-23 09:30"))
    await world.post("Looking at it now", thread=ticket.thread, actor=OLLI)  # meets first_response
    world.clock.set(helsinki("2026-11-23 10:00"))
    await world.post("Still down for everyone", thread=ticket.thread)  # starts next_response
    waiting = await Ticket.get(id=ticket.id)
    assert waiting.next_response_due == helsinki("2026-11-23 14:00")  # gold has no next_response: 240 min
    assert waiting.notice_at == helsinki("2026-11-23 13:00")
    assert await world.tick_at(helsinki("2026-11-23 12:59")) == 0
    assert await world.tick_at(helsinki("2026-11-23 13:00")) == 1
    assert ("dm:U0OLLI", "ACME-1 next response due 14:00 EET, in 1h 00m") in await world.posts()

    world.clock.set(helsinki("2026-11-23 13:30"))
    await world.post("Found it: a certificate expired", thread=ticket.thread, actor=OLLI)
    assert await world.tick_at(helsinki("2026-11-23 14:00")) == 0  # met in time: no breach
    world.clock.set(helsinki("2026-11-24 09:00"))
    await world.post("It broke again", thread=ticket.thread)  # a new next_response clock, new keys
    assert await world.tick_at(helsinki("2026-11-24 12:00")) == 1  # warning for the 13:00 deadline
    assert await world.tick_at(helsinki("2026-11-24 12:01")) == 0
    assert [(m, k) for m, k, _ in await notice_rows(ticket)] == [("next_response", "warning")] * 2


async def test_globex_notices_are_in_utc(database: str, world: World) -> None:
    """The silver contract's calendar is UTC all week with warn_at 0.5."""
    ticket = await svc.create_ticket(
        await _contact_who(world), await Customer.get(key="GLOBEX"), "Billing export fails",
        world.clock.now(), platform="slack", tenant="T0HOME", channel="C0GLOBEX", thread="1795000999.000100")
    assert ticket.notice_at == world.clock.now() + timedelta(hours=4)  # half of 480 min
    assert await world.tick_at(world.clock.now() + timedelta(hours=4)) == 1
    assert ("thread", "GLOBEX-1: we aim to reply to you by 15:00 UTC (in 4h 00m). "
                      "The team has been reminded.") in await world.posts()


async def _contact_who(world: World) -> Who:
    return await resolve(Actor(Platform.SLACK, "T0GLOBEX", "U0G"), Place(Platform.SLACK, "T0HOME", "C0GLOBEX"))


async def test_done_ticket_with_a_stale_notice_at_gets_nothing(database: str, world: World) -> None:
    ticket = await world.new_ticket()
    await Ticket.filter(id=ticket.id).update(status="resolved")  # as if resolved by an older version
    assert await world.tick_at(helsinki("2026-11-23 13:30")) == 0
    assert (await Ticket.get(id=ticket.id)).notice_at is None


async def test_unique_key_is_the_final_guard(any_database: str, world: World,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that did not see a recorded notice loses on the unique key and queues nothing."""
    ticket = await world.new_ticket()
    assert await world.tick_at(helsinki("2026-11-23 12:00")) == 1
    assert len(await world.posts()) == 3
    await Ticket.filter(id=ticket.id).update(notice_at=helsinki("2026-11-23 12:00"))  # a stale save elsewhere
    blind = clocks.due_notices
    monkeypatch.setattr(clocks, "due_notices", lambda views, sent, now: blind(views, set(), now))
    assert await world.tick_at(helsinki("2026-11-23 12:01")) == 0
    assert await world.posts() == []
    assert await SlaNotice.filter(ticket_id=ticket.id).count() == 1
    assert (await Ticket.get(id=ticket.id)).notice_at == helsinki("2026-11-23 13:00")  # and the sweep moved on


async def test_a_ticket_that_fails_does_not_hold_up_the_others(any_database: str, world: World,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    broken, fine = await world.new_ticket(), await world.new_ticket()
    real = reminders.notice_replies

    def fail_for_broken(ticket: Ticket, *args: object) -> list[object]:
        if ticket.id == broken.id:
            raise ValueError("cannot word this notice")
        return real(ticket, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reminders, "notice_replies", fail_for_broken)
    with caplog.at_level(logging.ERROR, logger="chatdesk.reminders"):
        assert await world.tick_at(helsinki("2026-11-23 12:00")) == 1
    assert f"{broken.key}: SLA notices failed" in caplog.text
    assert {t for t, in await SlaNotice.all().values_list("ticket_id")} == {fine.id}
    assert (await Ticket.get(id=broken.id)).notice_at == helsinki("2026-11-23 12:00")  # still due
    monkeypatch.undo()
    assert await world.tick_at(helsinki("2026-11-23 12:01")) == 1  # and sent once it can be


async def test_sweep_takes_due_tickets_in_batches(database: str, world: World,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reminders, "BATCH", 2)
    for _ in range(5):
        await world.new_ticket()
    assert await world.tick_at(helsinki("2026-11-23 12:00")) == 5
    assert len(await world.posts()) == 15


async def test_run_logs_a_failed_sweep_and_keeps_going(database: str, world: World,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    calls: list[datetime] = []
    stop = asyncio.Event()

    async def flaky(desk: Helpdesk, now: datetime) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        if len(calls) == 3:
            stop.set()
        return 0

    monkeypatch.setattr(reminders, "tick", flaky)
    with caplog.at_level(logging.ERROR, logger="chatdesk.reminders"):
        await asyncio.wait_for(reminders.run(world.desk, stop, interval=0.01), timeout=5)
    assert len(calls) == 3
    assert "SLA sweep failed" in caplog.text


def test_local_time_names_the_day_when_it_is_not_today() -> None:
    now = helsinki("2026-11-23 12:00")
    assert local_time(helsinki("2026-11-23 13:00"), "Europe/Helsinki", now) == "13:00 EET"
    assert local_time(helsinki("2026-11-24 09:00"), "Europe/Helsinki", now) == "Tue 24 Nov 09:00 EET"
    summer = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert local_time(summer, "Europe/Helsinki", summer) == "12:00 EEST"
    assert local_time(summer, "America/New_York", summer) == "05:00 EDT"


# --- several workers on PostgreSQL --------------------------------------------------------------


async def _due_tickets(count: int, now: datetime) -> None:
    """`count` open gold P3 tickets assigned to olli, all past their first-response warning."""
    customer = await Customer.get(key="ACME")
    olli = await Person.get(pid="olli")
    ctx = await svc.sla_context(customer.id)
    created = MONDAY_9_HELSINKI
    rows = []
    for n in range(1, count + 1):
        t = Ticket(key=f"ACME-{n}", number=n, customer_id=customer.id, title=f"Problem {n}", status="open",
                   priority="P3", assignee_id=olli.id, platform="slack", tenant="T0HOME", channel="C0ACME",
                   thread=f"1795{n:06d}.000100", created_at=created, updated_at=created,
                   sla_state=clocks.new_state(created))
        await svc.refresh_sla(t, created, ctx, sent=set())
        rows.append(t)
    await Ticket.bulk_create(rows, batch_size=500)
    assert await reminders.due_query(now, limit=count + 1).count() == count


async def _race(url: str, count: int) -> None:
    await db.init(url)
    try:
        await apply_config(load_config(ORG_YAML))
        now = helsinki("2026-11-23 12:05")
        await _due_tickets(count, now)
        desk = Helpdesk(clock=FakeClock(now), suggest=_no_suggestions)
        first, second = await asyncio.gather(reminders.tick(desk, now), reminders.tick(desk, now))
        assert first + second == count
        assert min(first, second) > 0  # both workers took part
        assert await reminders.tick(desk, now) == 0
        assert await SlaNotice.all().count() == count
        keys = await SlaNotice.all().values_list("ticket_id", "metric", "kind", "due_at")
        assert len(set(keys)) == count
        per_ticket = Counter(r.ticket_key for r in await OutboxMessage.filter(dedupe_key__startswith="sla:"))
        assert len(per_ticket) == count and set(per_ticket.values()) == {3}  # thread, triage, olli's DM
        assert await Ticket.filter(notice_at__lte=now).count() == 0
    finally:
        await db.close()


@pytest.mark.postgres
async def test_two_workers_on_postgres_send_each_notice_once(pg_url: str) -> None:
    await _race(pg_url, 1000)


async def test_two_workers_on_sqlite_send_each_notice_once(db_url: str) -> None:
    await _race(db_url, 200)
