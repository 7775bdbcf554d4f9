"""The SLA reminder worker: warnings and breaches, each posted once.

`tick(desk, now)` sweeps only tickets whose `notice_at` has passed (an indexed
column that `bot.tickets.refresh_sla` keeps at the next warning or breach), in
small batches. For each due notice it records an SlaNotice row and queues the
posts (ticket thread, triage, the assignee's DM and for P1 the leads') in the same
transaction, then moves `notice_at` on. So:

- never twice: on PostgreSQL each batch locks its tickets with
  ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED``, so concurrent workers take disjoint
  tickets; the unique (ticket, metric, kind, due_at) key on SlaNotice is the final
  guard, and a notice that loses on it queues nothing;
- never lost: `notice_at` only moves in the transaction that writes the notice
  row, so a crash before the commit leaves the ticket due for the next sweep;
- a deadline that moves (priority change, pause) has a new `due_at`, hence notices
  of its own; a paused clock has no deadline and gets nothing.

The worker only queues posts; the outbox worker of `chatdesk serve` delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot import clocks, memo
from bot import tickets as svc
from bot.types import Audience, Field, Reply
from bot.views import when
from storage import config_version
from storage.db import param, stored_time
from storage.models import Customer, Person, SlaNotice, Ticket

if TYPE_CHECKING:
    from bot.core import Helpdesk

log = logging.getLogger("chatdesk.reminders")
M = TypeVar("M", bound=Model)

BATCH = 50  # tickets per transaction: row locks are held briefly
METRIC_NAMES = {"first_response": "first response", "next_response": "next response", "resolution": "resolution"}
# What the customer is waiting for, in the words the thread uses.
CUSTOMER_GOALS = {"first_response": "reply to you", "next_response": "reply to you", "resolution": "resolve this"}


def due_query(now: datetime, limit: int = BATCH, *, lock: bool = False,
              exclude: set[int] | None = None) -> QuerySet[Ticket]:
    """Tickets with a notice due, soonest first; `lock` claims them (PostgreSQL) for this transaction."""
    query = Ticket.filter(notice_at__lte=now)
    if exclude:
        query = query.exclude(id__in=sorted(exclude))
    query = query.order_by("notice_at").limit(limit)
    return query.select_for_update(skip_locked=True, no_key=True) if lock else query


async def tick(desk: Helpdesk, now: datetime) -> int:
    """Queue every warning and breach due at `now`; returns how many notices were recorded."""
    sweep = _Sweep(desk, now)
    total = 0
    # Configuration (contracts, leads, people, triage channels) is read once for the tick, not once
    # per batch, and kept for later ticks while its version stays.
    with memo.batch(await config_version.current()):
        while True:
            seen, notices = await sweep.batch()
            total += notices
            if not seen:
                break
    if sweep.queued and desk.on_queued:
        desk.on_queued()
    if total:
        log.info("queued %s SLA notice(s) (%s posts)", total, sweep.queued)
    return total


async def run(desk: Helpdesk, stop: asyncio.Event, interval: float = 15) -> None:
    """Sweep every `interval` seconds until `stop` is set; a failed sweep is logged and retried."""
    while not stop.is_set():
        try:
            await tick(desk, desk.clock.now())
        except Exception:
            log.exception("SLA sweep failed; retrying in %ss", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


@dataclass
class _Sweep:
    """One tick's state: lookups cached for the tick, tickets that could not be settled."""

    desk: Helpdesk
    now: datetime
    queued: int = 0
    stuck: set[int] = field(default_factory=set)
    customers: dict[int, Customer] = field(default_factory=dict)
    people: dict[int, Person] = field(default_factory=dict)

    async def batch(self) -> tuple[int, int]:
        """One transaction over up to BATCH due tickets: (tickets seen, notices recorded)."""
        async with in_transaction() as conn:
            lock = conn.capabilities.dialect == "postgres"
            tickets = await due_query(self.now, lock=lock, exclude=self.stuck).using_db(conn)
            if not tickets:
                return 0, 0
            ids = [t.id for t in tickets]
            sent: dict[int, set[clocks.NoticeKey]] = {i: set() for i in ids}
            for ticket_id, metric, kind, due_at in await SlaNotice.filter(ticket_id__in=ids).values_list(
                    "ticket_id", "metric", "kind", "due_at"):
                sent[ticket_id].add(clocks.notice_key(metric, kind, due_at))
            customers = await self.customers_of(tickets)
            people = await self.assignees_of(tickets)
            try:
                async with in_transaction():  # a savepoint: if the batch fails, each ticket is tried alone
                    recorded, queued = await self.settle_all(tickets, {i: set(keys) for i, keys in sent.items()},
                                                             customers, people)
                self.queued += queued
                return len(tickets), recorded
            except Exception:
                log.exception("SLA notices of a batch failed; settling its tickets one by one")
            recorded = 0
            for ticket in tickets:
                try:
                    async with in_transaction():  # a savepoint: one ticket that fails does not hold up the rest
                        recorded += await self.settle(ticket, sent[ticket.id], customers[ticket.customer_id],
                                                      people.get(ticket.assignee_id or 0))
                except Exception:
                    log.exception("%s: SLA notices failed; retried in the next sweep", ticket.key)
                    self.stuck.add(ticket.id)
            return len(tickets), recorded

    async def settle_all(self, tickets: list[Ticket], sent: dict[int, set[clocks.NoticeKey]],
                         customers: dict[int, Customer], people: dict[int, Person]) -> tuple[int, int]:
        """The whole batch in a few statements: (notices recorded, posts queued). The notices are
        recorded in one INSERT (those another worker recorded first are left out, with their
        posts), the posts queued in one, the tickets' deadlines written in one."""
        planned: list[tuple[Ticket, clocks.Notice, svc.SlaContext]] = []
        for ticket in tickets:
            ctx = await self.context(ticket.customer_id)
            keys = sent[ticket.id]
            views = self.views(ticket, ctx)
            for notice in clocks.due_notices(views or [], keys, self.now):
                planned.append((ticket, notice, ctx))
                keys.add(notice.key)  # recorded now, or by another worker
            await svc.refresh_sla(ticket, self.now, ctx, sent=keys, views=views)
            if ticket.notice_at is not None and ticket.notice_at <= self.now:
                log.warning("%s: notice_at %s still due after a sweep; skipped until the next one",
                            ticket.key, ticket.notice_at.isoformat())
                self.stuck.add(ticket.id)
        fresh = await record_notices([(t.id, n) for t, n, _ in planned], self.now)
        replies: list[Reply] = []
        recorded = 0
        for ticket, notice, ctx in planned:
            if (ticket.id, notice.key) not in fresh:
                log.info("%s %s %s already recorded by another worker", ticket.key, notice.metric, notice.kind)
                continue
            recorded += 1
            assignee = people.get(ticket.assignee_id or 0)
            recipients = [assignee.pid] if assignee else []
            if ticket.priority == "P1":
                recipients += [pid for pid in await self.lead_ids() if pid not in recipients]
            replies += notice_replies(ticket, notice, customers[ticket.customer_id].name, assignee, recipients,
                                      ctx.calendar.timezone, self.now)
        queued = await self.desk.route(replies, None, None, tickets={t.key: t for t in tickets}) if replies else 0
        await move_on(tickets)
        return recorded, queued

    async def settle(self, ticket: Ticket, sent: set[clocks.NoticeKey], customer: Customer,
                     assignee: Person | None) -> int:
        """Send what is due for one ticket and move its notice_at on."""
        ctx = await self.context(ticket.customer_id)
        views = self.views(ticket, ctx)
        recorded = 0
        for notice in clocks.due_notices(views or [], sent, self.now):
            if await self.send(ticket, notice, ctx, customer, assignee):
                recorded += 1
            sent.add(notice.key)  # recorded now, or by another worker
        await svc.refresh_sla(ticket, self.now, ctx, sent=sent, views=views)
        if ticket.notice_at is not None and ticket.notice_at <= self.now:
            log.warning("%s: notice_at %s still due after a sweep; skipped until the next one",
                        ticket.key, ticket.notice_at.isoformat())
            self.stuck.add(ticket.id)
        await ticket.save(update_fields=["first_response_due", "next_response_due", "resolution_due",
                                         "escalation_at", "notice_at"])
        return recorded

    async def send(self, ticket: Ticket, notice: clocks.Notice, ctx: svc.SlaContext, customer: Customer,
                   assignee: Person | None) -> bool:
        """Record the notice and queue its posts together; False when it was already recorded."""
        recipients = [assignee.pid] if assignee else []
        if ticket.priority == "P1":
            recipients += [pid for pid in await self.lead_ids() if pid not in recipients]
        replies = notice_replies(ticket, notice, customer.name, assignee, recipients,
                                 ctx.calendar.timezone, self.now)
        try:
            async with in_transaction():  # a savepoint: losing the unique key undoes only this notice
                await SlaNotice.create(ticket_id=ticket.id, metric=notice.metric, kind=notice.kind,
                                       due_at=notice.due, created_at=self.now)
                self.queued += await self.desk.route(replies, None, ticket)
        except IntegrityError:
            log.info("%s %s %s already recorded by another worker", ticket.key, notice.metric, notice.kind)
            return False
        return True

    def views(self, ticket: Ticket, ctx: svc.SlaContext) -> list[clocks.ClockView] | None:
        """The ticket's clocks at `now`, computed once for its notices and its next notice_at;
        None when no clock runs (no target for its priority, or the ticket is done)."""
        target = ctx.target(ticket.priority)
        if target is None or ticket.status in svc.DONE_STATUSES:
            return None
        state = ticket.sla_state or clocks.new_state(ticket.created_at)
        return clocks.view(state, ctx.calendar, target, ctx.contract.warn_at, self.now)

    async def customers_of(self, tickets: list[Ticket]) -> dict[int, Customer]:
        """The tickets' customers; each read once per tick."""
        return await _kept(self.customers, Customer, {t.customer_id for t in tickets})

    async def assignees_of(self, tickets: list[Ticket]) -> dict[int, Person]:
        """The tickets' assignees; each read once per tick."""
        return await _kept(self.people, Person, {t.assignee_id for t in tickets if t.assignee_id})

    @staticmethod
    async def context(customer_id: int) -> svc.SlaContext:
        return await svc.sla_context(customer_id)  # read once per tick (memo.batch)

    @staticmethod
    async def lead_ids() -> list[str]:
        async def load() -> list[str]:
            return [p.pid for p in await Person.filter(role="lead", active=True).order_by("pid")]

        return await memo.read(("leads",), load)


async def _kept(kept: dict[int, M], model: type[M], ids: set[int]) -> dict[int, M]:
    """`kept`, with the rows of the ids it lacks read in one query."""
    missing = ids - kept.keys()
    if missing:
        kept.update((row.pk, row) for row in await model.filter(id__in=missing))
    return kept


async def record_notices(notices: list[tuple[int, clocks.Notice]], now: datetime) -> set[tuple[int, clocks.NoticeKey]]:
    """Record the notices in one statement; the (ticket id, key) of those recorded now, not before."""
    if not notices:
        return set()
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    field = SlaNotice._meta.fields_map["due_at"]
    values: list[Any] = []
    groups = []
    for ticket_id, notice in notices:
        marks = []
        for value in (ticket_id, notice.metric, notice.kind, field.to_db_value(notice.due, SlaNotice),
                      field.to_db_value(now, SlaNotice)):
            values.append(value)
            marks.append(param(len(values), postgres))
        groups.append(f"({','.join(marks)})")
    rows = await conn.execute_query_dict(
        'INSERT INTO "sla_notice" ("ticket_id", "metric", "kind", "due_at", "created_at") VALUES '
        f'{",".join(groups)} ON CONFLICT ("ticket_id", "metric", "kind", "due_at") DO NOTHING '
        'RETURNING "ticket_id", "metric", "kind", "due_at"', values)
    return {(int(r["ticket_id"]), clocks.notice_key(str(r["metric"]), str(r["kind"]), stored_time(r["due_at"])))
            for r in rows}


DEADLINES = ("first_response_due", "next_response_due", "resolution_due", "escalation_at", "notice_at")


async def move_on(tickets: list[Ticket]) -> None:
    """Write the tickets' deadlines and notice_at in one statement whose text does not depend on
    how many there are (PostgreSQL prepares it once per connection): the ORM's bulk update
    builds a CASE per column and row, which cost more than the rest of a batch together."""
    conn = connections.get("default")
    fields_map = Ticket._meta.fields_map
    columns = [[fields_map[name].to_db_value(getattr(t, name), t) for t in tickets] for name in DEADLINES]
    ids = [t.id for t in tickets]
    assigned = ", ".join(f'"{name}" = v.{name}' for name in DEADLINES)
    if conn.capabilities.dialect == "postgres":
        arrays = ", ".join(f"${i + 2}::timestamptz[]" for i in range(len(DEADLINES)))
        await conn.execute_query(
            f'UPDATE "ticket" SET {assigned} FROM unnest($1::int[], {arrays}) AS v(id, {", ".join(DEADLINES)}) '
            'WHERE "ticket"."id" = v.id', [ids, *columns])
        return
    marks = ",".join(["(" + ",".join("?" * (len(DEADLINES) + 1)) + ")"] * len(tickets))
    values = [value for row in zip(ids, *columns, strict=True) for value in row]
    await conn.execute_query(
        f'WITH v(id, {", ".join(DEADLINES)}) AS (VALUES {marks}) '
        f'UPDATE "ticket" SET {assigned} FROM v WHERE "ticket"."id" = v.id', values)


# -- wording -------------------------------------------------------------------------------------


def notice_replies(ticket: Ticket, notice: clocks.Notice, customer_name: str, assignee: Person | None,
                   recipients: list[str], zone: str, now: datetime) -> list[Reply]:
    """The posts of one notice: the customer's thread, triage, and a DM to each recipient.

    Times are in the customer's calendar zone. The thread is the customer's, so it gets
    their wording; triage and the DMs get the figures agents act on.
    """
    due = when(notice.due, zone, now)
    metric, goal = METRIC_NAMES[notice.metric], CUSTOMER_GOALS[notice.metric]
    dedupe = f"sla:{ticket.key}:{notice.metric}:{notice.kind}:{int(notice.due.timestamp())}"
    if notice.kind == "warning":
        left = clocks.minutes_text((notice.due - now).total_seconds() / 60)
        # Wall-clock time until the deadline ("in 1h 00m"), not business time: said so in the words.
        internal = f"{ticket.key} {metric} due {due}, in {left}"
        public = f"{ticket.key}: we aim to {goal} by {due} (in {left}). The team has been reminded."
        title = f"SLA warning: {ticket.key}"
    else:
        late = (now - notice.due).total_seconds() / 60
        if late < 1:
            internal = f"{ticket.key} {metric} breached just now (due {due})"
            public = f"{ticket.key}: the time we aimed to {goal} by, {due}, has just passed."
        else:
            internal = f"{ticket.key} {metric} breached {clocks.minutes_text(late)} ago (due {due})"
            public = f"{ticket.key}: we aimed to {goal} by {due} and are {clocks.minutes_text(late)} late."
        public += " Sorry for the wait: the team has been alerted and will follow up here."
        title = f"SLA breach: {ticket.key}"
    fields = (Field("Customer", customer_name), Field("Priority", ticket.priority),
              Field("Assignee", assignee.name if assignee else "unassigned"))
    replies = [
        Reply(public, audience=Audience.THREAD, ticket_key=ticket.key, kind="notice", dedupe=f"{dedupe}:thread"),
        Reply(internal, audience=Audience.TRIAGE, title=title, fields=fields, ticket_key=ticket.key,
              internal=True, kind="notice", dedupe=f"{dedupe}:triage"),
    ]
    replies += [Reply(internal, audience=Audience.DM, person=pid, title=title, fields=fields, ticket_key=ticket.key,
                      internal=True, kind="notice", dedupe=f"{dedupe}:dm") for pid in recipients]
    return replies
