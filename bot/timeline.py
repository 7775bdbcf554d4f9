"""Business minutes between many instants and one moment on one calendar, from one walk of its days.

bot.sla.business_minutes_between walks every day between its two instants. A queue asks it once
per ticket, all against the same `now` and mostly on the same calendar, with deadlines that can
lie months back: each answer walked the same months again. A Timeline walks the span once and
keeps the running total of business time at the start of each open stretch; an answer is then
two binary searches. Totals are timedeltas (whole microseconds), so an answer equals
business_minutes_between's exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta

from bot.sla import Calendar, open_stretches

ZERO = timedelta(0)
MINUTE = timedelta(minutes=1)


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
