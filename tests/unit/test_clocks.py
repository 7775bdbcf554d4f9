"""A ticket's SLA clocks (bot/clocks.py): deadlines, pauses, priority changes, DST, notices.

Table tests over the state stored on Ticket.sla_state, driven the way the ticket
services drive it (new_state, pause, resume, record), against the README's SLA semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot import clocks
from bot.config import Target
from bot.sla import WEEKDAYS, Calendar

OFFICE_HOURS = {"mon": ["08:00-16:00"], "tue": ["08:00-16:00"], "wed": ["08:00-16:00"], "thu": ["08:00-16:00"],
                "fri": ["08:00-12:00", "13:00-16:00"]}
HELSINKI = Calendar.from_config({"timezone": "Europe/Helsinki", "hours": OFFICE_HOURS,
                                 "holidays": ["2026-12-24", "2026-12-25"]})
HELSINKI_24H = Calendar.from_config({"timezone": "Europe/Helsinki", "hours": {d: ["00:00-24:00"] for d in WEEKDAYS}})
NEW_YORK = Calendar.from_config({"timezone": "America/New_York",
                                 "hours": {d: ["09:00-17:00"] for d in WEEKDAYS[:5]}})
NEW_YORK_24H = Calendar.from_config({"timezone": "America/New_York",
                                     "hours": {d: ["00:00-24:00"] for d in WEEKDAYS}})
CALENDARS = {"helsinki": HELSINKI, "helsinki-24h": HELSINKI_24H, "new-york": NEW_YORK, "new-york-24h": NEW_YORK_24H}
# The gold contract of tests/fixtures/org.yaml.
GOLD = {p: Target(**t) for p, t in {"P1": {"first_response": 30, "resolution": 240},
                                    "P2": {"first_response": 60, "resolution": 480},
                                    "P3": {"first_response": 240, "resolution": 2400},
                                    "P4": {"first_response": 480, "resolution": 4800}}.items()}
WARN = 0.75


def at(cal: Calendar, text: str) -> datetime:
    """A wall-clock time in the calendar's zone ("2026-11-23 09:00")."""
    return cal.localize(datetime.fromisoformat(text))


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def by_metric(views: list[clocks.ClockView]) -> dict[str, clocks.ClockView]:
    return {v.metric: v for v in views}


# --- deadlines through a ticket's life -------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    calendar: str
    start: str  # wall clock in the calendar's zone
    pauses: tuple[tuple[str, str], ...]  # closed pauses, wall clock
    priority: str
    first_response: str | None  # expected deadline, wall clock (None: no deadline)
    resolution: str | None
    warn_first_response: str | None = None


CASES = [
    Case("plain Monday morning", "helsinki", "2026-11-23 09:00", (), "P3",
         "2026-11-23 13:00", "2026-11-30 10:00", warn_first_response="2026-11-23 12:00"),
    Case("start before opening counts from 08:00", "helsinki", "2026-11-23 07:00", (), "P3",
         "2026-11-23 12:00", "2026-11-30 09:00", warn_first_response="2026-11-23 11:00"),
    Case("pause in business hours moves every deadline", "helsinki", "2026-11-23 09:00",
         (("2026-11-23 10:00", "2026-11-23 10:30"),), "P3", "2026-11-23 13:30", "2026-11-30 10:30",
         warn_first_response="2026-11-23 12:30"),
    Case("pause outside business hours changes nothing", "helsinki", "2026-11-23 09:00",
         (("2026-11-23 17:00", "2026-11-24 07:30"),), "P3", "2026-11-23 13:00", "2026-11-30 10:00"),
    Case("pause over closing counts its business part only", "helsinki", "2026-11-23 09:00",
         (("2026-11-23 15:30", "2026-11-24 08:30"),), "P3", "2026-11-23 13:00", "2026-11-30 11:00"),
    Case("overlapping pauses count once", "helsinki", "2026-11-23 09:00",
         (("2026-11-23 10:00", "2026-11-23 10:30"), ("2026-11-23 10:15", "2026-11-23 11:00")), "P3",
         "2026-11-23 14:00", "2026-11-30 11:00"),
    Case("P1 from the same start", "helsinki", "2026-11-23 09:00", (), "P1",
         "2026-11-23 09:30", "2026-11-23 13:00", warn_first_response="2026-11-23 09:22:30"),
    Case("Friday lunch break; a deadline at closing stays at closing", "helsinki", "2026-11-27 11:00", (), "P3",
         "2026-11-27 16:00", "2026-12-04 12:00"),
    Case("Christmas holidays and the weekend", "helsinki", "2026-12-23 14:00", (), "P3",
         "2026-12-28 10:00", "2027-01-01 15:00"),
    # Helsinki springs forward on Sunday 29 March 2026 (03:00 EET -> 04:00 EEST).
    Case("Helsinki office across spring forward", "helsinki", "2026-03-27 15:00", (), "P3",
         "2026-03-30 11:00", "2026-04-03 16:00"),
    Case("Helsinki 24h across spring forward: a day has 23 wall hours", "helsinki-24h", "2026-03-28 12:00", (),
         "P4", "2026-03-28 20:00", "2026-03-31 21:00"),
    Case("Helsinki 24h pause over the missing hour", "helsinki-24h", "2026-03-28 12:00",
         (("2026-03-29 00:00", "2026-03-29 06:00"),), "P4", "2026-03-28 20:00", "2026-04-01 02:00"),
    # ... and falls back on Sunday 25 October 2026 (04:00 EEST -> 03:00 EET).
    Case("Helsinki 24h across fall back: a day has 25 wall hours", "helsinki-24h", "2026-10-24 12:00", (),
         "P4", "2026-10-24 20:00", "2026-10-27 19:00"),
    Case("Helsinki office across fall back", "helsinki", "2026-10-23 15:00", (), "P3",
         "2026-10-26 11:00", "2026-10-30 16:00"),
    # New York springs forward on Sunday 8 March 2026 and falls back on Sunday 1 November 2026.
    Case("New York office across spring forward", "new-york", "2026-03-06 16:00", (), "P3",
         "2026-03-09 12:00", "2026-03-13 16:00"),
    Case("New York 24h across spring forward", "new-york-24h", "2026-03-07 12:00", (), "P2",
         "2026-03-07 13:00", "2026-03-07 20:00"),
    Case("New York 24h, a full day over the missing hour", "new-york-24h", "2026-03-07 12:00", (), "P4",
         "2026-03-07 20:00", "2026-03-10 21:00"),
    Case("New York 24h across fall back", "new-york-24h", "2026-10-31 12:00", (), "P4",
         "2026-10-31 20:00", "2026-11-03 19:00"),
    Case("New York office, pause across fall back night", "new-york", "2026-10-30 15:00",
         (("2026-10-30 16:00", "2026-11-02 10:00"),), "P3", "2026-11-02 13:00", "2026-11-06 17:00"),
]


def state_for(case: Case) -> tuple[Calendar, dict]:
    cal = CALENDARS[case.calendar]
    state = clocks.new_state(at(cal, case.start))
    for a, b in case.pauses:
        clocks.pause(state, at(cal, a))
        clocks.resume(state, at(cal, b))
    return cal, state


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_deadlines(case: Case) -> None:
    cal, state = state_for(case)
    now = at(cal, case.start)
    views = by_metric(clocks.view(state, cal, GOLD[case.priority], WARN, now))
    expect = {"first_response": case.first_response, "resolution": case.resolution}
    for metric, wall in expect.items():
        due = views[metric].due
        assert due == (at(cal, wall) if wall else None), metric
        assert due is None or due.tzinfo is not None
    if case.warn_first_response:
        assert views["first_response"].warn_at == at(cal, case.warn_first_response)
    assert views["next_response"].due is None  # nothing awaits a next response yet


def test_new_york_missing_hour_in_utc() -> None:
    """A 24-hour calendar's business day over the spring-forward night is 24 real hours, 23 on the wall."""
    start = at(NEW_YORK_24H, "2026-03-07 12:00")
    state = clocks.new_state(start)
    target = Target(first_response=1440, resolution=2880)
    views = by_metric(clocks.view(state, NEW_YORK_24H, target, WARN, start))
    assert start == z("2026-03-07 17:00")
    assert views["first_response"].due == z("2026-03-08 17:00") == at(NEW_YORK_24H, "2026-03-08 13:00")
    assert views["first_response"].warn_at == start + timedelta(hours=18)


def test_open_pause_has_no_deadline_and_moves_them_on_resume() -> None:
    start = at(HELSINKI, "2026-11-23 09:00")
    state = clocks.new_state(start)
    clocks.pause(state, at(HELSINKI, "2026-11-23 11:00"))
    clocks.pause(state, at(HELSINKI, "2026-11-23 11:30"))  # a second pause does not restart it
    during = by_metric(clocks.view(state, HELSINKI, GOLD["P3"], WARN, at(HELSINKI, "2026-11-23 14:00")))
    assert during["first_response"].paused
    assert (during["first_response"].due, during["first_response"].warn_at) == (None, None)
    assert during["first_response"].used_minutes == pytest.approx(120)  # 09:00-11:00, the pause does not count
    assert clocks.is_paused(state)
    clocks.resume(state, at(HELSINKI, "2026-11-23 14:00"))
    after = by_metric(clocks.view(state, HELSINKI, GOLD["P3"], WARN, at(HELSINKI, "2026-11-23 14:00")))
    assert not clocks.is_paused(state)
    assert after["first_response"].due == at(HELSINKI, "2026-11-23 16:00")  # 13:00 + 3h paused
    assert after["resolution"].due == at(HELSINKI, "2026-11-30 13:00")


def test_priority_change_keeps_elapsed_time() -> None:
    """The deadline is recomputed from the ticket's start with the new target; used time is unchanged."""
    cal = HELSINKI
    state = clocks.new_state(at(cal, "2026-11-23 09:00"))
    clocks.pause(state, at(cal, "2026-11-23 09:10"))
    clocks.resume(state, at(cal, "2026-11-23 09:20"))
    now = at(cal, "2026-11-23 09:25")
    seen = {}
    for priority in ("P3", "P1", "P2", "P4"):
        v = by_metric(clocks.view(state, cal, GOLD[priority], WARN, now))["first_response"]
        seen[priority] = (v.due, v.used_minutes)
    assert [used for _, used in seen.values()] == pytest.approx([15, 15, 15, 15])
    assert seen["P1"][0] == at(cal, "2026-11-23 09:40")  # 30 min + the 10 paused
    assert seen["P2"][0] == at(cal, "2026-11-23 10:10")
    assert seen["P3"][0] == at(cal, "2026-11-23 13:10")
    assert seen["P4"][0] == at(cal, "2026-11-24 09:10")


def test_met_metric_stops_and_next_response_runs_from_the_customer_message() -> None:
    cal = HELSINKI
    state = clocks.new_state(at(cal, "2026-11-23 09:00"))
    clocks.record(state, "first_response", met=True)
    state["next_response_start"] = at(cal, "2026-11-23 15:00").isoformat()
    views = by_metric(clocks.view(state, cal, GOLD["P3"], WARN, at(cal, "2026-11-23 15:00")))
    assert views["first_response"].due is None and views["first_response"].result == "met"
    # next_response falls back to the first-response target: 240 min from 15:00 is Tuesday 11:00
    assert views["next_response"].due == at(cal, "2026-11-24 11:00")
    assert views["next_response"].warn_at == at(cal, "2026-11-24 10:00")
    clocks.record(state, "next_response", met=False)
    assert clocks.clock_start(state, "next_response") is None
    assert clocks.counts(state)["next_response"] == {"met": 0, "missed": 1}


# --- notices ------------------------------------------------------------------------------------


def gold_views(now: datetime, priority: str = "P3", state: dict | None = None) -> list[clocks.ClockView]:
    state = state or clocks.new_state(at(HELSINKI, "2026-11-23 09:00"))
    return clocks.view(state, HELSINKI, GOLD[priority], WARN, now)


def key(metric: str, kind: str, wall: str) -> clocks.NoticeKey:
    return clocks.notice_key(metric, kind, at(HELSINKI, wall))


@pytest.mark.parametrize(("now", "sent", "due_now", "next_at"), [
    ("2026-11-23 11:59", set(), [], "2026-11-23 12:00"),
    ("2026-11-23 12:00", set(), [("first_response", "warning")], "2026-11-23 12:00"),
    ("2026-11-23 12:30", {key("first_response", "warning", "2026-11-23 13:00")}, [], "2026-11-23 13:00"),
    ("2026-11-23 13:00", {key("first_response", "warning", "2026-11-23 13:00")},
     [("first_response", "breach")], "2026-11-23 13:00"),
    # a late sweep sends the breach alone, and the warning is then no longer pending
    ("2026-11-23 14:00", set(), [("first_response", "breach")], "2026-11-23 12:00"),
    ("2026-11-23 14:00", {key("first_response", "breach", "2026-11-23 13:00")}, [], "2026-11-26 15:00"),
    # a notice for another due_at (the deadline moved) does not count for this one
    ("2026-11-23 12:10", {key("first_response", "warning", "2026-11-23 13:30")},
     [("first_response", "warning")], "2026-11-23 12:00"),
])
def test_notices(now: str, sent: set, due_now: list, next_at: str) -> None:
    views = gold_views(at(HELSINKI, now))
    assert [(n.metric, n.kind) for n in clocks.due_notices(views, sent, at(HELSINKI, now))] == due_now
    assert clocks.next_notice_at(views, sent) == at(HELSINKI, next_at)


def test_resolution_warning_and_breach_are_pending_too() -> None:
    views = gold_views(at(HELSINKI, "2026-11-23 09:00"))
    pending = [(n.metric, n.kind, n.at) for n in clocks.pending_notices(views, set())]
    assert pending == [
        ("first_response", "warning", at(HELSINKI, "2026-11-23 12:00")),
        ("first_response", "breach", at(HELSINKI, "2026-11-23 13:00")),
        ("resolution", "warning", at(HELSINKI, "2026-11-26 15:00")),  # 1800 business minutes
        ("resolution", "breach", at(HELSINKI, "2026-11-30 10:00")),
    ]


def test_paused_ticket_has_no_pending_notices() -> None:
    state = clocks.new_state(at(HELSINKI, "2026-11-23 09:00"))
    clocks.pause(state, at(HELSINKI, "2026-11-23 10:00"))
    views = gold_views(at(HELSINKI, "2026-11-23 15:00"), state=state)
    assert clocks.pending_notices(views, set()) == []
    assert clocks.next_notice_at(views, set()) is None


def test_notice_key_is_utc_whatever_the_zone_it_came_in() -> None:
    local = at(HELSINKI, "2026-11-23 13:00")
    assert clocks.notice_key("first_response", "breach", local.astimezone(HELSINKI.zone)) == \
        ("first_response", "breach", z("2026-11-23 11:00"))
