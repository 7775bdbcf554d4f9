"""The mail channel against a real IMAP server (dovecot) and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
import yaml

from adapters.email.imap import ImapPoller
from bot import tickets as svc
from bot.clock import FakeClock
from bot.config import parse_config
from bot.mail import MailOutcome
from bot.types import Actor, Invocation, Place, Platform
from storage.config_apply import apply_config
from storage.models import Attachment, Contact, Message, OutboxMessage, ProcessedEvent, Ticket
from tests.conftest import ORG_YAML
from tests.scenarios.mail_harness import IMAP_PORT, MailWorld, mail, make_world

pytestmark = pytest.mark.skipif(not IMAP_PORT, reason="TEST_IMAP_PORT not set (make test starts dovecot)")

MATTI = "Matti Meikäläinen <matti@acme.fi>"


async def _world(clock: FakeClock) -> AsyncIterator[MailWorld]:
    data = yaml.safe_load(ORG_YAML.read_text())
    data["customers"][0]["email_domains"] = ["acme.fi"]
    data["customers"][1]["email_domains"] = ["globex.com"]
    data["people"][1]["email"] = "olli@desk.example"
    await apply_config(parse_config(data))
    w = await make_world(clock)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
async def world(database: str, clock: FakeClock) -> AsyncIterator[MailWorld]:
    async for w in _world(clock):
        yield w


@pytest.fixture
async def any_world(any_database: str, clock: FakeClock) -> AsyncIterator[MailWorld]:
    """The mail world on SQLite and on PostgreSQL."""
    async for w in _world(clock):
        yield w


def slack_agent(text: str, user: str = "U0OLLI", event: str = "Ev1") -> Invocation:
    return Invocation(event_id=event, actor=Actor(Platform.SLACK, "T0HOME", user),
                      place=Place(Platform.SLACK, "T0HOME", "C0TRIAGE"), text=text)


async def open_ticket(world: MailWorld, subject: str = "Invoice export fails", body: str = "It fails.") -> Ticket:
    await world.deliver_to_mailbox(mail(MATTI, subject, body, message_id="<first@acme.fi>"))
    assert (await world.poll()) == {"opened": 1}
    return await Ticket.get(key="ACME-1")


async def test_new_mail_opens_a_ticket_and_gets_an_acknowledgement(world: MailWorld) -> None:
    body = "Hi,\n\nthe invoice export fails with error 500.\n\nBr, Matti\n-- \nMatti Meikäläinen\nAcme Oy\n"
    ticket = await open_ticket(world, "Invoice export fails", body)
    assert (ticket.platform, ticket.thread, ticket.title) == ("email", "first@acme.fi", "Invoice export fails")
    contact = await Contact.get(id=ticket.contact_id)
    assert (contact.user_id, contact.display_name) == ("matti@acme.fi", "Matti Meikäläinen")
    message = await Message.get(ticket_id=ticket.id)
    assert message.text == "Hi,\n\nthe invoice export fails with error 500.\n\nBr, Matti"  # signature cut
    original = await Attachment.get(message_id=message.id, name="original.eml")
    assert original.content is not None and b"Acme Oy" in original.content  # the full mail is kept

    assert len(world.sink.mails) == 1
    ack = world.sink.mails[0]
    assert world.sink.recipients == [["matti@acme.fi"]]
    assert ack["Subject"] == "[ACME-1] Invoice export fails"
    assert ack["In-Reply-To"] == "<first@acme.fi>" and ack["References"] == "<first@acme.fi>"
    assert ack["Message-ID"].endswith("@desk.example>") and ack["Auto-Submitted"] == "auto-replied"
    assert "ACME-1" in ack.get_content() and "*" not in ack.get_content()
    # Announced in triage like any other ticket.
    triage = await OutboxMessage.filter(platform="slack", ticket_key="ACME-1").values_list("destination", flat=True)
    assert any(d["channel"] == "C0TRIAGE" for d in triage)
    assert all("\\Seen" in f for f in await world.flags())


async def test_reply_joins_by_references_and_by_key_in_the_subject(world: MailWorld) -> None:
    await open_ticket(world)
    ack_id = world.sink.mails[0]["Message-ID"]
    await world.deliver_to_mailbox(mail(MATTI, "Re: [ACME-1] Invoice export fails",
                                        "Here is the log.\n\nOn Mon, Support wrote:\n> Thanks, this is ACME-1",
                                        in_reply_to=ack_id, references=f"<first@acme.fi> {ack_id}"))
    # A colleague's new mail that only names the ticket in its subject joins too.
    await world.deliver_to_mailbox(mail("Liisa <liisa@acme.fi>", "[ACME-1] also here", "Same for me."))
    assert (await world.poll()) == {"joined": 2}
    assert await Ticket.all().count() == 1
    texts = await Message.filter(ticket__key="ACME-1").order_by("id").values_list("text", flat=True)
    assert texts[1:] == ["Here is the log.", "Same for me."]  # quoted history cut
    # Another customer naming ACME's key opens its own ticket and never joins ACME's.
    await world.deliver_to_mailbox(mail("Gina <gina@globex.com>", "[ACME-1] hello", "Not yours."))
    assert (await world.poll()) == {"opened": 1}
    assert await Message.filter(ticket__key="ACME-1").count() == 3
    assert await Ticket.filter(key="GLOBEX-1").exists()


async def test_chat_reply_and_resolution_reach_the_customer_by_mail_but_notes_never(world: MailWorld) -> None:
    await open_ticket(world)
    first_ack = world.sink.mails[0]["Message-ID"]
    outcome = await world.desk.handle_invocation(slack_agent("note ACME-1 customer is grumpy", event="Ev1"))
    assert outcome.replies and "Internal note" in outcome.replies[0].text
    outcome = await world.desk.handle_invocation(slack_agent("reply ACME-1 Please try again now.", event="Ev2"))
    assert "Replied" in outcome.replies[0].text
    await world.deliver()
    assert len(world.sink.mails) == 2
    answer = world.sink.mails[1]
    assert answer["Subject"] == "[ACME-1] Invoice export fails"
    assert "Please try again now." in answer.get_content()
    assert "grumpy" not in answer.get_content()
    assert answer["References"] == "<first@acme.fi>" and answer["Message-ID"] != first_ack
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.first_response_at is not None

    # The customer answers the agent's mail: it joins by In-Reply-To, and resolution goes out by mail.
    await world.deliver_to_mailbox(mail(MATTI, "Re: [ACME-1] Invoice export fails", "Works now, thanks!",
                                        in_reply_to=answer["Message-ID"]))
    assert (await world.poll()) == {"joined": 1}
    await world.desk.handle_invocation(slack_agent("resolve ACME-1 Export service restarted.", event="Ev3"))
    await world.deliver()
    resolution = world.sink.mails[-1]
    assert "Export service restarted." in resolution.get_content()
    refs = resolution["References"]
    assert refs.startswith("<first@acme.fi>") and len(refs.split()) == 2  # the thread: root + Matti's reply
    assert len(world.sink.mails) == 3
    assert all("grumpy" not in m.get_content() for m in world.sink.mails)


def png(width: int, height: int, noise: int = 0) -> bytes:
    """A real PNG; `noise` bytes of incompressible data make it large."""
    import os

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + (os.urandom(width * 3) if noise else b"\x80" * width * 3) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def html_mail(screenshot: bytes, logo: bytes, subject: str = "Broken screen", attach: bytes | None = None
              ) -> EmailMessage:
    msg = mail(MATTI, subject, "The screen is broken, see the screenshot.\n-- \nMatti\n")
    msg.add_alternative(
        '<html><body><p>The screen is broken, see the screenshot.</p><p><img src="cid:shot@acme.fi"></p>'
        '<div class="gmail_signature"><p>Matti, Acme Oy</p><img src="cid:logo@acme.fi"></div></body></html>',
        subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(screenshot, "image", "png", cid="<shot@acme.fi>", filename="screenshot.png")
    html_part.add_related(logo, "image", "png", cid="<logo@acme.fi>", filename="acme-brand.png")
    if attach is not None:
        msg.add_attachment(attach, maintype="application", subtype="pdf", filename="report.pdf")
    return msg


async def test_screenshot_is_kept_and_signature_logo_dropped_and_a_file_is_stored_once(world: MailWorld) -> None:
    screenshot = png(400, 300, noise=1)
    logo = png(200, 60, noise=1)  # over the inline-size limits: only its place in the signature gives it away
    report = b"%PDF-1.4 report" * 100
    await world.deliver_to_mailbox(html_mail(screenshot, logo, attach=report))
    assert (await world.poll()) == {"opened": 1}
    message = await Message.get(ticket__key="ACME-1")
    files = {a.name: a for a in await Attachment.filter(message_id=message.id)}
    assert set(files) == {"screenshot.png", "report.pdf", "original.eml"}
    assert files["screenshot.png"].content == screenshot and files["screenshot.png"].mimetype == "image/png"
    assert message.text == "The screen is broken, see the screenshot."

    # The same report sent again in the thread is not stored a second time.
    again = mail(MATTI, "Re: [ACME-1] Broken screen", "Sending the report again.")
    again.add_attachment(report, maintype="application", subtype="pdf", filename="report-copy.pdf")
    await world.deliver_to_mailbox(again)
    assert (await world.poll()) == {"joined": 1}
    names = await Attachment.filter(message__ticket__key="ACME-1").values_list("name", flat=True)
    assert sorted(names) == ["original.eml", "original.eml", "report.pdf", "screenshot.png"]


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},
    {"X-Autoreply": "yes"},
    {"Precedence": "bulk"},
    {"Precedence": "auto_reply"},
])
async def test_auto_replies_open_nothing_and_get_no_answer(world: MailWorld, headers: dict[str, str]) -> None:
    await world.deliver_to_mailbox(mail(MATTI, "Out of office", "I am away until Monday.", headers=headers))
    assert (await world.poll()) == {"automatic": 1}
    assert await Ticket.all().count() == 0
    assert world.sink.mails == []
    assert all("\\Seen" in f for f in await world.flags())  # read, so it is not read again


async def test_a_bounce_to_an_acknowledgement_is_no_reply(world: MailWorld) -> None:
    await open_ticket(world)
    bounce = (b"From: Mail Delivery System <mailer-daemon@acme.fi>\r\nTo: support@desk.example\r\n"
              b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@acme.fi>\r\n"
              b"In-Reply-To: " + world.sink.mails[0]["Message-ID"].encode() + b"\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
              b"--b1\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
              b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.fi\r\n"
              b"--b1--\r\n")
    await world.deliver_to_mailbox(bounce)
    assert (await world.poll()) == {"automatic": 1}
    assert await Message.filter(ticket__key="ACME-1").count() == 1
    assert len(world.sink.mails) == 1  # the acknowledgement only, no answer to the bounce


async def test_a_stranger_opens_nothing_and_the_mail_is_left_for_a_human(world: MailWorld,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    await world.deliver_to_mailbox(mail("Eve <eve@elsewhere.example>", "Hello", "Buy my product"))
    with caplog.at_level(logging.INFO, logger="chatdesk.mail"):
        assert (await world.poll()) == {"unknown": 1}
        assert (await world.poll()) == {"unknown": 1}  # a new poller reads it again: never lost
    assert await Ticket.all().count() == 0 and world.sink.mails == []
    assert await ProcessedEvent.filter(platform="email").count() == 0
    assert all("\\Seen" not in f for f in await world.flags())
    assert "eve@elsewhere.example is not a contact of any customer" in caplog.text


async def test_a_stranger_goes_to_the_unknown_folder_when_one_is_set(database: str, clock: FakeClock) -> None:
    folder = f"Unknown senders {uuid.uuid4().hex[:6]}"
    w = await make_world(clock, unknown_folder=folder)
    try:
        await w.deliver_to_mailbox(mail("Eve <eve@elsewhere.example>", "Hello", "Buy my product"))
        assert (await w.poll()) == {"unknown": 1}
        assert await w.flags() == []
        assert len(await w.flags(folder)) == 1
    finally:
        w.stop()


class CrashAfterCommit(ImapPoller):
    """The process dies after the ticket change committed and before the mail was flagged."""

    async def done(self, client: object, uid: int, outcome: MailOutcome) -> None:  # type: ignore[override]
        raise ConnectionResetError("killed before the flag")


async def test_a_crash_between_fetch_and_commit_loses_nothing_and_doubles_nothing(
        any_world: MailWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    world = any_world
    await world.deliver_to_mailbox(mail(MATTI, "VPN down", "The VPN is down.", message_id="<vpn@acme.fi>"))

    # 1. Killed inside the transaction, after the ticket row was written: everything rolls back.
    real_store = svc.store_message

    async def killed(*args: object, **kwargs: object) -> object:
        raise asyncio.CancelledError()

    monkeypatch.setattr(svc, "store_message", killed)
    poller = world.poller()
    with pytest.raises(asyncio.CancelledError):
        await poller.poll_once()
    await poller.close()
    monkeypatch.setattr(svc, "store_message", real_store)
    assert await Ticket.all().count() == 0 and await OutboxMessage.all().count() == 0
    assert all("\\Seen" not in f for f in await world.flags())

    # 2. Killed after the commit, before the flag: the mail is read again and changes nothing twice.
    crashing = CrashAfterCommit(world.settings, world.poller().handle)
    with pytest.raises(ConnectionResetError):
        await crashing.poll_once()
    await crashing.close()
    assert await Ticket.all().count() == 1
    assert all("\\Seen" not in f for f in await world.flags())
    assert (await world.poll()) == {"duplicate": 1}
    assert await Ticket.all().count() == 1 and await Message.all().count() == 1
    assert len(world.sink.mails) == 1  # one acknowledgement
    assert all("\\Seen" in f for f in await world.flags())


async def test_bad_mail_is_logged_and_still_becomes_a_ticket(world: MailWorld,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    unknown_charset = (b"From: matti@acme.fi\r\nTo: support@desk.example\r\nSubject: charset\r\n"
                       b"Message-ID: <cs@acme.fi>\r\nContent-Type: text/plain; charset=x-unknown-9\r\n\r\n"
                       b"Hello \xe4\xf6 world\r\n")
    malformed = (b"From: Matti <matti@acme.fi>\r\nSubject: broken\r\nMessage-ID: <mf@acme.fi>\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\nno boundary here at all\r\n")
    no_text = EmailMessage()
    no_text["From"] = MATTI
    no_text["Subject"] = "scan"
    no_text["Message-ID"] = "<nt@acme.fi>"
    no_text.add_attachment(b"%PDF-1.4 scan", maintype="application", subtype="pdf", filename="scan.pdf")
    huge = mail(MATTI, "Big log", "The log is attached.", message_id="<big@acme.fi>")
    huge.add_attachment(b"x" * (30 * 1024 * 1024), maintype="application", subtype="octet-stream",
                        filename="big.log")
    for raw in (unknown_charset, malformed):
        await world.deliver_to_mailbox(raw)
    await world.deliver_to_mailbox(no_text)
    await world.deliver_to_mailbox(huge)
    with caplog.at_level(logging.INFO, logger="chatdesk.mail"):
        assert (await world.poll()) == {"opened": 4}
    texts = {t.title: await Message.get(ticket_id=t.id) for t in await Ticket.all()}
    assert "Hello" in texts["charset"].text and "world" in texts["charset"].text
    assert "no boundary here" in texts["broken"].text
    assert texts["scan"].text == "(mail with no text: scan.pdf)"
    assert "mail nt@acme.fi from matti@acme.fi has no text; stored with its files (scan.pdf)" in caplog.text
    assert "unknown or wrong charset 'x-unknown-9'" in caplog.text
    assert "malformed MIME" in caplog.text
    big = await Attachment.get(message_id=texts["Big log"].id, name="big.log")
    assert big.content is None and big.size == 30 * 1024 * 1024  # over the limit: the name and size are kept
    assert "over the" in caplog.text and "the mail stays in the mailbox" in caplog.text
    assert len(world.sink.mails) == 4  # every sender got an acknowledgement


async def test_mail_from_an_agent_in_the_thread_counts_as_their_reply(world: MailWorld) -> None:
    ticket = await open_ticket(world)
    assert ticket.first_response_at is None
    await world.deliver_to_mailbox(mail("Olli <olli@desk.example>", "Re: [ACME-1] Invoice export fails",
                                        "Looking into it."))
    assert (await world.poll()) == {"joined": 1}
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.first_response_at is not None
    agent_message = await Message.filter(ticket_id=ticket.id, author_kind="agent").first()
    assert agent_message is not None and agent_message.text == "Looking into it."



async def test_sla_notices_of_a_mail_ticket_go_to_the_agents_not_to_the_customers_inbox(world: MailWorld) -> None:
    from bot import reminders

    await open_ticket(world)
    world.clock.advance(hours=3, minutes=30)  # past warn_at (75 %) of the 4 h first-response target
    assert await reminders.tick(world.desk, world.clock.now()) >= 1
    notices = await OutboxMessage.filter(ticket_key="ACME-1", dedupe_key__startswith="sla:").values_list(
        "platform", flat=True)
    assert "slack" in notices and "email" not in notices
    assert await world.deliver() == 0 and len(world.sink.mails) == 1  # the acknowledgement only


async def test_a_small_image_that_comes_with_every_mail_is_stored_the_first_time_only(world: MailWorld) -> None:
    logo = png(220, 70, noise=1)  # an inline image outside any signature block, as some mailers send it
    for n in range(2):
        msg = mail(MATTI, f"Question {n}", f"Question number {n}.")
        msg.add_alternative(f'<p>Question number {n}.</p><p><img src="cid:brand@acme.fi"></p>', subtype="html")
        msg.get_payload()[1].add_related(logo, "image", "png", cid="<brand@acme.fi>", filename="brand.png")
        await world.deliver_to_mailbox(msg)
    assert (await world.poll()) == {"opened": 2}
    first, second = await Ticket.all().order_by("id")
    assert await Attachment.filter(message__ticket_id=first.id, name="brand.png").count() == 1
    assert await Attachment.filter(message__ticket_id=second.id, name="brand.png").count() == 0
