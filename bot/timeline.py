"""Business minutes between many instants and one moment on one calendar, from one walk of its days.

bot.sla.business_minutes_between walks every day between its two instants. A queue asks it once
per ticket, all against the same `now` and mostly on the same calendar, with deadlines that can
lie months back: each answer walked the same months again. A Timeline walks the span once and
keeps the running total of business time at the start of each open stretch; an answer is then
two binary searches. Totals are timedeltas (whole microseconds), so an answer equals
business_minutes_between's exactly.

timeline_for keeps the last timeline of each of the most recently used calendars, reaching a
week past the latest instant asked for, so the next queue (a later `now`) walks no day again.
A timeline depends only on the calendar's value (zone, hours, holidays), so a changed
calendar is a different key and never meets an old timeline.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from datetime import datetime, timedelta

from bot.sla import Calendar, open_stretches

ZERO = timedelta(0)
MINUTE = timedelta(minutes=1)
KEPT_CALENDARS = 32
AHEAD = timedelta(days=7)  # how far past the latest instant asked for a kept timeline reaches
LONGEST = timedelta(days=3660)  # a kept timeline grows to cover earlier asks up to this span


class Timeline:
    """One calendar's business time from `start` to `end`, without pauses."""

    def __init__(self, cal: Calendar, start: datetime, end: datetime) -> None:
        if end < start:
            raise ValueError(f"a timeline ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        self.calendar, self.start, self.end = cal, start, end
        self._opens: list[datetime] = []
        self._closes: list[datetime] = []
        self._before: list[timedelta] = []  # business time from `start` to each stretch's opening
        total = ZERO
        for a, b in open_stretches(cal, start, end):
            self._opens.append(a)
            self._closes.append(b)
            self._before.append(total)
            total += b - a

    def _until(self, t: datetime) -> timedelta:
        i = bisect_right(self._opens, t) - 1
        if i < 0:
            return ZERO
        return self._before[i] + (min(self._closes[i], t) - self._opens[i])

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """business_minutes_between(calendar, start, end) for instants inside the timeline."""
        if end <= start:
            return 0.0
        if start < self.start or end > self.end:
            raise ValueError(f"{start.isoformat()}..{end.isoformat()} is outside the timeline "
                             f"{self.start.isoformat()}..{self.end.isoformat()}")
        return (self._until(end) - self._until(start)) / MINUTE


_kept: OrderedDict[Calendar, Timeline] = OrderedDict()


def timeline_for(cal: Calendar, start: datetime, end: datetime) -> Timeline:
    """A timeline of `cal` covering start..end: the kept one when it does, else a new one kept instead."""
    kept = _kept.get(cal)
    if kept is not None and kept.start <= start and end <= kept.end:
        _kept.move_to_end(cal)
        return kept
    lo, hi = start, end + AHEAD
    if kept is not None and max(hi, kept.end) - min(lo, kept.start) <= LONGEST:
        lo, hi = min(lo, kept.start), max(hi, kept.end)
    line = Timeline(cal, lo, hi)
    _kept[cal] = line
    _kept.move_to_end(cal)
    while len(_kept) > KEPT_CALENDARS:
        _kept.popitem(last=False)
    return line
