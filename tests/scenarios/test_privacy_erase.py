"""After `privacy erase`, no table and no log line holds the contact's platform id, name or (with
--text) anything they wrote, such as their email address; the ticket history stays readable.
Processed inbox rows and delivered posts are purged after their retention."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from tortoise import connections

from bot.clock import FakeClock
from bot.core import Helpdesk
from bot.erasure import pseudonymous_id
from bot.types import Actor, Destination, IncomingMessage, Invocation, Place, Platform, Reply
from storage import installation, outbox, retention
from storage.inbox import Inbox
from storage.models import Contact, ConversationReference, InboxEvent, Message, OutboxMessage, Ticket

USER = "U0AINO42"
NAME = "Aino Asiakas"
FIRST = "Aino"
EMAIL = "aino.asiakas@acme.example"
ROOT = "1795417201.000100"
CONTACT = Actor(Platform.SLACK, "T0ACME", USER, display_name=NAME)
OLLI = Actor(Platform.SLACK, "T0HOME", "U0OLLI")
MAIJA = Actor(Platform.SLACK, "T0HOME", "U0LEAD")
CHANNEL = Place(Platform.SLACK, "T0HOME", "C0ACME")
THREAD = Place(Platform.SLACK, "T0HOME", "C0ACME", ROOT)
TRIAGE = Place(Platform.SLACK, "T0HOME", "C0TRIAGE")


class Delivered:
    """A sender that delivers everything (the outbox marks the rows sent)."""

    async def send(self, destination: Destination, reply: Reply) -> str:
        return f"{uuid.uuid4().int % 10**9}.000001"


async def _message(desk: Helpdesk, actor: Actor, place: Place, text: str, ts: str | None = None) -> None:
    ts = ts or f"17954{uuid.uuid4().int % 10**5:05d}.{uuid.uuid4().int % 10**6:06d}"
    await desk.accept_message(IncomingMessage(event_id=f"Ev{uuid.uuid4().hex[:10]}", actor=actor, place=place,
                                              message_id=ts, text=text))
    assert desk.inbox is not None
    await desk.inbox.flush()
    await desk.process_inbox()


async def _command(desk: Helpdesk, actor: Actor, place: Place, text: str) -> tuple[Reply, ...]:
    outcome = await desk.handle_invocation(Invocation(event_id=f"Ev{uuid.uuid4().hex[:10]}", actor=actor,
                                                      place=place, text=text))
    return outcome.replies


async def _story(desk: Helpdesk, clock: FakeClock) -> None:
    await _message(desk, CONTACT, CHANNEL, f"VPN drops every few minutes, mail me at {EMAIL}", ts=ROOT)
    await _message(desk, OLLI, THREAD, f"<@{USER}> {FIRST}, does it happen on the guest wifi too?")
    await _message(desk, CONTACT, THREAD, f"Only at the office. {NAME}, {EMAIL}")
    await _command(desk, OLLI, TRIAGE, "claim ACME-1")
    await _command(desk, OLLI, TRIAGE, f"note ACME-1 {NAME} sounded worried, call <@{USER}>")
    await _command(desk, OLLI, TRIAGE, f"resolve ACME-1 Firmware updated, thanks {FIRST}")
    await _command(desk, CONTACT, THREAD, "rate ACME-1 5")
    await _command(desk, CONTACT, THREAD, "privacy export")
    await ConversationReference.create(platform="slack", key=f"user:{USER}", tenant="T0ACME",
                                       reference={"user": {"id": USER, "name": NAME}}, updated_at=clock.now())
    while await outbox.deliver_due({"slack": Delivered()}, clock.now()):
        pass


async def _everything_stored() -> str:
    """Every row of every table, as text."""
    conn = connections.get("default")
    tables = [r["name"] for r in await conn.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    dump = []
    for table in tables:
        for row in await conn.execute_query_dict(f'SELECT * FROM "{table}"'):
            dump.append(f"{table}: {row!r}")
    return "\n".join(dump)


def _found(blob: str, needles: list[str]) -> list[str]:
    return [n for n in needles if n in blob]


@pytest.mark.parametrize("blank_text", [False, True])
async def test_erase_leaves_no_id_or_name_in_any_table_or_the_log(
        database: str, clock: FakeClock, caplog: pytest.LogCaptureFixture, blank_text: bool) -> None:
    caplog.set_level(logging.INFO)
    desk = Helpdesk(clock=clock, inbox=Inbox())
    await _story(desk, clock)
    before = await _everything_stored()
    assert _found(before, [USER, NAME, FIRST, EMAIL]) == [USER, NAME, FIRST, EMAIL]  # the probe sees them
    assert await InboxEvent.filter(status="done").count() >= 3

    command = f"privacy erase <@{USER}>" + (" --text" if blank_text else "")
    [answer] = await _command(desk, MAIJA, TRIAGE, command)
    assert "erased contact" in answer.text

    after = await _everything_stored()
    needles = [USER, NAME, FIRST] + ([EMAIL] if blank_text else [])
    leaks = [line for line in after.splitlines() if _found(line, needles)]
    assert not leaks, "\n".join(leaks)
    assert not _found(caplog.text, needles), caplog.text

    contact = await Contact.get()
    assert contact.user_id == await pseudonymous_id(Contact(id=contact.id, platform="slack", tenant="T0ACME",
                                                            user_id=USER))
    assert await InboxEvent.all().count() == 0  # only their messages and Olli's mention of them were there
    messages = await Message.filter(ticket__key="ACME-1").order_by("created_at")
    if blank_text:
        assert all(m.text == "" for m in messages if m.author_contact_id == contact.id)
        assert (await Ticket.get(key="ACME-1")).title == "(erased)"
    else:
        assert messages[0].text.startswith("VPN drops every few minutes")  # their words stay as history
        assert EMAIL in messages[0].text
    assert f"erased contact {contact.id}, does it happen" in messages[1].text


async def test_the_pseudonym_is_keyed_by_an_installation_secret(database: str, clock: FakeClock,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    contact = Contact(id=1, platform="slack", tenant="T0ACME", user_id=USER)
    stored = await pseudonymous_id(contact)
    assert stored == await pseudonymous_id(contact)  # generated once, then reused
    assert len(await installation.secret()) == 64
    monkeypatch.setenv(installation.PSEUDONYM_ENV, "k" * 40)
    assert await pseudonymous_id(contact) != stored
    import hashlib

    assert hashlib.sha256(f"slack:{USER}".encode()).hexdigest()[:16] not in stored
    monkeypatch.setenv(installation.PSEUDONYM_ENV, "short")
    with pytest.raises(installation.SecretError):
        await pseudonymous_id(contact)


async def test_processed_inbox_rows_and_delivered_posts_are_purged_after_their_retention(
        database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, inbox=Inbox())
    await _message(desk, CONTACT, CHANNEL, "VPN drops", ts=ROOT)
    while await outbox.deliver_due({"slack": Delivered()}, clock.now()):
        pass
    await outbox.enqueue(Destination(Platform.SLACK, "T0HOME", "C0TRIAGE"), Reply("still pending"), clock.now())
    counts: dict[str, Any] = {"inbox": await InboxEvent.all().count(), "sent": await OutboxMessage.filter(
        status="sent").count()}
    assert counts["inbox"] == 1 and counts["sent"] >= 2
    clock.advance(days=6)
    assert await retention.purge(clock.now()) == 0
    clock.advance(days=1, minutes=1)
    assert await retention.purge(clock.now()) == counts["inbox"] + counts["sent"]
    assert not await InboxEvent.exists() and not await OutboxMessage.filter(status="sent").exists()
    assert await OutboxMessage.filter(status="pending").count() == 1  # not delivered yet: kept
    assert timedelta(days=7) == retention.INBOX_RETENTION == retention.OUTBOX_RETENTION


async def test_a_waiting_message_that_mentions_them_is_kept_and_scrubbed(database: str, clock: FakeClock) -> None:
    desk = Helpdesk(clock=clock, inbox=Inbox())
    await _message(desk, CONTACT, CHANNEL, "VPN drops", ts=ROOT)
    await desk.accept_message(IncomingMessage(event_id="EvWAITING", actor=OLLI, place=THREAD,
                                              message_id="1795417299.000001", text=f"<@{USER}> {NAME}, try now"))
    assert desk.inbox is not None
    await desk.inbox.flush()
    await _command(desk, MAIJA, TRIAGE, f"privacy erase <@{USER}>")
    [waiting] = await InboxEvent.filter(status="pending")
    assert USER not in waiting.payload and NAME not in waiting.payload
    await desk.process_inbox()
    contact = await Contact.get()
    message = await Message.get(platform_message_id="1795417299.000001")
    assert message.text == f"erased contact {contact.id} erased contact {contact.id}, try now"
