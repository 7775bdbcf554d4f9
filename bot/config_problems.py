"""Every problem in a calendar at once, so a bad file takes one round to fix, not four.

`Calendar.from_config` stops at the first error, which is right at run time; here each
key, weekday, period and holiday is checked on its own and every failure is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.sla import (
    _CALENDAR_KEYS,
    WEEKDAYS,
    Calendar,
    CalendarError,
    _key,
    _parse_holidays,
    _parse_period,
    _parse_timezone,
)


def calendar_problems(data: object, path: str) -> list[str]:
    """Every problem in one calendar mapping, each naming its key path (empty when it is valid)."""
    if not isinstance(data, Mapping):
        return [f"{path}: must be a mapping with timezone, hours and holidays"]
    problems: list[str] = []
    for key in data:
        if key not in _CALENDAR_KEYS:
            problems.append(f"{_key(path, key)}: unknown key (expected one of: {', '.join(_CALENDAR_KEYS)})")
    try:
        _parse_timezone(data.get("timezone"), _key(path, "timezone"))
    except CalendarError as exc:
        problems.append(str(exc))
    hours_path = _key(path, "hours")
    hours = data.get("hours")
    if isinstance(hours, Mapping):
        for day, periods in hours.items():
            day_path = f"{hours_path}.{day}"
            if day not in WEEKDAYS:
                problems.append(f"{day_path}: unknown weekday (expected one of: {', '.join(WEEKDAYS)})")
            if periods is None:
                continue
            if not isinstance(periods, list):
                problems.append(f'{day_path}: must be a list of periods such as ["08:00-16:00"]')
                continue
            for i, item in enumerate(periods):
                try:
                    _parse_period(item, f"{day_path}[{i}]")
                except CalendarError as exc:
                    problems.append(str(exc))
    holidays = data.get("holidays")
    if isinstance(holidays, list):
        for i, item in enumerate(holidays):
            try:
                _parse_holidays([item], _key(path, "holidays"))
            except CalendarError as exc:
                problems.append(str(exc).replace("holidays[0]", f"holidays[{i}]", 1))
    if not problems:
        # The rules that need the whole calendar (overlaps, no open hours, shapes).
        try:
            Calendar.from_config(data, path)
        except CalendarError as exc:
            problems.append(str(exc))
    return problems
