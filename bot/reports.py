"""The report: backlog, SLA attainment and CSAT per customer, open work per person.

`build_report` returns the JSON shape of `chatdesk report --format json`:

    {"period": {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
     "customers": [{"customer", "open", "resolved",
                    "sla": {"first_response" | "next_response" | "resolution": {"met", "missed"}},
                    "median_first_response_minutes", "csat": {"count", "mean"}}],
     "consultants": [{"person", "open"}]}

How each number is counted:

- The period is whole days in UTC, both ends included; by default the 30 days that end
  today (today and the 29 days before it) by the injected clock.
- `open`: tickets that are neither resolved nor closed now and were created by the end of
  the period. `resolved`: tickets resolved within the period (and not reopened since).
- `sla`: over the tickets created within the period. A metric counts as met or missed as
  the ticket's clock recorded it (first response and resolution once, next response once
  per customer message answered); a clock still running past its deadline already counts
  as missed, since nothing can make it met any more. Paused clocks have no deadline.
- `median_first_response_minutes`: over the tickets created within the period that have
  had a first response, the business minutes from the ticket's start to that response on
  the customer's contract calendar, pauses not counted: the same minutes the SLA target
  is measured in. Rounded to 0.1; null when no ticket has had a response.
- `csat`: ratings (1-5) of tickets resolved or closed within the period; `mean` is rounded
  to 0.01 and null when there is no rating.
- `consultants`: every active consultant and lead with the count of open tickets assigned
  to them (of the chosen customer only, with a customer filter).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot import clocks
from bot.config import METRICS
from bot.sla import Calendar
from bot.statuses import DONE_STATUSES
from bot.tickets import sla_context
from storage import reports as queries
from storage.models import Customer, Ticket

DEFAULT_DAYS = 30


class ReportError(ValueError):
    """Input a report cannot be made for; the message names the option or value."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # included

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def to_json(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option}: {text!r} is not a date like 2026-11-23 (YYYY-MM-DD)") from None


def period_for(now: datetime, first: str | None = None, last: str | None = None) -> Period:
    """The period from --from/--to (either may be left out); the default ends today and spans 30 days."""
    end = _date(last, "--to") if last is not None else now.astimezone(UTC).date()
    start = _date(first, "--from") if first is not None else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ReportError(f"--from: {start.isoformat()} is after --to {end.isoformat()}")
    return Period(start, end)


async def customer_by_key(key: str) -> Customer:
    customer = await queries.customer_with_key(key)
    if customer is None:
        known = ", ".join(c.key for c in await queries.customers()) or "none"
        raise ReportError(f"no customer {key!r} (known customers: {known})")
    return customer


def _sla_counts(ticket: Ticket, now: datetime) -> dict[str, dict[str, int]]:
    counts = clocks.counts(ticket.sla_state or {})
    overdue = {"first_response": ticket.first_response_due, "next_response": ticket.next_response_due,
               "resolution": ticket.resolution_due}
    for metric, due in overdue.items():
        if due is not None and due < now:
            counts[metric]["missed"] += 1
    return counts


def _first_response_minutes(ticket: Ticket, cal: Calendar) -> float | None:
    if ticket.first_response_at is None:
        return None
    state = ticket.sla_state or clocks.new_state(ticket.created_at)
    start = datetime.fromisoformat(state["start"])
    return clocks.business_minutes_between(cal, start, ticket.first_response_at,
                                           clocks.pauses(state, ticket.first_response_at))


async def _customer_summary(customer: Customer, tickets: list[Ticket], period: Period,
                           now: datetime) -> dict[str, Any]:
    """One customer's entry of the report, from the tickets the report loaded."""
    mine = [t for t in tickets if t.customer_id == customer.id]
    cal = (await sla_context(customer.id)).calendar
    sla = {metric: {"met": 0, "missed": 0} for metric in METRICS}
    response_minutes: list[float] = []
    ratings: list[int] = []
    for t in mine:
        if period.holds(t.created_at):
            for metric, counts in _sla_counts(t, now).items():
                sla[metric]["met"] += counts["met"]
                sla[metric]["missed"] += counts["missed"]
            minutes = _first_response_minutes(t, cal)
            if minutes is not None:
                response_minutes.append(minutes)
        if t.csat is not None and (period.holds(t.resolved_at) or period.holds(t.closed_at)):
            ratings.append(t.csat)
    return {
        "customer": customer.key,
        "open": sum(1 for t in mine if _is_open(t, period)),
        "resolved": sum(1 for t in mine if period.holds(t.resolved_at)),
        "sla": sla,
        "median_first_response_minutes": round(statistics.median(response_minutes), 1) if response_minutes else None,
        "csat": {"count": len(ratings), "mean": round(statistics.fmean(ratings), 2) if ratings else None},
    }


def _is_open(ticket: Ticket, period: Period) -> bool:
    return ticket.status not in DONE_STATUSES and ticket.created_at < period.end


async def build_report(now: datetime, period: Period, customer_key: str | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict; an unknown customer key raises ReportError."""
    if customer_key:
        customers = [await customer_by_key(customer_key)]
    else:
        customers = await queries.customers()
    tickets = await queries.tickets_touching([c.id for c in customers], period.start, period.end)
    open_by_person: dict[int, int] = {}
    for t in tickets:
        if t.assignee_id is not None and _is_open(t, period):
            open_by_person[t.assignee_id] = open_by_person.get(t.assignee_id, 0) + 1
    people = await queries.active_people()
    return {
        "period": period.to_json(),
        "customers": [await _customer_summary(c, tickets, period, now) for c in customers],
        "consultants": [{"person": p.pid, "open": open_by_person.get(p.id, 0)} for p in people],
    }


CSV_COLUMNS = (
    "customer", "open", "resolved",
    *(f"{metric}_{result}" for metric in METRICS for result in ("met", "missed")),
    "median_first_response_minutes", "csat_count", "csat_mean",
)


def csv_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One customer's entry flattened to the CSV columns (None becomes an empty cell)."""
    row: dict[str, Any] = {"customer": entry["customer"], "open": entry["open"], "resolved": entry["resolved"]}
    for metric in METRICS:
        for result in ("met", "missed"):
            row[f"{metric}_{result}"] = entry["sla"][metric][result]
    row["median_first_response_minutes"] = entry["median_first_response_minutes"]
    row["csat_count"] = entry["csat"]["count"]
    row["csat_mean"] = entry["csat"]["mean"]
    return {k: "" if v is None else v for k, v in row.items()}
