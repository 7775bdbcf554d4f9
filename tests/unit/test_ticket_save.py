"""`bot.tickets.save` is where SLA results are recorded and deadlines recomputed, for every path."""

from __future__ import annotations

import pytest

from bot import tickets as svc
from bot.clock import FakeClock
from bot.statuses import Status
from storage.models import Ticket
from tests.unit.test_reminders import OLLI, World, helsinki


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(clock)


async def _results(ticket: Ticket) -> dict[str, object]:
    return dict((await Ticket.get(id=ticket.id)).sla_state["results"])


async def test_a_first_response_is_judged_by_save_whatever_set_it(database: str, world: World) -> None:
    on_time, late = await world.new_ticket(), await world.new_ticket()
    assert on_time.first_response_due == helsinki("2026-11-23 13:00")
    on_time.first_response_at = helsinki("2026-11-23 12:59")
    late.first_response_at = helsinki("2026-11-23 13:01")
    for t in (on_time, late):
        await svc.save(t, t.first_response_at)
    assert (await _results(on_time))["first_response"] == "met"
    assert (await _results(late))["first_response"] == "missed"
    assert (await Ticket.get(id=late.id)).first_response_due is None  # the clock stopped: no deadline left


async def test_resolving_records_the_resolution_result_in_save(database: str, world: World) -> None:
    soon, overdue = await world.new_ticket(), await world.new_ticket()
    assert soon.resolution_due is not None
    for t, at in ((soon, helsinki("2026-11-23 10:00")), (overdue, helsinki("2026-12-15 10:00"))):
        await svc.change_status(t, None, Status.RESOLVED, at)
        assert "resolution" not in t.sla_state["results"]  # nothing is judged before the save
        await svc.save(t, at)
    assert (await _results(soon))["resolution"] == "met"
    assert (await _results(overdue))["resolution"] == "missed"
    assert (await Ticket.get(id=overdue.id)).resolution_due is None


async def test_a_late_question_that_pauses_the_clock_is_still_a_late_first_response(
        database: str, world: World) -> None:
    ticket = await world.new_ticket()
    world.clock.set(helsinki("2026-11-23 13:30"))
    await world.command(f"wait {ticket.key} Which office is it?", actor=OLLI)
    stored = await Ticket.get(id=ticket.id)
    assert stored.status == Status.WAITING_ON_CUSTOMER
    assert stored.sla_state["results"]["first_response"] == "missed"


async def test_an_answer_to_the_customer_is_judged_once(database: str, world: World) -> None:
    ticket = await world.new_ticket()
    world.clock.set(helsinki("2026-11-23 09:10"))
    await world.command(f"reply {ticket.key} Looking at it", actor=OLLI)
    world.clock.set(helsinki("2026-11-23 09:20"))
    await world.post("Still down", thread=ticket.thread)
    assert (await Ticket.get(id=ticket.id)).next_response_due is not None
    world.clock.set(helsinki("2026-11-23 09:30"))
    await world.command(f"reply {ticket.key} Restarting the gateway", actor=OLLI)
    await world.command(f"note {ticket.key} saved again without a reply", actor=OLLI)
    stored = await Ticket.get(id=ticket.id)
    assert stored.sla_state["results"]["next_response"] == {"met": 1, "missed": 0}
    assert svc.ANSWERED not in stored.sla_state
    assert stored.next_response_due is None
