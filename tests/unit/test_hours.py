"""Hour-bank arithmetic (bot/hours.py): logged durations, contract months in the calendar's zone, rollover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import hours
from bot.commands import ParseError, parse
from bot.config import ConfigError, parse_config
from tests.conftest import ORG_YAML


@pytest.mark.parametrize(("text", "minutes"), [
    ("45m", 45), ("1h30m", 90), ("1.5h", 90), ("1,5h", 90), ("2h", 120), ("90m", 90), ("0.25h", 15),
    ("-30m", -30), ("-1h", -60), ("24h", 1440), ("1H30M", 90),
])
def test_durations(text: str, minutes: int) -> None:
    assert hours.parse_logged(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "2", "1h30", "0m", "0h", "-0m", "25h", "1d", "h", "m", "1.5m",
                                  "--30m", "1h-30m", "30 m", "1e3m"])
def test_bad_durations_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(hours.DurationError) as exc:
        hours.parse_logged(text)
    assert "1h30m" in str(exc.value) or "24 hours" in str(exc.value)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_a_duration_error(text: str) -> None:
    try:
        minutes = hours.parse_logged(text)
    except hours.DurationError:
        return
    assert minutes != 0 and abs(minutes) <= hours.MAX_ENTRY_MINUTES


def test_duration_text() -> None:
    assert [hours.duration_text(m) for m in (45, 60, 90, 1200, 0, -30, -90)] == [
        "45m", "1h", "1h 30m", "20h", "0m", "-30m", "-1h 30m"]


def test_log_grammar() -> None:
    cmd = parse("log ACME-7 1h30m nonbillable travel to Oulu")
    assert (cmd.name, cmd.get("key"), cmd.get("duration"), cmd.get("billing"), cmd.get("text")) == (
        "log", "ACME-7", 90, "nonbillable", "travel to Oulu")
    cmd = parse("log acme-7 45m checked the firewall")
    assert (cmd.get("duration"), cmd.get("billing"), cmd.get("text")) == (45, None, "checked the firewall")
    assert parse("log ACME-7 -30m correction").get("duration") == -30
    listing = parse("log ACME-7")
    assert listing.get("duration") is None and listing.get("text") is None
    for bad in ("log ACME-7 soon", "log ACME-7 nonbillable 1h", "log ACME-7 1d"):
        with pytest.raises(ParseError, match=r"Example: `/helpdesk log ACME-7 1h30m"):
            parse(bad)


def test_hours_grammar() -> None:
    assert parse("hours").args == {}
    assert parse("hours ACME").args == {"customer": "ACME"}
    assert parse("hours ACME 2026-11").args == {"customer": "ACME", "month": "2026-11"}
    assert parse("hours 2026-11").args == {"month": "2026-11"}
    with pytest.raises(ParseError, match=r"'2026-13' is not a month like 2026-12"):
        parse("hours ACME 2026-13")
    with pytest.raises(ParseError, match=r"not a month"):
        parse("hours 11-2026")


# -- months in the calendar's zone -------------------------------------------------------------------


def test_month_follows_the_calendar_zone_not_utc() -> None:
    late_utc = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 00:30 on 1 December in Helsinki
    assert hours.month_of(late_utc, "Europe/Helsinki") == "2026-12"
    assert hours.month_of(late_utc, "UTC") == "2026-11"
    assert hours.month_of(late_utc, "America/New_York") == "2026-11"
    assert hours.month_of(datetime(2027, 1, 1, 3, tzinfo=UTC), "America/Los_Angeles") == "2026-12"


def test_month_bounds_are_local_midnights_across_dst() -> None:
    # Helsinki: EET (+2) in winter, EEST (+3) from the last Sunday of March to the last of October.
    start, end = hours.month_bounds("2026-03", "Europe/Helsinki")
    assert start == datetime(2026, 2, 28, 22, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 21, tzinfo=UTC)  # April starts in summer time
    assert end - start == timedelta(days=31, hours=-1)
    start, end = hours.month_bounds("2026-10", "Europe/Helsinki")
    assert (start, end) == (datetime(2026, 9, 30, 21, tzinfo=UTC), datetime(2026, 10, 31, 22, tzinfo=UTC))
    assert end - start == timedelta(days=31, hours=1)
    # The instants on either side of a bound fall in the months the bound separates.
    assert hours.month_of(end - timedelta(seconds=1), "Europe/Helsinki") == "2026-10"
    assert hours.month_of(end, "Europe/Helsinki") == "2026-11"
    assert hours.month_bounds("2026-12", "UTC") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_month_arithmetic_and_names() -> None:
    assert hours.shift_month("2026-12", 1) == "2027-01"
    assert hours.shift_month("2026-01", -1) == "2025-12"
    assert hours.shift_month("2026-05", -17) == "2024-12"
    assert hours.month_name("2026-12", "2026-11") == "December"
    assert hours.month_name("2025-12", "2026-01") == "December 2025"
    assert hours.parse_month("2026-02") == "2026-02"
    for bad in ("2026-00", "2026-13", "26-01", "2026-1", "1900-01", "december"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            hours.parse_month(bad)


# -- banks, rollover, levels ------------------------------------------------------------------------------


BANK = hours.Bank(monthly_minutes=600, rollover=False, warn_at=0.8)
ROLL = hours.Bank(monthly_minutes=600, rollover=True, warn_at=0.8)


def test_without_rollover_each_month_has_its_own_allowance() -> None:
    used = {"2026-10": 100, "2026-11": 450}
    bal = hours.balance(BANK, "2026-11", used, nonbillable=30)
    assert (bal.included_minutes, bal.carried_minutes, bal.billable_minutes, bal.nonbillable_minutes) == (
        600, 0, 450, 30)
    assert (bal.remaining_minutes, bal.over_minutes) == (150, 0)


def test_rollover_carries_the_unused_allowance_one_month_only() -> None:
    used = {"2026-09": 600, "2026-10": 200}  # October leaves 400 unused
    assert hours.included_minutes(ROLL, "2026-11", used) == (1000, 400)
    # November uses nothing: its 400 carried hours expire, only its own 600 carry into December.
    assert hours.included_minutes(ROLL, "2026-12", used) == (1200, 600)
    # January: December used nothing either, so again just one month's allowance carries.
    assert hours.included_minutes(ROLL, "2027-01", used) == (1200, 600)


def test_rollover_uses_carried_hours_first() -> None:
    used = {"2026-10": 200, "2026-11": 700}  # November has 600 + 400 carried; 400 of its 700 were carried hours
    assert hours.included_minutes(ROLL, "2026-12", used) == (900, 300)  # 600 - (700 - 400) of November's own
    used = {"2026-10": 200, "2026-11": 1000}
    assert hours.included_minutes(ROLL, "2026-12", used) == (600, 0)


def test_the_bank_starts_in_the_first_month_with_time() -> None:
    assert hours.included_minutes(ROLL, "2026-11", {}) == (600, 0)
    assert hours.included_minutes(ROLL, "2026-11", {"2026-11": 50}) == (600, 0)  # this month's time carries nothing
    assert hours.included_minutes(ROLL, "2026-11", {"2026-12": 50}) == (600, 0)  # later months never count


def test_a_correction_month_below_zero_carries_no_more_than_the_allowance() -> None:
    used = {"2026-10": 300, "2026-11": -60}
    assert hours.included_minutes(ROLL, "2026-12", used) == (1200, 600)


def test_levels_warning_at_warn_at_and_over_above_the_bank() -> None:
    def levels(used: int) -> list[str]:
        return hours.balance(BANK, "2026-11", {"2026-11": used}).levels()

    assert levels(479) == []
    assert levels(480) == ["warning"]
    assert levels(600) == ["warning"]
    assert levels(601) == ["warning", "over"]
    assert hours.balance(None, "2026-11", {"2026-11": 10_000}).levels() == []


def test_balance_text() -> None:
    bal = hours.balance(hours.Bank(1200), "2026-12", {"2026-12": 1005})
    assert hours.balance_text("Acme Oy", bal, "2026-12") == "Acme Oy has 3h 15m of 20h left in December"
    over = hours.balance(hours.Bank(1200), "2026-12", {"2026-12": 1290})
    assert hours.balance_text("Acme Oy", over, "2026-12") == "Acme Oy is 1h 30m over its 20h for December"
    none = hours.balance(None, "2026-12", {"2026-12": 90})
    assert hours.balance_text("Acme Oy", none, "2026-12") == "Acme Oy has no hour bank; 1h 30m billable in December"


# -- the config ----------------------------------------------------------------------------------------


def _org(hours_value: object) -> dict[str, object]:
    import yaml

    data = yaml.safe_load(ORG_YAML.read_text())
    data["contracts"]["gold"]["hours"] = hours_value
    return data


def test_config_hours_bank() -> None:
    cfg = parse_config(_org({"monthly": 7.5, "rollover": True}))
    bank = hours.Bank.from_json(cfg.contracts["gold"].hours.model_dump())  # type: ignore[union-attr]
    assert bank == hours.Bank(450, True, 0.8)


@pytest.mark.parametrize(("value", "problem"), [
    ({"monthly": 0}, "contracts.gold.hours.monthly: Input should be greater than 0"),
    ({"monthly": "20"}, "contracts.gold.hours.monthly: Input should be a valid number"),
    ({"monthly": 20, "rollover": "yes"}, "contracts.gold.hours.rollover: Input should be a valid boolean"),
    ({"monthly": 20, "warn_at": 1.2}, "contracts.gold.hours.warn_at: Input should be less than 1"),
    ({"monthly": 20, "warn": 0.8}, "contracts.gold.hours.warn: unknown key"),
    ({"rollover": True}, "contracts.gold.hours.monthly: Field required"),
    (20, "contracts.gold.hours: Input should be a valid dictionary"),
])
def test_config_hours_bank_errors_name_the_key_path(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(_org(value))
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems
