"""Storage on SQLite and PostgreSQL: migrations, config apply, uniqueness, the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.config import load_config, parse_config
from bot.types import Audience, Destination, Platform, Reply
from storage import db, outbox
from storage.config_apply import apply_config
from storage.models import (
    ChannelBinding,
    Customer,
    Message,
    OutboxMessage,
    Person,
    ProcessedEvent,
    Ticket,
)
from tests.conftest import MONDAY_9_HELSINKI, ORG_YAML


async def test_migrate_is_idempotent(any_db_url: str) -> None:
    await db.migrate(any_db_url)  # already migrated by the fixture's template: nothing to do, no error
    async with db.database(any_db_url):
        assert await Customer.all().count() == 0


async def test_apply_twice_changes_nothing(any_database: str) -> None:
    cfg = load_config(ORG_YAML)
    again = await apply_config(cfg)
    assert not again.changed, again
    assert await Customer.all().count() == 2
    assert await ChannelBinding.filter(purpose="triage").count() == 2
    assert await Person.filter(role="lead").values_list("pid", flat=True) == ["maija"]


async def test_apply_updates_and_deactivates(any_database: str) -> None:
    raw = load_config(ORG_YAML).model_dump()
    raw["people"] = [p for p in raw["people"] if p["id"] != "sanna"]
    raw["support_teams"]["support"]["members"] = ["olli"]
    raw["customers"][0]["name"] = "Acme Corporation"
    report = await apply_config(parse_config(raw), prune=True)
    assert "person sanna (deactivated)" in report.removed
    assert any(u.startswith("customer ACME") for u in report.updated)
    assert (await Customer.get(key="ACME")).name == "Acme Corporation"
    assert not (await Person.get(pid="sanna")).active


async def test_bad_config_writes_nothing(db_url: str) -> None:
    raw = load_config(ORG_YAML).model_dump()
    raw["customers"][1]["contract"] = "gld"
    with pytest.raises(ValueError, match=r"customers\[1\]\.contract: unknown contract 'gld'"):
        parse_config(raw)
    async with db.database(db_url):
        assert await Customer.all().count() == 0


async def _ticket() -> Ticket:
    customer = await Customer.get(key="ACME")
    return await Ticket.create(
        key="ACME-1", number=1, customer_id=customer.id, title="t", platform="slack", tenant="T0ACME",
        channel="C0ACME", thread="1.1", created_at=MONDAY_9_HELSINKI, updated_at=MONDAY_9_HELSINKI,
    )


async def test_platform_message_id_is_unique(any_database: str) -> None:
    ticket = await _ticket()
    fields = dict(ticket_id=ticket.id, platform="slack", platform_message_id="1.1", author_kind="contact",
                  text="x", created_at=MONDAY_9_HELSINKI)
    await Message.create(**fields)
    with pytest.raises(IntegrityError):
        await Message.create(**fields)
    assert await Message.all().count() == 1


async def test_processed_event_is_unique(any_database: str) -> None:
    await ProcessedEvent.create(platform="slack", event_id="Ev1", created_at=MONDAY_9_HELSINKI)
    with pytest.raises(IntegrityError):
        await ProcessedEvent.create(platform="slack", event_id="Ev1", created_at=MONDAY_9_HELSINKI)


async def test_transaction_rolls_back(any_database: str) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await _ticket()
            raise RuntimeError("boom")
    assert await Ticket.all().count() == 0


class FlakySender:
    """Answers 429 (Retry-After 7 s) once, then 500 once, then delivers."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures = [outbox.DeliveryError("ratelimited", retry_after=7), outbox.DeliveryError("500")]

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        self.calls.append(reply.text)
        if self.failures:
            raise self.failures.pop(0)
        return "1700000000.000100"


async def test_outbox_retries_with_retry_after_and_backoff(any_database: str) -> None:
    now = MONDAY_9_HELSINKI
    dest = Destination(Platform.SLACK, "T0ACME", "C0ACME", "1.1", customer_visible=True)
    await outbox.enqueue(dest, Reply("hello", audience=Audience.THREAD, dedupe="d1"), now)
    assert await outbox.enqueue(dest, Reply("hello", audience=Audience.THREAD, dedupe="d1"), now) is None
    sender = FlakySender()
    senders = {"slack": sender}
    assert await outbox.deliver_due(senders, now) == 0
    row = await OutboxMessage.get()
    assert row.next_attempt_at == now + timedelta(seconds=7)  # Retry-After honoured
    assert await outbox.deliver_due(senders, now + timedelta(seconds=6)) == 0 and len(sender.calls) == 1
    assert await outbox.deliver_due(senders, now + timedelta(seconds=7)) == 0  # the 500
    assert await outbox.deliver_due(senders, now + timedelta(seconds=60)) == 1
    assert await outbox.deliver_due(senders, now + timedelta(seconds=120)) == 0
    row = await OutboxMessage.get()
    assert (row.status, row.attempts, row.platform_message_id) == ("sent", 3, "1700000000.000100")
    assert sender.calls == ["hello"] * 3
    assert await outbox.lag_seconds(now + timedelta(seconds=120)) == 0


async def test_permanent_failure_is_not_retried(any_database: str) -> None:
    class Broken:
        async def send(self, destination: Destination, reply: Reply) -> str | None:
            raise outbox.DeliveryError("channel_not_found", permanent=True)

    now = MONDAY_9_HELSINKI
    await outbox.enqueue(Destination(Platform.SLACK, "T", "C"), Reply("x"), now)
    await outbox.deliver_due({"slack": Broken()}, now)
    row = await OutboxMessage.get()
    assert row.status == "failed" and row.last_error == "channel_not_found"
