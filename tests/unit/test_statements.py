"""Round trips: a new ticket costs a bounded number of SQL statements, an SLA sweep a number
that does not grow with the notices it sends (each statement is a round trip to the database)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot import reminders
from bot.clock import FakeClock
from bot.core import Helpdesk
from storage import inbox
from storage.inbox import Inbox
from storage.models import OutboxMessage, SlaNotice, Ticket
from tests.unit.test_inbox import _no_suggestions, message
from tests.unit.test_reminders import World, helsinki

TICKET_BUDGET = 12  # was 34 before the inbox batched its rows and the outbox took a ticket's posts at once,
# 20 before a batch read its configuration (people, channels, contracts, teams) once for all its rows


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not text.startswith(("Created connection", "Closed connection")):
            self.sql.append(text)


@contextmanager
def counting() -> Iterator[_Statements]:
    """Every statement the ORM sends (its client logs each one at DEBUG)."""
    handler = _Statements()
    logger = logging.getLogger("tortoise.db_client")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_new_ticket_through_the_inbox_stays_within_its_statement_budget(
        any_database: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox, "BATCH_SECONDS", 60.0)  # a busy machine does not cut the batch short
    monkeypatch.setattr(inbox, "SQLITE_BATCH_SECONDS", 60.0)
    desk = Helpdesk(clock=clock, suggest=_no_suggestions, inbox=Inbox())
    await desk.accept_message(message(1))
    await desk.process_inbox()  # the first ticket warms nothing: lookups are not cached
    for n in range(2, 12):
        await desk.accept_message(message(n))
    with counting() as statements:
        assert await desk.process_inbox() == 10
    per_ticket = len(statements.sql) / 10
    assert per_ticket <= TICKET_BUDGET, f"{per_ticket} statements per ticket:\n" + "\n".join(statements.sql)
    assert await OutboxMessage.filter(ticket_key="ACME-11").count() == 5  # ack, triage, two DMs, account manager


@pytest.mark.parametrize("tickets", [3, 12])
async def test_a_sweep_batch_costs_the_same_statements_for_few_notices_or_many(
        database: str, clock: FakeClock, tickets: int) -> None:
    world = World(clock)
    for _ in range(tickets):
        await world.new_ticket()
    with counting() as statements:
        assert await world.tick_at(helsinki("2026-11-23 12:00")) == tickets
    assert await SlaNotice.all().count() == tickets
    assert len(await world.posts()) == 3 * tickets  # thread, triage, the assignee's DM
    # the configuration's version, select, notices sent, customers, people, record, triage channels, queue,
    # move on; and the empty round
    assert len(statements.sql) <= 13, "\n".join(statements.sql)
    assert tickets <= reminders.BATCH


async def test_a_sweep_reads_the_configuration_once_whatever_its_batches(
        database: str, clock: FakeClock) -> None:
    world = World(clock)
    first = await world.new_ticket()
    row = {k: v for k, v in (await Ticket.filter(id=first.id).values())[0].items() if k != "id"}
    for n in range(2, reminders.BATCH + 4):  # two batches: a full one and a short one
        await Ticket.create(**{**row, "key": f"ACME-{1000 + n}", "number": 1000 + n, "thread": f"{n}.000100"})
    with counting() as statements:
        assert await world.tick_at(helsinki("2026-11-23 12:00")) == reminders.BATCH + 3
    assert len(await world.posts()) == 3 * (reminders.BATCH + 3)
    batches = [i for i, sql in enumerate(statements.sql) if 'FROM "ticket" WHERE "notice_at"<=' in sql]
    assert len(batches) == 3, statements.sql  # a full batch, a short one, the empty round
    later = statements.sql[batches[1]:]
    config = [sql for sql in later if sql.startswith("SELECT") and any(
        f'FROM "{table}"' in sql for table in ("customer", "person", "contract", "channel_binding"))]
    assert not config, "a later batch read the configuration again:\n" + "\n".join(config)
