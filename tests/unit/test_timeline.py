"""A Timeline answers exactly what business_minutes_between answers, from one walk of the days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import sla, timeline
from bot.sla import Calendar, business_minutes_between
from bot.timelabels import business_left_on, business_left_until
from bot.timeline import Timeline, timeline_for

CALENDARS = [
    # office hours with a lunch break, a holiday and both DST changes of 2026 in Helsinki
    Calendar.from_config({"timezone": "Europe/Helsinki",
                          "hours": {d: ["08:00-12:00", "13:00-16:30"] for d in ("mon", "tue", "wed", "thu", "fri")},
                          "holidays": ["2026-12-24", "2026-12-25", "2026-04-03"]}),
    # round the clock: the change days have 23 and 25 hours
    Calendar.from_config({"timezone": "America/New_York", "hours": {d: ["00:00-24:00"] for d in sla.WEEKDAYS}}),
    # an opening inside the spring-forward gap, and a weekend-only calendar
    Calendar.from_config({"timezone": "Europe/Berlin", "hours": {"sun": ["02:30-05:00"], "sat": ["10:00-24:00"]}}),
]
START = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=400 * 24 * 60 * 60 * 1_000_000).map(
    lambda us: START + timedelta(microseconds=us))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), st.lists(instants, min_size=2, max_size=6))
def test_every_answer_equals_business_minutes_between(cal: Calendar, moments: list[datetime]) -> None:
    line = Timeline(cal, min(moments), max(moments))
    for a in moments:
        for b in moments:
            assert line.minutes_between(a, b) == business_minutes_between(cal, a, b), (a, b)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CALENDARS), instants, instants)
def test_queue_labels_match_the_per_ticket_label(cal: Calendar, due: datetime, now: datetime) -> None:
    line = Timeline(cal, min(due, now), max(due, now))
    assert business_left_on(line, due, now) == business_left_until(cal, due, now)


def test_a_month_late_on_office_hours() -> None:
    cal = CALENDARS[0]
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 11:00 in Helsinki
    due = now - timedelta(days=28)  # four weeks of 7.5 business hours a weekday
    line = Timeline(cal, due, now)
    assert line.minutes_between(due, now) == 20 * 7.5 * 60
    assert business_left_on(line, due, now) == "150h 00m business time late"


def test_instants_outside_the_timeline_are_refused_not_guessed() -> None:
    cal = CALENDARS[1]
    line = Timeline(cal, START, START + timedelta(days=2))
    with pytest.raises(ValueError):
        line.minutes_between(START, START + timedelta(days=3))
    with pytest.raises(ValueError):
        line.minutes_between(START - timedelta(seconds=1), START)
    with pytest.raises(ValueError):
        Timeline(cal, START, START - timedelta(days=1))


def test_a_kept_timeline_serves_a_later_now_and_grows_for_an_earlier_deadline() -> None:
    cal = CALENDARS[0]
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    first = timeline_for(cal, now - timedelta(days=30), now)
    assert timeline_for(cal, now - timedelta(days=10), now + timedelta(minutes=5)) is first
    grown = timeline_for(cal, now - timedelta(days=90), now)
    assert grown is not first and grown.start == now - timedelta(days=90) and grown.end >= first.end
    due = now - timedelta(days=60)
    assert grown.minutes_between(due, now) == business_minutes_between(cal, due, now)


def test_a_changed_calendar_never_meets_the_old_timeline() -> None:
    now = datetime(2026, 12, 28, 9, 0, tzinfo=UTC)
    due = now - timedelta(days=7)  # the week of 21-25 December
    before = Calendar.from_config({"timezone": "Europe/Helsinki", "hours": {"mon": ["08:00-16:00"],
                                   "tue": ["08:00-16:00"], "wed": ["08:00-16:00"], "thu": ["08:00-16:00"],
                                   "fri": ["08:00-16:00"]}})
    after = Calendar.from_config({"timezone": "Europe/Helsinki", "hours": {d: ["08:00-16:00"] for d in
                                  ("mon", "tue", "wed", "thu", "fri")}, "holidays": ["2026-12-24", "2026-12-25"]})
    assert before == timeline_for(before, due, now).calendar
    assert timeline_for(before, due, now).minutes_between(due, now) == 5 * 8 * 60
    assert timeline_for(after, due, now).minutes_between(due, now) == 3 * 8 * 60


def test_only_the_most_recent_calendars_are_kept() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    calendars = [Calendar.from_config({"timezone": "Europe/Helsinki", "hours": {"mon": [f"00:00-{i // 60:02d}:{i % 60:02d}"]}})
                 for i in range(1, 3 * timeline.KEPT_CALENDARS)]
    for cal in calendars:
        timeline_for(cal, now - timedelta(days=3), now)
    assert list(timeline._kept) == calendars[-timeline.KEPT_CALENDARS:]
