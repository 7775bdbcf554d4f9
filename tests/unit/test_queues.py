"""`/helpdesk queue`: the lead's order, read as rows, at most QUEUE_SHOWN lines."""

from __future__ import annotations

from typing import Any

from bot import queues
from bot import tickets as svc
from bot.clock import FakeClock
from bot.core import Helpdesk
from bot.types import Actor, Invocation, Place, Platform
from storage.models import Person, Ticket
from tests.unit.test_inbox import message
from tests.unit.test_statements import counting


async def _no_suggestions(text: str, limit: int) -> list[Any]:
    return []


def olli(text: str, n: int) -> Invocation:
    return Invocation(event_id=f"EvQ{n}", actor=Actor(Platform.SLACK, "T0HOME", "U0OLLI", "Olli"),
                      place=Place(Platform.SLACK, "T0HOME", "C0TRIAGE", None), text=text)


async def test_queue_lists_the_first_lines_in_the_leads_order_and_counts_the_rest(
        any_database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, suggest=_no_suggestions)
    for n in range(queues.QUEUE_SHOWN + 5):
        await desk.handle_message(message(n))
        clock.advance(minutes=1)
    person = await Person.get(pid="olli")
    await Ticket.all().update(assignee_id=person.id, status="in_progress")
    await Ticket.filter(key="ACME-40").update(rank=1)
    await Ticket.filter(key="ACME-30").update(priority="P1")
    await Ticket.filter(key="ACME-3").update(status="resolved")  # not in the queue
    outcome = await desk.handle_invocation(olli("queue", 1))
    lines = outcome.replies[0].text.splitlines()
    expected = [t.key for t in await svc.queue_for(person)]
    assert len(expected) == queues.QUEUE_SHOWN + 4
    shown = [line.split(" ")[1] for line in lines[1:-1]]
    assert shown == expected[: queues.QUEUE_SHOWN]
    assert shown[:2] == ["ACME-40", "ACME-30"] and "ACME-3" not in shown
    assert lines[-1].startswith("… and 4 more")


async def test_a_short_queue_has_no_more_line(any_database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, suggest=_no_suggestions)
    await desk.handle_message(message(1))
    person = await Person.get(pid="olli")
    await Ticket.all().update(assignee_id=person.id)
    text = (await desk.handle_invocation(olli("queue", 2))).replies[0].text
    assert "ACME-1" in text and "more" not in text


async def test_a_queue_costs_one_statement_for_its_rows_and_one_per_customer_shown(
        any_database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, suggest=_no_suggestions)
    for n in range(30):
        await desk.handle_message(message(n, channel="C0GLOBEX" if n % 2 else "C0ACME"))
        clock.advance(minutes=1)
    person = await Person.get(pid="olli")
    await Ticket.all().update(assignee_id=person.id)
    with counting() as baseline:
        await desk.handle_invocation(olli("help", 3))
    with counting() as statements:
        text = (await desk.handle_invocation(olli("queue", 4))).replies[0].text
    assert "ACME-" in text and "GLOBEX-" in text and "business time" in text
    assert len(statements.sql) == len(baseline.sql) + 1 + 2, statements.sql  # rows, then each customer's calendar


async def test_show_reads_the_ticket_its_customer_and_assignee_in_one_statement(
        any_database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, suggest=_no_suggestions)
    await desk.handle_message(message(1))
    await desk.handle_message(message(2))
    await Ticket.filter(key="ACME-1").update(assignee_id=(await Person.get(pid="olli")).id)
    with counting() as baseline:
        await desk.handle_invocation(olli("help", 5))
    for n, (key, assignee) in enumerate((("ACME-1", "Olli"), ("ACME-2", "unassigned")), start=6):
        with counting() as statements:
            reply = (await desk.handle_invocation(olli(f"show {key}", n))).replies[0]
        fields = {f.label: f.value for f in reply.fields}
        assert fields["Customer"] == "Acme Oy" and assignee in fields["Assignee"], fields
        assert len(statements.sql) == len(baseline.sql) + 2, statements.sql  # the ticket's row, its calendar
