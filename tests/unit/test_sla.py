"""Business-time SLA arithmetic (bot/sla.py), against the README's SLA semantics.

The table tests re-express, in our calendar format, the documented behaviour of
other helpdesks' SLA clocks and of the business_time gem; each group cites where
the case comes from. Where our contract deliberately differs, the case says so.
"""

from __future__ import annotations

import ast
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sla import (
    WEEKDAYS,
    Calendar,
    CalendarError,
    add_business_minutes,
    add_business_minutes_each,
    business_minutes_between,
    is_open,
    merge_intervals,
    next_opening,
)

# --- helpers ----------------------------------------------------------------------


def make_calendar(tz: str, hours: dict[str, list[str]], holidays: list[str] | None = None) -> Calendar:
    return Calendar.from_config({"timezone": tz, "hours": hours, "holidays": holidays or []})


def weekdays(
    *periods: str, days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
) -> dict[str, list[str]]:
    return {day: list(periods) for day in days}


def all_week(*periods: str) -> dict[str, list[str]]:
    return weekdays(*periods, days=WEEKDAYS)


def z(text: str) -> datetime:
    """An instant written in UTC ("2026-03-29 01:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def wall(cal: Calendar, text: str) -> datetime:
    """A wall-clock time in the calendar's zone, as the instant it names."""
    return cal.localize(datetime.fromisoformat(text))


def minutes_after(cal: Calendar, start: str, minutes: float, pauses=()) -> datetime:
    return add_business_minutes(cal, wall(cal, start), minutes, pauses)


# The calendars of the README's example config.
HELSINKI_OFFICE = Calendar.from_config(
    {
        "timezone": "Europe/Helsinki",
        "hours": {
            "mon": ["08:00-16:00"],
            "tue": ["08:00-16:00"],
            "wed": ["08:00-16:00"],
            "thu": ["08:00-16:00"],
            "fri": ["08:00-12:00", "13:00-16:00"],
        },
        "holidays": ["2026-12-24", "2026-12-25"],
    },
    "calendars.helsinki-office",
)
HELSINKI_ALWAYS = make_calendar("Europe/Helsinki", all_week("00:00-24:00"))
NEW_YORK_OFFICE = make_calendar("America/New_York", weekdays("09:00-17:00"))
NEW_YORK_ALWAYS = make_calendar("America/New_York", all_week("00:00-24:00"))


# --- business_time gem --------------------------------------------------------------
# Source: bokmann/business_time, README.md and test/test_business_hours.rb (default
# workday 9:00-17:00 Monday to Friday; times are wall-clock in one zone, here UTC).

BT_DEFAULT = make_calendar("UTC", weekdays("09:00-17:00"))
BT_WORK_HOURS = make_calendar("UTC", {"mon": ["09:00-17:00"], "fri": ["09:00-17:00"], "sat": ["10:00-15:00"]})
BT_SOME_24H_DAYS = make_calendar(
    "UTC", {"mon": ["00:00-24:00"], "fri": ["00:00-24:00"], "sat": ["11:00-15:00"]}
)


@pytest.mark.parametrize(
    ("cal", "start", "minutes", "expected"),
    [
        # 8 business hours move to the same time tomorrow
        (BT_DEFAULT, "2010-08-04 09:35", 8 * 60, "2010-08-05 09:35"),
        # a weekend is skipped: Friday 16:50 + 1 hour is Monday 9:50
        (BT_DEFAULT, "2010-04-09 16:50", 60, "2010-04-12 09:50"),
        # hours in the middle of the workday
        (BT_DEFAULT, "2010-04-12 09:50", 3 * 60, "2010-04-12 12:50"),
        # per-day work_hours: Fri 15:00 + 9 h = 2 h Fri + 5 h Sat + 2 h Mon
        (BT_WORK_HOURS, "2010-12-24 15:00", 9 * 60, "2010-12-27 11:00"),
        # ...starting before the beginning of the workday
        (BT_WORK_HOURS, "2010-12-24 08:00", 15 * 60, "2010-12-27 11:00"),
        # 24-hour days (the gem writes them 0:00-0:00, we write 00:00-24:00)
        (BT_SOME_24H_DAYS, "2010-12-24 15:00", 24 * 60, "2010-12-27 11:00"),
        (BT_SOME_24H_DAYS, "2010-12-25 08:00", 15 * 60, "2010-12-27 11:00"),
    ],
)
def test_business_time_gem_hours_after(cal: Calendar, start: str, minutes: int, expected: str) -> None:
    assert minutes_after(cal, start, minutes) == wall(cal, expected)


def test_business_time_gem_holiday() -> None:
    # README: July 5th 2010 is a holiday, so Friday 16:50 + 1 hour is Tuesday 9:50.
    cal = make_calendar("UTC", weekdays("09:00-17:00"), ["2010-07-05"])
    assert minutes_after(cal, "2010-07-02 16:50", 60) == wall(cal, "2010-07-06 09:50")


def test_business_time_gem_work_hours_within_same_day_ends_at_closing() -> None:
    # test_business_hours.rb "respect work_hours within same day": 8 hours from Friday
    # 8:00 on a 9-17 Friday is Friday 17:00, i.e. closing time itself.
    cal = make_calendar("UTC", {"fri": ["09:00-17:00"]})
    assert minutes_after(cal, "2010-12-24 08:00", 8 * 60) == wall(cal, "2010-12-24 17:00")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2010-04-26 04:30", "2010-04-26 09:00"),  # roll forward to 9 am in the early morning
        ("2010-04-26 18:00", "2010-04-27 09:00"),  # after hours: the next morning
        ("2010-04-25 12:06", "2010-04-26 09:00"),  # any time on a weekend is Monday morning
    ],
)
def test_business_time_gem_roll_forward(start: str, expected: str) -> None:
    assert next_opening(BT_DEFAULT, wall(BT_DEFAULT, start)) == wall(BT_DEFAULT, expected)


def test_business_time_gem_durations() -> None:
    # README: work_hours mon/fri 9-17, sat 10-15: Friday 15:00 until Monday 11:00 is 9 hours.
    assert (
        business_minutes_between(
            BT_WORK_HOURS, wall(BT_WORK_HOURS, "2010-12-24 15:00"), wall(BT_WORK_HOURS, "2010-12-27 11:00")
        )
        == 9 * 60
    )
    # README: Friday 10:40 until Saturday 10:40 is 6 h 20 min; Saturday rolls to Monday 9:00.
    assert (
        business_minutes_between(
            BT_DEFAULT, wall(BT_DEFAULT, "2012-02-03 10:40"), wall(BT_DEFAULT, "2012-02-04 10:40")
        )
        == 6 * 60 + 20
    )


# --- Zammad -------------------------------------------------------------------------
# Source: zammad/zammad spec/models/ticket/escalation_examples.rb and
# spec/lib/escalation/*_spec.rb; calendars default to Europe/Berlin
# (spec/factories/calendar.rb). Pending states and "closed" stop the clock: here pauses.


def test_zammad_standard_incoming_email() -> None:
    # Mon-Fri 08:00-18:00 Berlin; ticket at 2013-03-21 09:30 UTC; targets 60/120/180.
    cal = make_calendar("Europe/Berlin", weekdays("08:00-18:00"))
    start = z("2013-03-21 09:30")
    assert add_business_minutes(cal, start, 60) == z("2013-03-21 10:30")
    assert add_business_minutes(cal, start, 120) == z("2013-03-21 11:30")
    assert add_business_minutes(cal, start, 180) == z("2013-03-21 12:30")
    # "first response over time": answered at 14:00 UTC = 270 business minutes.
    assert business_minutes_between(cal, start, z("2013-03-21 14:00")) == 270


ZAMMAD_9_18_ALL_WEEK = make_calendar("Europe/Berlin", all_week("09:00-18:00"))


def test_zammad_ticket_reopened_pauses_add_up() -> None:
    # Created 09:00 UTC, pending 09:30-09:45, closed 10:00-10:30, first response 120
    # -> 120 + 15 + 30 minutes later = 11:45 UTC.
    pauses = [(z("2013-06-04 09:30"), z("2013-06-04 09:45")), (z("2013-06-04 10:00"), z("2013-06-04 10:30"))]
    assert add_business_minutes(ZAMMAD_9_18_ALL_WEEK, z("2013-06-04 09:00"), 120, pauses) == z(
        "2013-06-04 11:45"
    )


def test_zammad_pending_to_open_lands_on_closing() -> None:
    # Created 09:00 UTC, pending 10:00-15:00 UTC, first response 120: 60 minutes before
    # the pause and 60 after it end exactly at closing (18:00 Berlin = 16:00 UTC).
    # Zammad reports the next opening (2013-06-05 07:00 UTC); the README's SLA semantics say
    # a deadline landing exactly at closing stays at closing.
    pauses = [(z("2013-06-04 10:00"), z("2013-06-04 15:00"))]
    deadline = add_business_minutes(ZAMMAD_9_18_ALL_WEEK, z("2013-06-04 09:00"), 120, pauses)
    assert deadline == z("2013-06-04 16:00")
    assert not is_open(ZAMMAD_9_18_ALL_WEEK, deadline)
    assert next_opening(ZAMMAD_9_18_ALL_WEEK, deadline) == z("2013-06-05 07:00")


def test_zammad_calendar_with_holidays() -> None:
    # Mon-Fri 08:00-20:00 Berlin (winter: 07:00-19:00 UTC), 2016-11-01 a holiday.
    cal = make_calendar("Europe/Berlin", weekdays("08:00-20:00"), ["2016-11-01"])
    created = z("2016-11-01 13:56:21")
    assert add_business_minutes(cal, created, 120) == z("2016-11-02 09:00")
    assert add_business_minutes(cal, created, 1200) == z("2016-11-03 15:00")
    # Customer reply on Monday 13:26 UTC, update time 1200: Wednesday 09:26 UTC
    # (Zammad truncates to the minute, so we start on a whole minute).
    assert add_business_minutes(cal, z("2016-11-07 13:26"), 1200) == z("2016-11-09 09:26")


def test_zammad_period_working_minutes_on_24_7() -> None:
    # 24/7 calendar; new 1 h, open 30 min, then pending close and closed for good:
    # the open-ended pause is given with a far end.
    cal = make_calendar("Europe/Berlin", all_week("00:00-24:00"))
    t0 = z("2026-05-06 08:00")
    stopped = [(t0 + timedelta(minutes=90), z("2100-01-01 00:00"))]
    assert business_minutes_between(cal, t0, t0 + timedelta(hours=4), stopped) == 90
    assert business_minutes_between(cal, t0 + timedelta(minutes=30), t0 + timedelta(hours=2), stopped) == 60
    assert business_minutes_between(cal, t0, t0 + timedelta(minutes=30), stopped) == 30
    # destination_time_spec "whole span fits": 30 minutes from creation.
    assert add_business_minutes(cal, t0, 30, stopped) == t0 + timedelta(minutes=30)
    # 15 minutes are left when the clock stops for good: the deadline waits for the far end.
    assert add_business_minutes(cal, t0 + timedelta(minutes=75), 30, stopped) == z("2100-01-01 00:15")


# --- Frappe Helpdesk ------------------------------------------------------------------
# Source: frappe/helpdesk helpdesk/helpdesk/doctype/hd_ticket/test_hd_ticket.py and
# hd_service_level_agreement.py (calc_time): working hours 10:00-18:00 Monday to
# Friday; High 1 h / 4 h, Urgent 30 min / 2 h, Low 24 h / 72 h; hold time extends
# the resolution. The week of Monday 2026-03-02 in Asia/Kolkata stands in for
# "the current week".

FRAPPE = make_calendar("Asia/Kolkata", weekdays("10:00-18:00"))
FRAPPE_THU_FRI_HOLIDAYS = make_calendar("Asia/Kolkata", weekdays("10:00-18:00"), ["2026-03-05", "2026-03-06"])


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2026-03-02 12:00", 60, "2026-03-02 13:00"),  # working day, High response
        ("2026-03-02 12:00", 240, "2026-03-02 16:00"),  # ...and resolution
        ("2026-03-02 08:00", 60, "2026-03-02 11:00"),  # before working hours
        ("2026-03-02 08:00", 240, "2026-03-02 14:00"),
        ("2026-03-02 20:00", 30, "2026-03-03 10:30"),  # after working hours, Urgent
        ("2026-03-02 20:00", 120, "2026-03-03 12:00"),
        ("2026-03-07 15:00", 24 * 60, "2026-03-11 18:00"),  # Saturday, Low: Wednesday at closing
        ("2026-03-07 15:00", 72 * 60, "2026-03-19 18:00"),  # 12 days later at closing
        ("2026-03-06 17:00", 30, "2026-03-06 17:30"),  # Friday in hours, Urgent
        ("2026-03-06 17:00", 120, "2026-03-09 11:00"),  # 1 h Friday + 1 h Monday
        ("2026-03-06 19:00", 60, "2026-03-09 11:00"),  # Friday after hours, High
        ("2026-03-06 19:00", 240, "2026-03-09 14:00"),
    ],
)
def test_frappe_response_and_resolution_by(start: str, minutes: int, expected: str) -> None:
    assert minutes_after(FRAPPE, start, minutes) == wall(FRAPPE, expected)


def test_frappe_holidays() -> None:
    # Thursday and Friday are holidays, ticket on Thursday 15:00, Urgent.
    cal = FRAPPE_THU_FRI_HOLIDAYS
    assert minutes_after(cal, "2026-03-05 15:00", 30) == wall(cal, "2026-03-09 10:30")
    assert minutes_after(cal, "2026-03-05 15:00", 120) == wall(cal, "2026-03-09 12:00")


def test_frappe_hold_time() -> None:
    # Thursday 15:00 Urgent: resolution at 17:00; one hour on hold -> 18:00 (closing);
    # one hour and one second -> the next morning at 10:00:01.
    start = "2026-03-05 15:00"
    hour_hold = [(wall(FRAPPE, "2026-03-05 15:10"), wall(FRAPPE, "2026-03-05 16:10"))]
    assert minutes_after(FRAPPE, start, 120) == wall(FRAPPE, "2026-03-05 17:00")
    assert minutes_after(FRAPPE, start, 120, hour_hold) == wall(FRAPPE, "2026-03-05 18:00")
    longer = [(hour_hold[0][0], hour_hold[0][1] + timedelta(seconds=1))]
    assert minutes_after(FRAPPE, start, 120, longer) == wall(FRAPPE, "2026-03-06 10:00:01")


def test_frappe_hold_time_resolution_time() -> None:
    # Monday 12:00 High; on hold 12:30-13:00 -> resolution by 16:30; resolved at 13:30
    # after 60 minutes of running clock.
    hold = [(wall(FRAPPE, "2026-03-02 12:30"), wall(FRAPPE, "2026-03-02 13:00"))]
    assert minutes_after(FRAPPE, "2026-03-02 12:00", 240, hold) == wall(FRAPPE, "2026-03-02 16:30")
    assert (
        business_minutes_between(
            FRAPPE, wall(FRAPPE, "2026-03-02 12:00"), wall(FRAPPE, "2026-03-02 13:30"), hold
        )
        == 60
    )


# --- Chatwoot -------------------------------------------------------------------------
# Source: chatwoot/chatwoot spec/models/working_hour_spec.rb and app/models/working_hour.rb
# (factory: 9:00-17:00; closed_all_day = a day without periods; open_all_day = 00:00-24:00).

CHATWOOT = make_calendar("UTC", weekdays("09:00-17:00"))


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2020-10-26 10:00", True),  # Monday 10 am is working hours
        ("2020-11-01 13:00", False),  # Sunday (closed all day) is out of office
        ("2021-09-10 12:30", True),  # Friday 12:30 is in business hours
        ("2021-09-10 17:30", False),  # Friday 17:30 is out of office
        # Chatwoot's between? counts 17:00 itself as open; our periods are half-open,
        # so closing time is closed and opening time is open.
        ("2021-09-10 17:00", False),
        ("2021-09-10 09:00", True),
    ],
)
def test_chatwoot_open_now(moment: str, open_: bool) -> None:
    assert is_open(CHATWOOT, z(moment)) is open_


def test_chatwoot_open_all_day_has_no_missing_minute() -> None:
    # Chatwoot stores open_all_day as 00:00-23:59; "24:00" leaves no gap at midnight.
    cal = make_calendar("UTC", {"mon": ["00:00-24:00"], "tue": ["00:00-24:00"]})
    assert is_open(cal, z("2026-03-02 23:59:30"))
    assert business_minutes_between(cal, z("2026-03-02 00:00"), z("2026-03-04 00:00")) == 2 * 1440


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("25:00-26:00", "hour 25 is out of range"),  # open_hour inclusion 0..23
        ("12:60-13:00", "minute 60 is out of range"),  # open_minutes inclusion 0..59
        ("13:00-12:00", "end 12:00 is not after start 13:00"),  # close_after_open
        ("12:00-12:00", "end 12:00 is not after start 12:00"),
    ],
)
def test_chatwoot_validation(period: str, message: str) -> None:
    with pytest.raises(CalendarError) as err:
        make_calendar("UTC", {"mon": [period]})
    assert err.value.path == "hours.mon[0]"
    assert message in err.value.message


# --- SLA semantics: DST weeks ---------------------------------------------------
# Europe/Helsinki: 2026-03-29 03:00 -> 04:00 (01:00 UTC), 2026-10-25 04:00 -> 03:00 (01:00 UTC).
# America/New_York: 2026-03-08 02:00 -> 03:00 (07:00 UTC), 2026-11-01 02:00 -> 01:00 (06:00 UTC).


@pytest.mark.parametrize(
    ("cal", "day", "hours"),
    [
        (HELSINKI_ALWAYS, "2026-03-29", 23),
        (HELSINKI_ALWAYS, "2026-10-25", 25),
        (HELSINKI_ALWAYS, "2026-03-28", 24),
        (NEW_YORK_ALWAYS, "2026-03-08", 23),
        (NEW_YORK_ALWAYS, "2026-11-01", 25),
        (NEW_YORK_ALWAYS, "2026-11-02", 24),
    ],
)
def test_dst_day_on_24h_calendar_has_real_hours(cal: Calendar, day: str, hours: int) -> None:
    start = wall(cal, f"{day} 00:00")
    end = wall(cal, (date.fromisoformat(day) + timedelta(days=1)).isoformat() + " 00:00")
    assert business_minutes_between(cal, start, end) == hours * 60


@pytest.mark.parametrize(
    ("cal", "start", "expected_utc"),
    [
        # 24 real hours across the change: the wall clock moves 23 or 25 hours
        (HELSINKI_ALWAYS, "2026-03-28 12:00", "2026-03-29 10:00"),  # = 13:00 EEST
        (HELSINKI_ALWAYS, "2026-10-24 12:00", "2026-10-25 09:00"),  # = 11:00 EET
        (NEW_YORK_ALWAYS, "2026-03-07 12:00", "2026-03-08 17:00"),  # = 13:00 EDT
        (NEW_YORK_ALWAYS, "2026-10-31 12:00", "2026-11-01 16:00"),  # = 11:00 EST
    ],
)
def test_dst_24h_calendar_day_target(cal: Calendar, start: str, expected_utc: str) -> None:
    assert minutes_after(cal, start, 24 * 60) == z(expected_utc)


@pytest.mark.parametrize(
    ("cal", "start", "expected"),
    [
        # office hours are wall-clock: Friday 15:00 + 2 h is Monday 09:00 local either side
        (HELSINKI_OFFICE, "2026-03-27 15:00", "2026-03-30 09:00"),
        (HELSINKI_OFFICE, "2026-10-23 15:00", "2026-10-26 09:00"),
        (NEW_YORK_OFFICE, "2026-03-06 16:00", "2026-03-09 10:00"),
        (NEW_YORK_OFFICE, "2026-10-30 16:00", "2026-11-02 10:00"),
    ],
)
def test_dst_office_hours_are_wall_clock(cal: Calendar, start: str, expected: str) -> None:
    assert minutes_after(cal, start, 120) == wall(cal, expected)


def test_dst_office_hours_utc_offsets() -> None:
    assert minutes_after(HELSINKI_OFFICE, "2026-03-27 15:00", 120) == z("2026-03-30 06:00")
    assert minutes_after(NEW_YORK_OFFICE, "2026-10-30 16:00", 120) == z("2026-11-02 15:00")


def test_dst_periods_on_the_change_day() -> None:
    # Helsinki: 02:00-05:00 on the spring day lasts 2 real hours, 03:30-05:00 on the
    # autumn day starts at the first 03:30 and lasts 2.5 hours.
    spring = make_calendar("Europe/Helsinki", {"sun": ["02:00-05:00"]})
    assert business_minutes_between(spring, z("2026-03-28 12:00"), z("2026-03-30 00:00")) == 120
    autumn = make_calendar("Europe/Helsinki", {"sun": ["03:30-05:00"]})
    assert next_opening(autumn, z("2026-10-24 12:00")) == z("2026-10-25 00:30")
    assert business_minutes_between(autumn, z("2026-10-24 12:00"), z("2026-10-26 00:00")) == 150
    # New York: 01:00-03:00 is 1 hour in spring and 3 hours in autumn.
    ny = make_calendar("America/New_York", {"sun": ["01:00-03:00"]})
    assert business_minutes_between(ny, z("2026-03-07 12:00"), z("2026-03-09 00:00")) == 60
    assert business_minutes_between(ny, z("2026-10-31 12:00"), z("2026-11-02 00:00")) == 180
    assert next_opening(ny, z("2026-10-31 12:00")) == z("2026-11-01 05:00")  # first 01:00 (EDT)


def test_dst_gap_opening_starts_after_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the period opens at 03:00 EDT.
    ny = make_calendar("America/New_York", {"sun": ["02:30-04:00"]})
    assert next_opening(ny, z("2026-03-08 00:00")) == z("2026-03-08 07:00")
    assert business_minutes_between(ny, z("2026-03-08 00:00"), z("2026-03-09 00:00")) == 60
    # Helsinki 03:30 does not exist on 2026-03-29: 04:00 EEST = 01:00 UTC.
    hel = make_calendar("Europe/Helsinki", {"sun": ["03:30-06:00"]})
    assert next_opening(hel, z("2026-03-28 23:00")) == z("2026-03-29 01:00")


def test_dst_period_inside_the_gap_is_empty() -> None:
    ny = make_calendar("America/New_York", {"sun": ["02:10-02:50", "12:00-13:00"]})
    assert not is_open(ny, z("2026-03-08 07:00"))
    assert next_opening(ny, z("2026-03-08 06:00")) == z("2026-03-08 16:00")
    # a week later 02:10 exists again
    assert next_opening(ny, z("2026-03-14 12:00")) == z("2026-03-15 06:10")


def test_localize_gap_and_fold() -> None:
    assert wall(HELSINKI_ALWAYS, "2026-03-29 03:30") == z("2026-03-29 01:00")
    assert wall(HELSINKI_ALWAYS, "2026-10-25 03:30") == z("2026-10-25 00:30")  # first occurrence
    assert wall(NEW_YORK_ALWAYS, "2026-03-08 02:30") == z("2026-03-08 07:00")
    assert wall(NEW_YORK_ALWAYS, "2026-11-01 01:30") == z("2026-11-01 05:30")
    with pytest.raises(ValueError):
        HELSINKI_ALWAYS.localize(z("2026-01-01 00:00"))


def test_server_time_zone_never_matters(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = minutes_after(HELSINKI_OFFICE, "2026-03-27 15:00", 600)
    assert expected == wall(HELSINKI_OFFICE, "2026-03-31 09:00")
    try:
        for tz in ("Pacific/Kiritimati", "America/Adak", "Asia/Kathmandu"):
            monkeypatch.setenv("TZ", tz)
            time.tzset()
            assert minutes_after(HELSINKI_OFFICE, "2026-03-27 15:00", 600) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


# --- SLA semantics: several periods, holidays, edges ----------------------------


def test_several_periods_a_day() -> None:
    cal = HELSINKI_OFFICE  # Friday 08-12 and 13-16
    assert minutes_after(cal, "2026-12-04 11:30", 60) == wall(cal, "2026-12-04 13:30")
    assert minutes_after(cal, "2026-12-04 11:00", 60) == wall(cal, "2026-12-04 12:00")  # stays at 12:00
    assert minutes_after(cal, "2026-12-04 12:00", 0) == wall(cal, "2026-12-04 13:00")
    assert minutes_after(cal, "2026-12-04 12:30", 1) == wall(cal, "2026-12-04 13:01")
    assert minutes_after(cal, "2026-12-04 08:00", 7 * 60) == wall(cal, "2026-12-04 16:00")
    assert minutes_after(cal, "2026-12-04 08:00", 7 * 60 + 1) == wall(cal, "2026-12-07 08:01")
    assert not is_open(cal, wall(cal, "2026-12-04 12:00"))
    assert not is_open(cal, wall(cal, "2026-12-04 12:59"))
    assert is_open(cal, wall(cal, "2026-12-04 13:00"))
    assert business_minutes_between(cal, wall(cal, "2026-12-04 00:00"), wall(cal, "2026-12-05 00:00")) == 420


def test_adjacent_periods_behave_as_one() -> None:
    cal = make_calendar("UTC", {"mon": ["08:00-12:00", "12:00-16:00"]})
    assert minutes_after(cal, "2026-03-02 11:00", 120) == z("2026-03-02 13:00")
    assert minutes_after(cal, "2026-03-02 12:00", 0) == z("2026-03-02 12:00")


def test_holidays() -> None:
    cal = HELSINKI_OFFICE  # 2026-12-24 and 25 (Thursday, Friday) are holidays
    assert minutes_after(cal, "2026-12-23 15:00", 120) == wall(cal, "2026-12-28 09:00")
    assert next_opening(cal, wall(cal, "2026-12-24 10:00")) == wall(cal, "2026-12-28 08:00")
    assert not is_open(cal, wall(cal, "2026-12-24 10:00"))
    # P4 resolution of the example config (4800 minutes) across Christmas: 39 h a week.
    assert minutes_after(cal, "2026-12-23 16:00", 4800) == wall(cal, "2027-01-11 10:00")


def test_holidays_are_dates_in_the_calendar_zone() -> None:
    cal = make_calendar("Europe/Helsinki", all_week("00:00-24:00"), ["2026-12-24"])
    assert is_open(cal, z("2026-12-23 21:59"))  # 23:59 on the 23rd in Helsinki
    assert not is_open(cal, z("2026-12-23 22:00"))  # already the 24th in Helsinki
    assert is_open(cal, z("2026-12-24 22:00"))  # the 25th in Helsinki, still the 24th in UTC
    assert next_opening(cal, z("2026-12-24 12:00")) == z("2026-12-24 22:00")


def test_holiday_dates_from_yaml_are_accepted() -> None:
    cal = Calendar.from_config(
        {"timezone": "UTC", "hours": weekdays("09:00-17:00"), "holidays": [date(2026, 1, 1)]}
    )
    assert cal.holidays == frozenset({date(2026, 1, 1)})


def test_long_holiday_run_is_fast() -> None:
    year = [(date(2027, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]
    cal = make_calendar("Europe/Helsinki", weekdays("08:00-16:00"), year)
    began = time.perf_counter()
    assert minutes_after(cal, "2026-12-31 15:00", 120) == wall(cal, "2028-01-03 09:00")
    # ten full 39-hour weeks, walked period by period, never minute by minute
    assert minutes_after(HELSINKI_OFFICE, "2026-01-05 08:00", 10 * 39 * 60) == wall(cal, "2026-03-13 16:00")
    assert time.perf_counter() - began < 2.0


def test_calendar_closed_for_ever_raises_instead_of_looping() -> None:
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(12 * 366)]
    cal = make_calendar("UTC", weekdays("09:00-17:00"), days)
    with pytest.raises(CalendarError) as err:
        add_business_minutes(cal, z("2026-01-01 00:00"), 10)
    assert err.value.path == "holidays"


def test_start_outside_hours_counts_from_next_opening() -> None:
    cal = HELSINKI_OFFICE
    assert minutes_after(cal, "2026-12-05 11:00", 30) == wall(cal, "2026-12-07 08:30")  # Saturday
    assert minutes_after(cal, "2026-12-07 06:00", 30) == wall(cal, "2026-12-07 08:30")  # early
    assert minutes_after(cal, "2026-12-07 16:00", 30) == wall(cal, "2026-12-08 08:30")  # at closing


def test_closing_time_edge() -> None:
    cal = HELSINKI_OFFICE
    assert minutes_after(cal, "2026-12-07 15:00", 60) == wall(cal, "2026-12-07 16:00")
    assert minutes_after(cal, "2026-12-07 15:00", 60.5) == wall(cal, "2026-12-08 08:00:30")
    assert minutes_after(cal, "2026-12-07 08:00", 8 * 60) == wall(cal, "2026-12-07 16:00")


def test_zero_minute_target() -> None:
    cal = HELSINKI_OFFICE
    assert minutes_after(cal, "2026-12-07 10:15", 0) == wall(cal, "2026-12-07 10:15")  # inside hours
    assert minutes_after(cal, "2026-12-07 08:00", 0) == wall(cal, "2026-12-07 08:00")  # at opening
    assert minutes_after(cal, "2026-12-07 16:00", 0) == wall(cal, "2026-12-08 08:00")  # at closing
    assert minutes_after(cal, "2026-12-05 10:00", 0) == wall(cal, "2026-12-07 08:00")  # weekend


def test_results_are_aware_utc() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=HELSINKI_OFFICE.zone)
    deadline = add_business_minutes(HELSINKI_OFFICE, start, 30)
    assert deadline.tzinfo is UTC
    assert deadline == z("2026-12-07 08:30")
    assert next_opening(HELSINKI_OFFICE, start).tzinfo is UTC


def test_fractional_minutes() -> None:
    assert minutes_after(BT_DEFAULT, "2026-03-02 09:00", 0.5) == z("2026-03-02 09:00:30")
    assert business_minutes_between(BT_DEFAULT, z("2026-03-02 09:00"), z("2026-03-02 09:00:30")) == 0.5


# --- pauses ---------------------------------------------------------------------------


def test_pause_moves_deadline_by_paused_business_time() -> None:
    cal = HELSINKI_OFFICE
    pause = [(wall(cal, "2026-12-07 09:00"), wall(cal, "2026-12-07 10:00"))]
    assert minutes_after(cal, "2026-12-07 08:00", 120, pause) == wall(cal, "2026-12-07 11:00")


def test_overlapping_pauses_count_once() -> None:
    cal = HELSINKI_OFFICE
    pauses = [
        (wall(cal, "2026-12-07 09:00"), wall(cal, "2026-12-07 10:00")),
        (wall(cal, "2026-12-07 09:30"), wall(cal, "2026-12-07 10:30")),
        (wall(cal, "2026-12-07 09:45"), wall(cal, "2026-12-07 10:00")),  # inside another
    ]
    assert minutes_after(cal, "2026-12-07 08:00", 120, pauses) == wall(cal, "2026-12-07 11:30")
    assert (
        business_minutes_between(cal, wall(cal, "2026-12-07 08:00"), wall(cal, "2026-12-07 12:00"), pauses)
        == 240 - 90
    )


def test_pause_outside_business_hours_changes_nothing() -> None:
    cal = HELSINKI_OFFICE
    pauses = [
        (wall(cal, "2026-12-07 16:00"), wall(cal, "2026-12-08 08:00")),  # overnight
        (wall(cal, "2026-12-11 12:00"), wall(cal, "2026-12-11 13:00")),  # Friday lunch
        (wall(cal, "2026-12-12 09:00"), wall(cal, "2026-12-13 18:00")),  # weekend
    ]
    for minutes in (30, 600, 2400):
        assert minutes_after(cal, "2026-12-07 15:00", minutes, pauses) == minutes_after(
            cal, "2026-12-07 15:00", minutes
        )


def test_pause_before_start_counts_nothing() -> None:
    cal = HELSINKI_OFFICE
    before = [(wall(cal, "2026-12-07 08:00"), wall(cal, "2026-12-07 09:00"))]
    assert minutes_after(cal, "2026-12-07 10:00", 60, before) == wall(cal, "2026-12-07 11:00")
    # a pause that straddles the start counts only from the start
    straddle = [(wall(cal, "2026-12-07 09:00"), wall(cal, "2026-12-07 10:30"))]
    assert minutes_after(cal, "2026-12-07 10:00", 60, straddle) == wall(cal, "2026-12-07 11:30")


def test_pause_spanning_a_holiday_weekend() -> None:
    # Frappe's hold-time-with-holiday story: Friday 2026-03-06 a holiday, paused from
    # Thursday 17:50 to Monday 12:30 = 10 + 150 paused business minutes.
    cal = make_calendar("Asia/Kolkata", weekdays("10:00-18:00"), ["2026-03-06"])
    pause = [(wall(cal, "2026-03-05 17:50"), wall(cal, "2026-03-09 12:30"))]
    assert minutes_after(cal, "2026-03-05 17:30", 240, pause) == wall(cal, "2026-03-09 16:10")
    assert (
        business_minutes_between(cal, wall(cal, "2026-03-05 17:30"), wall(cal, "2026-03-09 13:00"), pause)
        == 20 + 30
    )


def test_start_inside_a_pause_waits_for_it_to_end() -> None:
    cal = HELSINKI_OFFICE
    pause = [(wall(cal, "2026-12-07 09:00"), wall(cal, "2026-12-07 10:00"))]
    assert minutes_after(cal, "2026-12-07 09:30", 0, pause) == wall(cal, "2026-12-07 10:00")


def test_merge_intervals() -> None:
    a, b, c, d = (z(f"2026-01-01 0{h}:00") for h in (1, 2, 3, 4))
    assert merge_intervals([(c, d), (a, b), (b, c)]) == [(a, d)]
    assert merge_intervals([(a, c), (b, b), (b, c)]) == [(a, c)]
    assert merge_intervals([(a, b), (c, d)]) == [(a, b), (c, d)]
    assert merge_intervals([(a, a)]) == []
    helsinki = datetime(2026, 1, 1, 5, 0, tzinfo=HELSINKI_OFFICE.zone)  # 03:00 UTC
    assert merge_intervals([(helsinki, d)]) == [(c, d)]
    with pytest.raises(ValueError, match="before it starts"):
        merge_intervals([(b, a)])
    with pytest.raises(ValueError, match="timezone-aware"):
        merge_intervals([(a.replace(tzinfo=None), b)])


# --- input errors ---------------------------------------------------------------------


def test_negative_minutes_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_business_minutes(HELSINKI_OFFICE, z("2026-12-07 08:00"), -1)
    with pytest.raises(ValueError):
        add_business_minutes(HELSINKI_OFFICE, z("2026-12-07 08:00"), float("nan"))


def test_naive_datetimes_rejected() -> None:
    naive = datetime(2026, 12, 7, 8, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(HELSINKI_OFFICE, naive, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_minutes_between(HELSINKI_OFFICE, z("2026-12-07 08:00"), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(HELSINKI_OFFICE, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(HELSINKI_OFFICE, naive)


def test_between_is_zero_when_end_not_after_start() -> None:
    t = z("2026-12-07 08:00")
    assert business_minutes_between(HELSINKI_OFFICE, t, t) == 0
    assert business_minutes_between(HELSINKI_OFFICE, t, t - timedelta(hours=5)) == 0


GOOD = {"timezone": "Europe/Helsinki", "hours": {"mon": ["08:00-16:00"]}, "holidays": ["2026-12-24"]}


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        (
            {"hours": {"fri": ["08:00-12:00", "13:00-12:00"]}},
            "hours.fri[1]",
            "end 12:00 is not after start 13:00",
        ),
        ({"hours": {"fri": ["08:00-12:00", "11:00-14:00"]}}, "hours.fri[1]", "overlaps 08:00-12:00"),
        ({"hours": {"fri": ["11:00-14:00", "08:00-12:00"]}}, "hours.fri[0]", "overlaps 08:00-12:00"),
        ({"hours": {"fri": ["25:00-26:00"]}}, "hours.fri[0]", "hour 25"),
        ({"hours": {"fri": ["08:00-24:30"]}}, "hours.fri[0]", "hour 24"),
        ({"hours": {"fri": ["24:00-24:00"]}}, "hours.fri[0]", "only as an end"),
        ({"hours": {"fri": ["12:60-13:00"]}}, "hours.fri[0]", "minute 60"),
        ({"hours": {"fri": ["8-16"]}}, "hours.fri[0]", "not a period"),
        ({"hours": {"fri": [800]}}, "hours.fri[0]", "must be a string"),
        ({"hours": {"fri": "08:00-16:00"}}, "hours.fri", "must be a list"),
        ({"hours": {"fry": ["08:00-16:00"]}}, "hours.fry", "unknown weekday"),
        ({"hours": ["08:00-16:00"]}, "hours", "must be a mapping"),
        ({"hours": {}}, "hours", "no business hours in any day"),
        ({"hours": {"sat": [], "sun": None}}, "hours", "no business hours in any day"),
        ({"hours": None}, "hours", "no business hours in any day"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown time zone"),
        ({"timezone": None}, "timezone", "required"),
        ({"timezone": 3}, "timezone", "IANA"),
        ({"holidays": ["2026-02-30"]}, "holidays[0]", "not a valid date"),
        ({"holidays": ["2026-12-24", "24.12.2026"]}, "holidays[1]", "not a date like"),
        ({"holidays": [datetime(2026, 12, 24, 10, 0)]}, "holidays[0]", "without a time"),
        ({"holidays": "2026-12-24"}, "holidays", "must be a list"),
        ({"hourz": {"mon": ["08:00-16:00"]}}, "hourz", "unknown key"),
    ],
)
def test_validation_errors_name_the_path(changes: dict, path: str, message: str) -> None:
    data = {**GOOD, **changes}
    prefix = "calendars.helsinki-office"
    with pytest.raises(CalendarError) as err:
        Calendar.from_config(data, prefix)
    assert err.value.path == f"{prefix}.{path}"
    assert message in err.value.message
    assert str(err.value) == f"{prefix}.{path}: {err.value.message}"
    assert isinstance(err.value, ValueError)


def test_validation_without_prefix_and_of_non_mapping() -> None:
    with pytest.raises(CalendarError) as err:
        Calendar.from_config({**GOOD, "hours": {"fri": ["08:00-12:00", "13:00-12:00"]}})
    assert str(err.value) == "hours.fri[1]: end 12:00 is not after start 13:00"
    with pytest.raises(CalendarError) as err:
        Calendar.from_config(["timezone"], "calendars.x")
    assert err.value.path == "calendars.x"


def test_from_config_normalises() -> None:
    cal = Calendar.from_config(
        {"timezone": "UTC", "hours": {"fri": ["13:00-16:00", " 08:00 - 12:00 "], "sat": ["00:00-24:00"]}}
    )
    assert cal.hours[4] == ((480, 720), (780, 960))
    assert cal.hours[5] == ((0, 1440),)
    assert cal.hours[0] == ()
    assert cal.holidays == frozenset()
    assert cal.zone.key == "UTC"


def test_core_imports_no_chat_sdk() -> None:
    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("bot", "sla.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"slack_bolt", "slack_sdk", "botbuilder", "aiohttp", "tortoise", "yaml"}
    stdlib = {"__future__", "math", "re", "collections", "dataclasses", "datetime", "functools", "itertools",
              "zoneinfo"}
    assert imported <= stdlib


# --- properties -----------------------------------------------------------------------

# Zones with DST at 02:00, 03:00/04:00, midnight (Santiago) and a 30-minute shift (Lord Howe).
ZONES = [
    "UTC",
    "Europe/Helsinki",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    hours: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.lists(st.integers(0, 96), max_size=6, unique=True)))
        hours[day] = [f"{_hhmm(cuts[i] * 15)}-{_hhmm(cuts[i + 1] * 15)}" for i in range(0, len(cuts) - 1, 2)]
    if not any(hours.values()):
        hours["wed"] = ["09:00-17:00"]
    holidays = draw(st.lists(st.dates(date(2025, 12, 1), date(2027, 3, 1)), max_size=8))
    return Calendar.from_config(
        {
            "timezone": draw(st.sampled_from(ZONES)),
            "hours": hours,
            "holidays": [d.isoformat() for d in holidays],
        }
    )


starts = st.datetimes(datetime(2025, 12, 1), datetime(2027, 1, 31), timezones=st.just(UTC))
targets = st.one_of(st.integers(0, 3000), st.floats(0, 3000, allow_nan=False, allow_infinity=False))


@st.composite
def pause_lists(draw: st.DrawFn, around: datetime) -> list[tuple[datetime, datetime]]:
    result = []
    for _ in range(draw(st.integers(0, 4))):
        begin = around + timedelta(minutes=draw(st.integers(-3000, 20000)))
        result.append((begin, begin + timedelta(minutes=draw(st.integers(0, 5000)))))
    return result


@settings(max_examples=150, deadline=None)
@given(cal=calendars(), start=starts, minutes=targets)
def test_property_between_inverts_add(cal: Calendar, start: datetime, minutes: float) -> None:
    deadline = add_business_minutes(cal, start, minutes)
    assert deadline >= start
    assert deadline.tzinfo is UTC
    assert abs(business_minutes_between(cal, start, deadline) - minutes) < 1e-6


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), start=starts, data=st.data())
def test_property_between_inverts_add_with_pauses(
    cal: Calendar, start: datetime, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    minutes = data.draw(targets)
    deadline = add_business_minutes(cal, start, minutes, pauses)
    assert abs(business_minutes_between(cal, start, deadline, pauses) - minutes) < 1e-6
    assert deadline >= add_business_minutes(cal, start, minutes)  # pauses never pull it earlier


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), start=starts, data=st.data())
def test_property_several_deadlines_in_one_walk_match_one_at_a_time(
    cal: Calendar, start: datetime, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    amounts = data.draw(st.lists(targets, min_size=1, max_size=5))
    together = add_business_minutes_each(cal, start, amounts, pauses)
    assert together == [add_business_minutes(cal, start, m, pauses) for m in amounts]
    for deadline, minutes in zip(together, amounts, strict=True):
        assert abs(business_minutes_between(cal, start, deadline, pauses) - minutes) < 1e-6


def test_several_deadlines_reject_bad_amounts_and_keep_their_order() -> None:
    start = wall(HELSINKI_OFFICE, "2026-11-23 09:00")
    due, warn = add_business_minutes_each(HELSINKI_OFFICE, start, [480, 240])
    assert (warn, due) == (wall(HELSINKI_OFFICE, "2026-11-23 13:00"), wall(HELSINKI_OFFICE, "2026-11-24 09:00"))
    with pytest.raises(ValueError):
        add_business_minutes_each(HELSINKI_OFFICE, start, [60, -1])
    with pytest.raises(TypeError):
        add_business_minutes_each(HELSINKI_OFFICE, start, [60, True])


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), start=starts, a=targets, b=targets)
def test_property_deadline_is_monotonic_in_minutes(
    cal: Calendar, start: datetime, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    assert add_business_minutes(cal, start, low) <= add_business_minutes(cal, start, high)


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), start=starts)
def test_property_next_opening_is_open(cal: Calendar, start: datetime) -> None:
    opening = next_opening(cal, start)
    assert is_open(cal, opening)
    assert opening >= start
    assert (opening == start) == is_open(cal, start)
    assert business_minutes_between(cal, start, opening) == 0
