"""A ticket's SLA clocks: pure functions over the state stored on the ticket.

The state is a small JSON object (start, closed pauses, an open pause, the customer
message awaiting a next response, per-metric results) so deadlines can always be
recomputed from the start: a priority change keeps elapsed time, a pause moves
every open deadline by the paused business time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config import METRICS, Target
from bot.sla import Calendar, add_business_minutes_each, business_minutes_between
from bot.statuses import PAUSING_STATUSES as PAUSING_STATUSES  # where the SLA pauses is the status model's


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime) -> str:
    return value.isoformat()


def new_state(start: datetime) -> dict[str, Any]:
    return {"start": _iso(start), "pauses": [], "paused_since": None, "next_response_start": None, "results": {}}


def pauses(state: dict[str, Any], now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    out = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in state.get("pauses", [])]
    since = _ts(state.get("paused_since"))
    if since is not None and now is not None and now > since:
        out.append((since, now))
    return out


def pause(state: dict[str, Any], now: datetime) -> None:
    if not state.get("paused_since"):
        state["paused_since"] = _iso(now)


def resume(state: dict[str, Any], now: datetime) -> None:
    since = _ts(state.get("paused_since"))
    if since is not None:
        if now > since:
            state.setdefault("pauses", []).append([_iso(since), _iso(now)])
        state["paused_since"] = None


def is_paused(state: dict[str, Any]) -> bool:
    return bool(state.get("paused_since"))


def clock_start(state: dict[str, Any], metric: str) -> datetime | None:
    """When the metric's clock started, or None when it is not running (met, or nothing awaits a reply)."""
    results = state.get("results", {})
    if metric == "next_response":
        return _ts(state.get("next_response_start"))
    if metric in results:
        return None
    return _ts(state["start"])


@dataclass(frozen=True)
class ClockView:
    metric: str
    target_minutes: int
    started: datetime | None
    due: datetime | None  # None while paused or not running
    warn_at: datetime | None
    used_minutes: float
    paused: bool
    result: str | None  # "met" | "missed" | None


def view(state: dict[str, Any], cal: Calendar, target: Target, warn_fraction: float, now: datetime) -> list[ClockView]:
    paused = is_paused(state)
    closed = pauses(state)
    everything = pauses(state, now)
    running: dict[str, tuple[datetime, int]] = {}
    for metric in METRICS:
        minutes = target.minutes(metric)
        start = clock_start(state, metric)
        if start is not None and minutes is not None:
            running[metric] = (start, minutes)
    # Metrics that share a start (first response and resolution do) share one walk of the
    # calendar for their deadlines and warning times, and their elapsed time.
    used: dict[datetime, float] = {}
    times: dict[tuple[datetime, float], datetime] = {}
    for start in {s for s, _ in running.values()}:
        used[start] = business_minutes_between(cal, start, now, everything)
        if not paused:
            amounts = sorted({a for s, m in running.values() if s == start for a in (m, m * warn_fraction)})
            times.update(zip(((start, a) for a in amounts),
                             add_business_minutes_each(cal, start, amounts, closed), strict=True))
    out = []
    for metric in METRICS:
        result = state.get("results", {}).get(metric)
        if isinstance(result, dict):
            result = None
        if metric not in running:
            out.append(ClockView(metric, target.minutes(metric) or 0, None, None, None, 0.0, paused, result))
            continue
        start, minutes = running[metric]
        due = None if paused else times[(start, minutes)]
        warn = None if paused else times[(start, minutes * warn_fraction)]
        out.append(ClockView(metric, minutes, start, due, warn, used[start], paused, result))
    return out


# -- notices: a warning at warn_at and a breach at the deadline, once per deadline ------------------

NoticeKey = tuple[str, str, datetime]  # (metric, kind, deadline in UTC): the SlaNotice unique key per ticket


def notice_key(metric: str, kind: str, due: datetime) -> NoticeKey:
    return (metric, kind, due.astimezone(UTC))


@dataclass(frozen=True)
class Notice:
    metric: str
    kind: str  # "warning" | "breach"
    at: datetime  # when it falls due: the warn time or the deadline itself
    due: datetime  # the deadline it is about; a deadline that moves gets notices of its own

    @property
    def key(self) -> NoticeKey:
        return notice_key(self.metric, self.kind, self.due)


def pending_notices(views: Sequence[ClockView], sent: Collection[NoticeKey]) -> list[Notice]:
    """Warnings and breaches not yet sent for the running deadlines, soonest first.

    Paused and stopped clocks have no deadline, so they have nothing pending. A warning
    whose breach was already sent is not pending any more: it would only say less.
    """
    out = []
    for v in views:
        if v.due is None or v.warn_at is None:
            continue
        if notice_key(v.metric, "breach", v.due) in sent:
            continue
        if notice_key(v.metric, "warning", v.due) not in sent:
            out.append(Notice(v.metric, "warning", v.warn_at, v.due))
        out.append(Notice(v.metric, "breach", v.due, v.due))
    return sorted(out, key=lambda n: n.at)


def due_notices(views: Sequence[ClockView], sent: Collection[NoticeKey], now: datetime) -> list[Notice]:
    """What to send at `now`: per metric the latest notice that has fallen due.

    A sweep that comes late (a worker was down) sends the breach alone rather than
    a warning that says "0m left" followed by the breach.
    """
    latest: dict[str, Notice] = {}
    for n in pending_notices(views, sent):
        if n.at <= now:
            latest[n.metric] = n
    return list(latest.values())


def next_notice_at(views: Sequence[ClockView], sent: Collection[NoticeKey]) -> datetime | None:
    """The earliest instant a notice falls due: the ticket's notice_at."""
    pending = pending_notices(views, sent)
    return pending[0].at if pending else None


def record(state: dict[str, Any], metric: str, met: bool) -> None:
    results = state.setdefault("results", {})
    if metric == "next_response":
        counts = results.setdefault("next_response", {"met": 0, "missed": 0})
        counts["met" if met else "missed"] += 1
        state["next_response_start"] = None
    else:
        results[metric] = "met" if met else "missed"


def counts(state: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Met and missed per metric, for reports."""
    results = state.get("results", {})
    out: dict[str, dict[str, int]] = {}
    for metric in METRICS:
        r = results.get(metric)
        if isinstance(r, dict):
            out[metric] = {"met": int(r.get("met", 0)), "missed": int(r.get("missed", 0))}
        else:
            out[metric] = {"met": int(r == "met"), "missed": int(r == "missed")}
    return out


def minutes_text(minutes: float) -> str:
    minutes = round(abs(minutes))
    h, m = divmod(minutes, 60)
    if h >= 24 * 3:
        return f"{h // 24}d {h % 24}h"
    return f"{h}h {m:02d}m" if h else f"{m}m"
