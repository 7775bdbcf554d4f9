"""A realistic day in Acme's shared Slack channel, played through the real app.

Every top-level message a contact posts is labelled with what it must become: "opens a ticket",
"joins ticket N" (N names the ticket by the message that opened it) or "opens nothing". The day
has pleasantries in English and Finnish, requests split over several quick messages, late
screenshots, edits, deletions (one a thread parent with a reply, which Slack sends as a
tombstone), a 🎫 reaction, a request written in the thread of a "hello", and night messages. A
request must never be dropped: no message labelled "opens a ticket" may end up in no ticket.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock
from storage import db
from storage.models import Attachment, IntakeMessage, Message, Ticket
from tests.intake_org import apply_org
from tests.scenarios.slack_harness import SlackWorld, load, slack_world

HELSINKI = ZoneInfo("Europe/Helsinki")
DAY = datetime(2026, 11, 23, tzinfo=HELSINKI)  # a Monday
AINO, PEKKA, LIISA, MATTI, JOHANNA = "U0CUST1", "U0CUST2", "U0CUST3", "U0CUST4", "U0CUST5"
OLLI, SANNA = "U0OLLI", "U0SANNA"
NAMES = {AINO: "Aino", PEKKA: "Pekka", LIISA: "Liisa", MATTI: "Matti", JOHANNA: "Johanna", OLLI: "Olli",
         SANNA: "Sanna"}

OPENS, NOTHING = "opens a ticket", "opens nothing"


def joins(name: str) -> str:
    return f"joins {name}"


@dataclass
class Post:
    """A top-level message by a contact: `expect` is OPENS, NOTHING or joins(<name of its opener>)."""

    at: str  # HH:MM[:SS] Helsinki time
    user: str
    text: str
    expect: str
    name: str = ""  # how later lines refer to this message
    file: bool = False
    how: str = ""  # OPENS by "reaction", "edit" or "thread" rather than on arrival


@dataclass
class Reply:
    at: str
    user: str
    to: str  # the name of the post whose thread this is
    text: str


@dataclass
class Edit:
    at: str
    of: str
    text: str


@dataclass
class Delete:
    at: str
    of: str
    tombstone: bool = False  # a thread parent with replies: Slack sends message_changed to a tombstone


@dataclass
class React:
    at: str
    user: str
    on: str
    emoji: str = "ticket"


Line = Post | Reply | Edit | Delete | React

DAY_IN_THE_CHANNEL: list[Line] = [
    # -- the night before opening hours ---------------------------------------------------------
    Post("00:41", MATTI, "ERP login fails for the night shift: error 503 Service Unavailable", OPENS, "erp"),
    Post("00:42", MATTI, "All three warehouse terminals show the same", joins("erp")),
    Post("00:44", MATTI, "thanks", joins("erp")),
    Post("06:50", LIISA, "Hyvää huomenta kaikille!", OPENS, "mail", how="edit"),
    Edit("06:52", "mail", "Hyvää huomenta kaikille! Sähköposti ei toimi puhelimessa"),
    Post("07:05", LIISA, "Tulostin 3. kerroksessa ei tulosta, paperitukos?", OPENS, "printer"),
    Post("07:06", LIISA, "Kokeilin jo sammuttaa ja käynnistää", joins("printer")),
    # -- the morning ----------------------------------------------------------------------------
    Post("08:02", AINO, "hi all", NOTHING),
    Post("08:03", AINO, "Our VPN drops every few minutes in the Oulu office", OPENS, "vpn"),
    Post("08:04", AINO, "It started after the weekend", joins("vpn")),
    Post("08:06", AINO, "Tampere seems fine", joins("vpn")),
    Reply("08:10", OLLI, "vpn", "Looking at it now"),
    Post("08:15", PEKKA, "Could you create an account for our new hire Sanna Salo, she starts next Monday", OPENS,
         "account"),
    Post("08:16", PEKKA, "She needs VPN and ERP access", joins("account")),
    Post("08:17", PEKKA, "Signed access form attached", joins("account"), file=True),
    Reply("08:25", SANNA, "erp", "ERP service restarted, the terminals should work again"),
    Post("08:27", MATTI, "ok thanks, works now 👍", joins("erp")),
    Post("08:40", LIISA, "kiitos", NOTHING),
    Post("08:45", AINO, "thanks, but it is still broken", OPENS, "vpn-still"),
    Post("08:46", AINO, "The tunnel drops again every 3 minutes", joins("vpn-still")),
    Post("09:00", JOHANNA, "Good morning!", NOTHING),
    Post("09:01", JOHANNA, "Outlook keeps asking for my password since the update", OPENS, "outlook"),
    Post("09:02", JOHANNA, "Same on my phone", joins("outlook")),
    Post("09:03", JOHANNA, "🙏", joins("outlook")),
    Post("09:20", PEKKA, "Also, can we get a second monitor for the reception desk?", OPENS, "monitor"),
    Post("09:22", PEKKA, "A 24 inch one is fine", joins("monitor")),
    Edit("09:23", "monitor", "Also, can we get two monitors for the reception desk?"),
    Post("09:40", LIISA, "Paperitukos korjattu itse, mutta tulostin näyttää edelleen virhettä E5", OPENS, "e5"),
    Post("09:41", LIISA, "Kuva virheestä", joins("e5"), file=True),
    Post("10:05", MATTI, "Can you check why the nightly backup job failed?", OPENS, "backup"),
    Post("10:06", MATTI, "I mean the Sunday backup, not Saturday", joins("backup"), name="backup-typo"),
    Delete("10:07", "backup-typo"),
    Post("10:30", AINO, "ok", NOTHING),
    Post("10:31", AINO, "👍", NOTHING),
    Post("10:50", PEKKA, "Oops, wrong channel", OPENS, "oops"),
    Delete("10:51", "oops"),  # withdrawn before anyone looked: the ticket closes, its SLA stops
    Reply("11:05", OLLI, "outlook", "I reset your password, please try again"),
    Post("11:08", JOHANNA, "Thanks, works again!", joins("outlook")),
    Post("11:30", LIISA, "Onko VPN alhaalla? En pääse sisään", OPENS, "vpn-fi"),
    Post("11:31", LIISA, "Anteeksi, nyt toimii", joins("vpn-fi")),
    # -- the afternoon --------------------------------------------------------------------------
    Post("12:40", MATTI, "hi", NOTHING),
    Post("12:41", MATTI, "the warehouse scanner app crashes when scanning pallets", OPENS, "scanner"),
    Post("12:41:30", MATTI, "version 4.2.1 on Zebra TC52", joins("scanner")),
    Post("12:43", MATTI, "crash log from the device", joins("scanner"), file=True),
    Post("13:00", PEKKA, "Hello, quick question: who approves new software licences?", OPENS, "licences"),
    Post("13:15", JOHANNA, "Kiitos!", NOTHING),
    Post("13:20", AINO, "The VPN issue is back, Oulu again", OPENS, "vpn3"),
    Post("13:22", AINO, "Same symptoms as this morning", joins("vpn3")),
    Post("13:50", LIISA, "Voitteko lisätä Pekan jakelulistalle it-tiedotteet@acme.fi?", OPENS, "list"),
    Post("14:00", PEKKA, "hello 👋", OPENS, "hello", how="thread"),
    Reply("14:01", PEKKA, "hello", "the scanner on floor 3 no longer sends to email"),
    Post("14:30", JOHANNA, "Can you add me to the Finance Teams channel?", OPENS, "finance"),
    Post("14:31", JOHANNA, "thx", joins("finance")),
    Post("15:00", MATTI, "Printer driver for the new Kyocera, where do I find it?", OPENS, "driver"),
    Reply("15:05", OLLI, "driver", "It is on the intranet under Software > Printers"),
    Delete("15:10", "driver", tombstone=True),  # the question goes, the answer stays: the ticket stays
    Reply("15:17", OLLI, "vpn3", "Replaced the Oulu gateway config, please test"),
    Post("15:20", AINO, "got it, thanks", joins("vpn3")),
    Reply("15:43", SANNA, "list", "Added Pekka to the list"),
    Post("15:45", LIISA, "kiitti!", joins("list")),
    Post("16:05", PEKKA, "Thanks for today!", NOTHING),
    Post("16:30", MATTI, "kiitos, toimii taas 👍", OPENS, "erp-again", how="reaction"),
    React("16:35", OLLI, "erp-again"),  # Olli keeps a record of the second ERP recovery
    # -- after hours ----------------------------------------------------------------------------
    Post("17:10", JOHANNA, "The conference room screen in Tampere is black", OPENS, "screen"),
    Post("17:12", JOHANNA, "HDMI cable checked", joins("screen")),
    Post("18:30", AINO, "Hei, iltaa!", NOTHING),
    Post("18:31", AINO, "VPN is down again from home", OPENS, "vpn4"),
    Post("18:33", AINO, "Error: IKE negotiation failed", joins("vpn4")),
    Post("21:00", MATTI, "Warehouse terminals are slow again tonight", OPENS, "slow"),
    Post("21:01", MATTI, "Only the ERP screens", joins("slow")),
    Post("21:02", MATTI, "🙏🙏", joins("slow")),
    Post("22:15", LIISA, "Hyvää yötä!", NOTHING),
    Post("22:40", PEKKA, "Reminder: the new hire starts Monday, is the account ready?", OPENS, "reminder"),
    Post("23:10", JOHANNA, "ok", NOTHING),
    Post("23:30", AINO, "👍", NOTHING),
    Post("23:45", AINO, "never mind, works again", NOTHING),
]


def moment(at: str) -> datetime:
    parts = [int(p) for p in at.split(":")] + [0]
    return (DAY + timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])).astimezone(UTC)


def slack_ts(at: datetime, n: int) -> str:
    return f"{int(at.timestamp())}.{n:06d}"


@dataclass
class Day:
    slack: SlackWorld
    clock: FakeClock
    ts: dict[str, str] = field(default_factory=dict)  # post name -> Slack ts
    users: dict[str, str] = field(default_factory=dict)  # post name -> author
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def envelope(self, event: dict[str, Any], at: datetime) -> dict[str, Any]:
        body = copy.deepcopy(load("message_in_shared_channel.json"))
        body["event"] = event
        body["event_id"] = f"Ev0DAY{next(self.counter):05d}"
        body["event_time"] = int(at.timestamp())
        return body

    def message(self, user: str, text: str, ts: str, **extra: Any) -> dict[str, Any]:
        team = "T0HOME" if user in (OLLI, SANNA) else "T0ACME"
        return {"type": "message", "user": user, "text": text, "ts": ts, "team": team, "user_team": team,
                "source_team": team, "channel": "C0ACME", "event_ts": ts, "channel_type": "channel",
                "client_msg_id": f"day-{ts}", "user_profile": {"display_name": NAMES[user], "team": team}, **extra}

    async def send(self, event: dict[str, Any], at: datetime) -> None:
        self.clock.set(at)
        response = await self.slack.http.event(self.envelope(event, at))
        assert response.status == 200, response.text

    async def play(self, line: Line) -> None:
        at = moment(line.at)
        if isinstance(line, Post):
            ts = slack_ts(at, next(self.counter))
            if line.name:
                self.ts[line.name], self.users[line.name] = ts, line.user
            extra: dict[str, Any] = {}
            if line.file:
                extra = {"subtype": "file_share", "files": [{
                    "id": f"F0DAY{ts[-3:]}", "name": f"photo-{ts[-3:]}.jpg", "mimetype": "image/jpeg",
                    "size": 240_000, "original_w": 1600, "original_h": 1200, "file_access": "visible",
                    "url_private_download": f"{self.slack.api.root}files-pri/T0ACME-F0DAY{ts[-3:]}/photo.jpg"}]}
                self.slack.api.serve_file(f"T0ACME-F0DAY{ts[-3:]}/photo.jpg", b"\xff\xd8 a photo", "image/jpeg")
            await self.send(self.message(line.user, line.text, ts, **extra), at)
            line_ts[id(line)] = ts
        elif isinstance(line, Reply):
            ts = slack_ts(at, next(self.counter))
            await self.send(self.message(line.user, line.text, ts, thread_ts=self.ts[line.to],
                                         parent_user_id=self.users[line.to]), at)
        elif isinstance(line, Edit):
            old = self.ts[line.of]
            inner = self.message(self.users[line.of], line.text, old, edited={"user": self.users[line.of],
                                                                              "ts": f"{int(at.timestamp())}.000000"})
            ts = slack_ts(at, next(self.counter))
            await self.send({"type": "message", "subtype": "message_changed", "message": inner, "channel": "C0ACME",
                             "previous_message": self.message(self.users[line.of], "", old), "hidden": True,
                             "ts": ts, "event_ts": ts, "channel_type": "channel"}, at)
        elif isinstance(line, Delete):
            old, user = self.ts[line.of], self.users[line.of]
            ts = slack_ts(at, next(self.counter))
            if line.tombstone:
                tomb = {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                        "user": "USLACKBOT", "hidden": True, "ts": old, "thread_ts": old, "reply_count": 1}
                event = {"type": "message", "subtype": "message_changed", "message": tomb, "channel": "C0ACME",
                         "previous_message": self.message(user, "", old, thread_ts=old), "hidden": True, "ts": ts,
                         "event_ts": ts, "channel_type": "channel"}
            else:
                event = {"type": "message", "subtype": "message_deleted", "deleted_ts": old, "channel": "C0ACME",
                         "previous_message": self.message(user, "", old), "hidden": True, "ts": ts, "event_ts": ts,
                         "channel_type": "channel"}
            await self.send(event, at)
        else:
            self.clock.set(at)
            body = load("reaction_added.json")
            body["event_id"] = f"Ev0DAY{next(self.counter):05d}"
            body["event"].update(user=line.user, reaction=line.emoji, item_user=self.users[line.on],
                                 item={"type": "message", "channel": "C0ACME", "ts": self.ts[line.on]})
            response = await self.slack.http.event(body)
            assert response.status == 200
        await self.slack.drain()


line_ts: dict[int, str] = {}


@pytest.fixture
async def slack(db_url: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    await db.init(db_url)
    await apply_org()  # the intake defaults: pleasantries ignored, group_minutes 5, ticket_emoji ticket
    try:
        async with slack_world(clock, db_url) as world:
            yield world
    finally:
        await db.close()


async def test_a_day_in_a_shared_channel(slack: SlackWorld, clock: FakeClock) -> None:
    day = Day(slack, clock)
    posts = [line for line in DAY_IN_THE_CHANNEL if isinstance(line, Post)]
    assert len(posts) >= 60 and len({p.user for p in posts}) >= 5
    for line in DAY_IN_THE_CHANNEL:
        await day.play(line)

    tickets = {t.thread: t for t in await Ticket.filter(channel="C0ACME")}
    stored = {m.platform_message_id: m for m in await Message.filter(channel="C0ACME")}
    by_id = {t.id: t for t in tickets.values()}
    rows = {r.message_id: r for r in await IntakeMessage.filter(channel="C0ACME")}
    got: Counter[str] = Counter()
    problems = []
    report = []
    for post in posts:
        ts = line_ts[id(post)]
        if ts in tickets:
            outcome = OPENS
            where = tickets[ts].key
        elif ts in stored:
            opener = by_id[stored[ts].ticket_id].thread
            name = next((n for n, t in day.ts.items() if t == opener), opener)
            outcome, where = joins(name), by_id[stored[ts].ticket_id].key
        elif rows.get(ts) is not None and rows[ts].ticket_id is not None:
            outcome, where = joins("?"), by_id[rows[ts].ticket_id].key
        else:
            outcome, where = NOTHING, "-"
        got["joins" if post.expect.startswith("joins") else post.expect] += 1
        line = f"{post.at:>8} {NAMES[post.user]:<8} {where:<8} {post.expect:<22} {post.text[:60]}"
        report.append(line)
        if outcome != post.expect:
            problems.append(f"{line}  <- got {outcome}")
    print("\n".join(report))
    opened = [p for p in posts if p.expect == OPENS]
    dropped = [p for p in opened if line_ts[id(p)] not in tickets]
    print(f"\n{len(posts)} top-level messages from {len({p.user for p in posts})} contacts: "
          f"{got[OPENS]} open a ticket ({sum(1 for p in opened if p.how)} of them by a reaction, an edit or a "
          f"reply in their thread), {got['joins']} join a ticket, {got[NOTHING]} open nothing; "
          f"requests dropped: {len(dropped)}")
    assert not dropped, dropped
    assert not problems, "\n" + "\n".join(problems)

    # What people saw: one acknowledgement per ticket, none for what joined or opened nothing.
    acks = [p for p in slack.api.posts("C0ACME") if "A consultant will reply in this thread" in p["text"]]
    assert sorted(a["thread_ts"] for a in acks) == sorted(tickets)
    night = [a for a in acks if "Our support hours are" in a["text"]]
    assert {a["thread_ts"] for a in night} == {day.ts[n] for n in ("erp", "mail", "printer", "erp-again", "screen",
                                                                     "vpn4", "slow", "reminder")}
    # The withdrawn ticket is closed with its SLA stopped; the one whose question was answered stays.
    oops, driver = tickets[day.ts["oops"]], tickets[day.ts["driver"]]
    assert oops.status == "closed" and oops.escalation_at is None
    assert driver.status == "in_progress" and stored[day.ts["driver"]].deleted_at is not None
    assert tickets[day.ts["monitor"]].title == "Also, can we get two monitors for the reception desk?"
    assert stored[day.ts["backup-typo"]].deleted_at is not None
    await slack.adapter.files.idle()
    assert await Attachment.filter(content__isnull=False).count() == 3  # the photos and the form
