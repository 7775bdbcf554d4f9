"""Every figure says which clock it is on: business time (the calendar's open hours) or wall time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.sla import Calendar, business_minutes_between
from bot.timeline import Timeline
from bot.views import when


def hours(minutes: float) -> str:
    """Hours and minutes, never days: "3d 8h" of business time reads as calendar days."""
    h, m = divmod(round(abs(minutes)), 60)
    return f"{h}h {m:02d}m" if h else f"{m}m"


def business(minutes: float) -> str:
    return f"{hours(minutes)} business time"


def business_left(minutes: float) -> str:
    return f"{hours(minutes)} business time left" if minutes >= 0 else f"{hours(minutes)} business time late"


def business_left_until(cal: Calendar, due: datetime, now: datetime) -> str:
    return _left(lambda start, end: business_minutes_between(cal, start, end), due, now)


def business_left_on(line: Timeline, due: datetime, now: datetime) -> str:
    """business_left_until on a timeline that spans both instants (one walk for a whole queue)."""
    return _left(line.minutes_between, due, now)


def _left(minutes_between: Callable[[datetime, datetime], float], due: datetime, now: datetime) -> str:
    if due >= now:
        return business_left(minutes_between(now, due))
    return business_left(-minutes_between(due, now))


def due_in_zone(due: datetime, zone: str) -> str:
    """`due Wed 25 Nov 09:00 EET (Europe/Helsinki)`: the zone named, not only abbreviated."""
    return f"due {when(due, zone)} ({zone})"


def wall_left(due: datetime, now: datetime) -> str:
    minutes = (due - now).total_seconds() / 60
    return f"in {hours(minutes)} wall time" if minutes >= 0 else f"{hours(minutes)} overdue"
