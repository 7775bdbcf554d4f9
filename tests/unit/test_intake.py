"""Intake in the core on a fake clock: grouping by the platform's time, pleasantries, reactions,
edits, deletions and the out-of-hours acknowledgement (DESIGN.md section 8, `intake:`)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import intake
from bot.clock import FakeClock
from bot.config import ConfigError, parse_config
from bot.core import Helpdesk
from bot.sla import Calendar
from bot.types import Actor, IncomingMessage, Place, Platform, Reaction
from storage import db
from storage.config_apply import apply_config
from storage.models import AuditEvent, IntakeMessage, Message, OutboxMessage, Ticket
from tests.conftest import MONDAY_9_HELSINKI
from tests.intake_org import org

_ids = itertools.count(1)


@pytest.fixture
async def desk(db_url: str, clock: FakeClock) -> AsyncIterator[Helpdesk]:
    await db.init(db_url)
    await apply_config(parse_config(org()))

    async def no_suggestions(text: str, limit: int) -> list[Any]:
        return []

    try:
        yield Helpdesk(clock=clock, suggest=no_suggestions)
    finally:
        await db.close()


def ts(at: datetime) -> str:
    return f"{at.timestamp():.6f}"


def team_of(user: str, channel: str) -> str:
    """The workspace a user belongs to: agents are at home, contacts in their customer's workspace."""
    if user in ("U0OLLI", "U0SANNA", "U0LEAD"):
        return "T0HOME"
    return {"C0ACME": "T0ACME", "C0GLOBEX": "T0GLOBEX"}[channel]


def message(text: str, at: datetime, user: str = "U0CUST1", channel: str = "C0ACME", thread: str | None = None,
            **kw: Any) -> IncomingMessage:
    message_id = kw.pop("message_id", None) or f"{ts(at)[:-2]}{next(_ids) % 100:02d}"
    return IncomingMessage(event_id=f"Ev{next(_ids)}", actor=Actor(Platform.SLACK, team_of(user, channel), user),
                           place=Place(Platform.SLACK, "T0HOME", channel, thread), message_id=message_id, text=text,
                           sent_at=at, **kw)


Post = Callable[..., Any]


@pytest.fixture
def post(desk: Helpdesk, clock: FakeClock) -> Post:
    """Post a top-level message `minutes` after Monday 09:00 Helsinki, arriving at that moment."""

    async def run(text: str, minutes: float, **kw: Any) -> tuple[IncomingMessage, Any]:
        at = MONDAY_9_HELSINKI + timedelta(minutes=minutes)
        clock.set(max(clock.now(), at))
        msg = message(text, at, **kw)
        return msg, await desk.handle_message(msg)

    return run


# -- grouping ------------------------------------------------------------------------------------


async def test_messages_within_group_minutes_join_the_first_ones_ticket(post: Post) -> None:
    _, first = await post("The VPN drops every few minutes", 0)
    assert first.ticket_key == "ACME-1"
    told = await OutboxMessage.all().count()
    _, second = await post("It happens in the Oulu office only", 2)
    _, third = await post("Since Friday", 6.5)  # 4.5 minutes after the previous one: still the same request
    assert second.ticket_key == third.ticket_key == "ACME-1"
    assert await Ticket.all().count() == 1
    ticket = await Ticket.get(key="ACME-1")
    assert await Message.filter(ticket_id=ticket.id, internal=False).count() == 3
    assert await OutboxMessage.all().count() == told  # no second acknowledgement, no second DM
    _, later = await post("Another thing: the printer jams", 12)  # 5.5 minutes after the last: a new request
    assert later.ticket_key == "ACME-2"


async def test_grouping_uses_the_platforms_time_not_the_arrival(post: Post, desk: Helpdesk,
                                                                clock: FakeClock) -> None:
    await post("The VPN drops every few minutes", 0)
    clock.advance(minutes=30)  # Slack retried the second message half an hour later
    late = message("It happens in the Oulu office only", MONDAY_9_HELSINKI + timedelta(minutes=1))
    outcome = await desk.handle_message(late)
    assert outcome.ticket_key == "ACME-1"
    assert await Ticket.all().count() == 1


async def test_grouping_is_per_contact_and_per_channel(post: Post) -> None:
    await post("The VPN drops every few minutes", 0)
    _, other_contact = await post("Our printer is offline", 1, user="U0CUST2")
    _, other_channel = await post("Globex: the mail server bounces", 1, channel="C0GLOBEX")
    assert other_contact.ticket_key == "ACME-2"
    assert other_channel.ticket_key == "GLOBEX-1"


async def test_a_resolved_ticket_is_not_joined(post: Post, desk: Helpdesk) -> None:
    await post("The VPN drops every few minutes", 0)
    ticket = await Ticket.get(key="ACME-1")
    ticket.status = "resolved"
    await ticket.save()
    _, outcome = await post("Also the printer jams", 1)
    assert outcome.ticket_key == "ACME-2"


async def test_group_minutes_0_turns_grouping_off(post: Post) -> None:
    await apply_config(parse_config(org(group_minutes=0)))
    await post("The VPN drops every few minutes", 0)
    _, second = await post("And the printer jams", 0.5)
    assert second.ticket_key == "ACME-2"


async def test_a_customers_own_intake_overrides_the_top_level(post: Post) -> None:
    data = org(group_minutes=0)
    data["customers"][0]["intake"] = {"group_minutes": 10}
    await apply_config(parse_config(data))
    await post("The VPN drops every few minutes", 0)
    _, acme = await post("Since Friday", 8)
    await post("Globex: mail bounces", 0, channel="C0GLOBEX")
    _, globex = await post("Globex: and the wifi", 0.5, channel="C0GLOBEX")
    assert (acme.ticket_key, globex.ticket_key) == ("ACME-1", "GLOBEX-2")


# -- pleasantries --------------------------------------------------------------------------------


async def test_a_pleasantry_alone_opens_nothing_and_tells_nobody(post: Post) -> None:
    msg, outcome = await post("thanks!", 0)
    assert outcome.ticket_key is None and outcome.queued == 0
    assert await Ticket.all().count() == 0 and await OutboxMessage.all().count() == 0
    row = await IntakeMessage.get(message_id=msg.message_id)  # kept, so a 🎫 can still open a ticket
    assert (row.outcome, row.ticket_id, row.text) == ("pleasantry", None, "thanks!")


async def test_a_pleasantry_after_recent_activity_is_stored_on_that_ticket(post: Post, desk: Helpdesk,
                                                                          clock: FakeClock) -> None:
    await post("The VPN drops every few minutes", 0)
    ticket = await Ticket.get(key="ACME-1")
    clock.set(MONDAY_9_HELSINKI + timedelta(minutes=9))  # an agent answers in the thread at 09:09
    agent = message("Restarted the gateway, try now", clock.now(), user="U0OLLI", thread=ticket.thread)
    await desk.handle_message(agent)
    before = (await Ticket.get(id=ticket.id)).sla_state
    _, outcome = await post("thanks, great 👍", 12)  # 12 minutes after the request, 3 after the answer
    assert outcome.ticket_key == "ACME-1"
    assert await Message.filter(ticket_id=ticket.id, text="thanks, great 👍").exists()
    assert (await Ticket.get(id=ticket.id)).sla_state == before  # "thanks" asks nothing of support
    _, quiet = await post("kiitos", 30)  # nothing happened on the ticket for 18 minutes
    assert quiet.ticket_key is None


async def test_a_request_with_courtesy_words_is_never_dropped(post: Post) -> None:
    for n, text in enumerate(("thanks, but it is still broken", "ok so the VPN is down again", "hi, anyone there?")):
        _, outcome = await post(text, n * 10)
        assert outcome.ticket_key == f"ACME-{n + 1}", text


async def test_ignore_pleasantries_false_makes_thanks_a_ticket(post: Post) -> None:
    await apply_config(parse_config(org(ignore_pleasantries=False)))
    _, outcome = await post("thanks!", 0)
    assert outcome.ticket_key == "ACME-1"


# -- reactions -----------------------------------------------------------------------------------


def reaction(message_id: str, emoji: str = "ticket", user: str = "U0OLLI", channel: str = "C0ACME") -> Reaction:
    return Reaction(event_id=f"EvR{next(_ids)}", actor=Actor(Platform.SLACK, team_of(user, channel), user),
                    place=Place(Platform.SLACK, "T0HOME", channel), message_id=message_id, emoji=emoji)


async def test_a_ticket_reaction_opens_a_ticket_for_the_messages_author(post: Post, desk: Helpdesk) -> None:
    msg, _ = await post("hello", 0)  # a pleasantry: nothing yet
    assert await Ticket.all().count() == 0
    assert (await desk.handle_reaction(reaction(msg.message_id, "thumbsup"))).ticket_key is None
    outcome = await desk.handle_reaction(reaction(msg.message_id))
    assert outcome.ticket_key == "ACME-1" and outcome.queued >= 2  # the acknowledgement, triage, DMs
    ticket = await Ticket.get(key="ACME-1").prefetch_related("contact")
    assert ticket.thread == msg.message_id and ticket.contact is not None and ticket.contact.user_id == "U0CUST1"
    assert await AuditEvent.filter(ticket_id=ticket.id, action="opened_by_reaction", actor="person:olli").exists()
    again = await desk.handle_reaction(reaction(msg.message_id, user="U0LEAD"))
    assert again.ticket_key is None and await Ticket.all().count() == 1


async def test_reaction_mode_opens_tickets_only_by_reaction(post: Post, desk: Helpdesk) -> None:
    await apply_config(parse_config(org(mode="reaction", ticket_emoji=":raising_hand:")))
    msg, outcome = await post("The VPN drops every few minutes", 0)
    assert outcome.ticket_key is None and await Ticket.all().count() == 0
    assert (await desk.handle_reaction(reaction(msg.message_id))).ticket_key is None  # not this mode's emoji
    opened = await desk.handle_reaction(reaction(msg.message_id, "raising_hand", user="U0CUST2"))
    assert opened.ticket_key == "ACME-1"
    _, follow_up = await post("It is the Oulu office", 2)  # grouping still joins the opened ticket
    assert follow_up.ticket_key == "ACME-1"


# -- edits and deletions -------------------------------------------------------------------------


async def test_editing_the_opening_message_updates_text_and_title_and_is_audited(post: Post,
                                                                                  desk: Helpdesk) -> None:
    msg, _ = await post("VPN drops in Oulu", 0)
    edit = message("VPN drops in Oulu and Tampere", msg.sent_at or MONDAY_9_HELSINKI, message_id=msg.message_id,
                   edited=True)
    await desk.handle_message(edit)
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.title == "VPN drops in Oulu and Tampere"
    stored = await Message.get(platform_message_id=msg.message_id)
    assert stored.text == "VPN drops in Oulu and Tampere" and stored.edited_at is not None
    event = await AuditEvent.get(ticket_id=ticket.id, action="message_edited")
    assert event.detail["title"] == {"from": "VPN drops in Oulu", "to": "VPN drops in Oulu and Tampere"}


async def test_a_pleasantry_edited_into_a_request_opens_a_ticket(post: Post, desk: Helpdesk) -> None:
    msg, _ = await post("hi", 0)
    edit = message("hi, the VPN is down in Oulu", msg.sent_at or MONDAY_9_HELSINKI, message_id=msg.message_id,
                   edited=True)
    outcome = await desk.handle_message(edit)
    assert outcome.ticket_key == "ACME-1"
    assert (await Ticket.get(key="ACME-1")).thread == msg.message_id


async def test_deleting_an_untouched_ticket_withdraws_it_and_stops_its_sla(post: Post, desk: Helpdesk) -> None:
    msg, _ = await post("VPN drops in Oulu", 0)
    assert (await Ticket.get(key="ACME-1")).escalation_at is not None
    outcome = await desk.handle_message(message("", MONDAY_9_HELSINKI, message_id=msg.message_id, deleted=True))
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "closed"
    assert (ticket.escalation_at, ticket.notice_at, ticket.first_response_due) == (None, None, None)
    assert (await Message.get(platform_message_id=msg.message_id)).deleted_at is not None
    actions = set(await AuditEvent.filter(ticket_id=ticket.id).values_list("action", flat=True))
    assert {"message_deleted", "status"} <= actions
    assert outcome.queued == 1  # the triage channel hears of it
    notice = await OutboxMessage.get(ticket_key="ACME-1", dedupe_key__startswith="withdrawn")
    assert "withdrawn" in notice.payload["text"] and notice.destination["channel"] == "C0TRIAGE"


async def test_deleting_a_message_of_a_ticket_someone_works_on_only_marks_it(post: Post, desk: Helpdesk) -> None:
    msg, _ = await post("VPN drops in Oulu", 0)
    ticket = await Ticket.get(key="ACME-1")
    agent = message("Looking at it", MONDAY_9_HELSINKI + timedelta(minutes=1), user="U0OLLI", thread=ticket.thread)
    await desk.handle_message(agent)
    await desk.handle_message(message("", MONDAY_9_HELSINKI, message_id=msg.message_id, deleted=True))
    ticket = await Ticket.get(key="ACME-1")
    assert ticket.status == "in_progress"
    assert await AuditEvent.filter(ticket_id=ticket.id, action="message_deleted").exists()


async def test_deleting_a_grouped_message_keeps_the_ticket(post: Post, desk: Helpdesk) -> None:
    await post("VPN drops in Oulu", 0)
    second, _ = await post("Since Friday", 1)
    await desk.handle_message(message("", MONDAY_9_HELSINKI, message_id=second.message_id, deleted=True))
    assert (await Ticket.get(key="ACME-1")).status == "new"


# -- out of hours --------------------------------------------------------------------------------


async def test_a_ticket_opened_at_night_says_when_support_answers(post: Post, clock: FakeClock) -> None:
    saturday_night = datetime(2026, 11, 28, 21, 30, tzinfo=UTC)  # Saturday 23:30 in Helsinki
    clock.set(saturday_night)
    _, outcome = await post("The VPN is down", (saturday_night - MONDAY_9_HELSINKI).total_seconds() / 60)
    ack = await OutboxMessage.get(ticket_key=outcome.ticket_key, dedupe_key__startswith="ack:")
    text = ack.payload["text"]
    # P3 first response is 240 business minutes: Monday 08:00 + 4 h = 12:00 Helsinki time.
    assert ("Our support hours are Mon–Thu 08–16, Fri 08–12 and 13–16 Helsinki time; we will reply by Mon 12:00."
            in text)


async def test_a_ticket_opened_in_business_hours_has_no_hours_note(post: Post) -> None:
    _, outcome = await post("The VPN is down", 0)
    ack = await OutboxMessage.get(ticket_key=outcome.ticket_key, dedupe_key__startswith="ack:")
    assert "support hours" not in ack.payload["text"]


def test_hours_text_names_runs_of_days() -> None:
    always = Calendar.from_config({"timezone": "UTC", "hours": {d: ["00:00-24:00"] for d in
                                                                ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    assert intake.hours_text(always) == "Mon–Sun 00–24"
    office = Calendar.from_config({"timezone": "America/New_York",
                                   "hours": {"mon": ["08:30-17:00"], "wed": ["08:30-17:00"]}})
    assert intake.hours_text(office) == "Mon 08:30–17, Wed 08:30–17"
    assert intake.zone_text("America/New_York") == "New York time" and intake.zone_text("UTC") == "UTC"


# -- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, problem", [
    ({"intake": {"group_minutes": -1}}, "intake.group_minutes: Input should be greater than or equal to 0"),
    ({"intake": {"group_minutes": "5"}}, "intake.group_minutes: Input should be a valid integer"),
    ({"intake": {"mode": "manual"}}, "intake.mode: Input should be 'auto' or 'reaction'"),
    ({"intake": {"ignore_pleasantries": "yes"}}, "intake.ignore_pleasantries: Input should be a valid boolean"),
    ({"intake": {"ticket_emoji": "🎫"}}, "intake.ticket_emoji: '🎫' is not an emoji name"),
    ({"intake": {"grouping": 5}}, "intake.grouping: unknown key"),
])
def test_bad_intake_config_names_the_key(bad: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({**org(), **bad})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_a_bad_customer_intake_names_the_customer() -> None:
    data = org()
    data["customers"][1]["intake"] = {"mode": "reactions"}
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert err.value.problems[0].startswith("customers[1].intake.mode:")
