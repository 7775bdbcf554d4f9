"""Configuration read once per inbox batch: shared inside one, read afresh by the next."""

from __future__ import annotations

from bot import memo
from bot.clock import FakeClock
from storage.models import ChannelBinding, OutboxMessage, Person, Ticket
from tests.unit.test_inbox import desk_with_inbox, message


async def test_outside_a_batch_every_read_goes_to_the_database() -> None:
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    assert [await memo.read("k", load), await memo.read("k", load)] == [1, 2]
    with memo.batch():
        assert [await memo.read("k", load), await memo.read("k", load), await memo.read("j", load)] == [3, 3, 4]
    assert await memo.read("k", load) == 5  # the batch's reads are gone with it


async def test_a_channel_removed_between_batches_opens_no_more_tickets(database: str, clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    assert await desk.process_inbox() == 1
    await ChannelBinding.filter(channel="C0ACME").delete()  # as `config apply --prune` in another process
    await desk.accept_message(message(2))
    assert await desk.process_inbox() == 1
    assert await Ticket.all().count() == 1


async def test_a_person_who_left_between_batches_gets_no_new_ticket_notices(database: str,
                                                                               clock: FakeClock) -> None:
    desk = desk_with_inbox(clock)
    await desk.accept_message(message(1))
    await desk.process_inbox()
    first = await Ticket.get(number=1)
    await Person.filter(pid="sanna").update(active=False)
    await desk.accept_message(message(2))
    await desk.process_inbox()
    second = await Ticket.get(number=2)
    def told(key: str) -> set[str]:
        return {str(r.destination.get("user")) for r in rows if r.ticket_key == key and r.destination.get("user")}

    rows = await OutboxMessage.all()
    assert "U0SANNA" in told(first.key) and "U0SANNA" not in told(second.key)
