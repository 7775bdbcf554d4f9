"""Time logged on tickets and the hour-bank notices it triggers (the arithmetic is bot/hours.py).

Logging runs in the command's transaction: the entry, its audit event, the notice rows and
the posts they queue commit together. The customer's row is locked first (PostgreSQL), so
two workers logging for one customer take turns and each sees the other's minutes; the
unique (customer, month, kind) key of HoursNotice is the final guard that a warning and an
over-bank notice go out once per month, across workers and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot import hours
from bot import tickets as svc
from bot.identity import Who
from bot.types import Audience, Reply
from storage.models import Calendar as CalendarRow
from storage.models import Contract, Customer, HoursNotice, Person, Ticket, TimeEntry


@dataclass(frozen=True)
class Logged:
    entry: TimeEntry
    balance: hours.Balance
    notices: list[Reply]
    zone: str


async def _zone_and_bank(customer_id: int) -> tuple[str, hours.Bank | None]:
    ctx = await svc.sla_context(customer_id)
    return ctx.calendar.timezone, hours.Bank.from_json(ctx.contract.hours)


async def _lock_customer(customer_id: int) -> Customer:
    """The customer's row, locked until the transaction ends on PostgreSQL (SQLite writes one at a time)."""
    query = Customer.filter(id=customer_id)
    if Customer._meta.db.capabilities.dialect == "postgres":
        query = query.select_for_update(no_key=True)
    customer = await query.first()
    assert customer is not None
    return customer


async def billable_by_month(customer_id: int, up_to: str) -> dict[str, int]:
    rows = await TimeEntry.filter(customer_id=customer_id, billable=True, month__lte=up_to).annotate(
        total=Sum("minutes")).group_by("month").values("month", "total")
    return {r["month"]: int(r["total"] or 0) for r in rows}


async def month_balance(customer_id: int, month: str, bank: hours.Bank | None) -> hours.Balance:
    billable = await billable_by_month(customer_id, month)
    nonbillable = await _sum(TimeEntry.filter(customer_id=customer_id, billable=False, month=month))
    return hours.balance(bank, month, billable, nonbillable)


async def _sum(query: QuerySet[TimeEntry]) -> int:
    rows = await query.annotate(total=Sum("minutes")).values("total")
    return int(rows[0]["total"] or 0) if rows else 0


async def customer_balance(customer: Customer, month: str | None, now: datetime) -> hours.Balance:
    zone, bank = await _zone_and_bank(customer.id)
    return await month_balance(customer.id, month or hours.month_of(now, zone), bank)


async def hours_left_this_month(now: datetime) -> dict[str, hours.Balance]:
    """Each customer's balance for the current month of its contract calendar, by customer key.

    For the leads' board: `remaining_minutes` is None for a customer without an hour bank and
    negative when the month is over its bank."""
    customers = await Customer.all().order_by("key")
    contracts = {c.id: c for c in await Contract.filter(id__in={c.contract_id for c in customers})}
    zones = dict(await CalendarRow.filter(id__in={c.calendar_id for c in contracts.values()}).values_list(
        "id", "timezone"))
    billable: dict[int, dict[str, int]] = {}
    nonbillable: dict[tuple[int, str], int] = {}
    # One grouped query for every customer: a few rows per customer and month.
    for row in await TimeEntry.all().annotate(m=Sum("minutes")).group_by("customer_id", "month", "billable").values(
            "customer_id", "month", "billable", "m"):
        if row["billable"]:
            billable.setdefault(row["customer_id"], {})[row["month"]] = int(row["m"] or 0)
        else:
            nonbillable[(row["customer_id"], row["month"])] = int(row["m"] or 0)
    out: dict[str, hours.Balance] = {}
    for customer in customers:
        contract = contracts[customer.contract_id]
        month = hours.month_of(now, zones[contract.calendar_id])
        used = {m: v for m, v in billable.get(customer.id, {}).items() if m <= month}
        out[customer.key] = hours.balance(hours.Bank.from_json(contract.hours), month, used,
                                          nonbillable.get((customer.id, month), 0))
    return out


async def ticket_minutes(ticket_id: int) -> tuple[int, int]:
    """(all logged minutes, billable minutes) of one ticket, corrections included."""
    total = billable = 0
    for row in await TimeEntry.filter(ticket_id=ticket_id).annotate(m=Sum("minutes")).group_by(
            "billable").values("billable", "m"):
        total += int(row["m"] or 0)
        billable += int(row["m"] or 0) if row["billable"] else 0
    return total, billable


async def log_time(ticket: Ticket, who: Who, minutes: int, billable: bool, note: str | None,
                   now: datetime) -> Logged:
    """Record one entry (a negative one corrects earlier time, never below zero) and its notices."""
    assert who.person is not None
    if minutes < 0 and not note:
        raise svc.Refusal(f"say why a correction is made: `/helpdesk log {ticket.key} "
                          f"{hours.duration_text(minutes).replace(' ', '')} logged twice`")
    customer = await _lock_customer(ticket.customer_id)
    if minutes < 0:
        logged = await _sum(TimeEntry.filter(ticket_id=ticket.id, billable=billable))
        if logged + minutes < 0:
            kind = "billable" if billable else "non-billable"
            raise svc.Refusal(f"{ticket.key} has {hours.duration_text(logged)} of {kind} time; a correction of "
                              f"{hours.duration_text(minutes)} would take it below zero")
    zone, bank = await _zone_and_bank(customer.id)
    month = hours.month_of(now, zone)
    entry = await TimeEntry.create(ticket_id=ticket.id, customer_id=customer.id, person_id=who.person.id,
                                   person_name=who.person.name, minutes=minutes, billable=billable,
                                   note=note, month=month, created_at=now)
    await svc.audit(ticket, who, "time_logged", now, entry=entry.id, minutes=minutes, billable=billable,
                    note=note, month=month)
    bal = await month_balance(customer.id, month, bank)
    notices = await bank_notices(customer, ticket, bal, now) if billable and minutes > 0 else []
    return Logged(entry, bal, notices, zone)


async def bank_notices(customer: Customer, ticket: Ticket, bal: hours.Balance, now: datetime) -> list[Reply]:
    """Record each level the month reached for the first time; posts for the highest of them."""
    new: list[str] = []
    for level in bal.levels():
        try:
            async with in_transaction():  # a savepoint: losing the unique key undoes only this row
                await HoursNotice.create(customer_id=customer.id, month=bal.month, kind=level, created_at=now)
            new.append(level)
        except IntegrityError:
            continue  # sent already, by this worker or another
    return notice_replies(customer, ticket, bal, new[-1], now) if new else []


def notice_replies(customer: Customer, ticket: Ticket, bal: hours.Balance, level: str, now: datetime) -> list[Reply]:
    """The account manager's DM and a short notice in the customer's channel."""
    assert bal.included_minutes is not None
    when = hours.month_name(bal.month)
    used, of = hours.duration_text(bal.billable_minutes), hours.duration_text(bal.included_minutes)
    share = round(100 * bal.billable_minutes / bal.included_minutes)
    if level == hours.OVER:
        over = hours.duration_text(bal.over_minutes)
        public = (f"{customer.name} has used {used} of support in {when}, {over} more than the {of} included; "
                  "time beyond the included hours is billed separately.")
        internal = (f"{customer.key} is {over} over its {of} hour bank for {when} ({used} billable, "
                    f"last on {ticket.key}).")
    else:
        left = hours.duration_text(bal.remaining_minutes or 0)
        public = f"{customer.name} has used {used} of the {of} of support included in {when} ({share} %); {left} left."
        internal = (f"{customer.key} has used {share} % of its {of} hour bank for {when}: {used} billable, "
                    f"{left} left (last on {ticket.key}).")
    dedupe = f"hours:{customer.key}:{bal.month}:{level}"
    replies = [Reply(public, audience=Audience.CHANNEL, ticket_key=ticket.key, kind="notice",
                     title=f"Support hours, {when}", dedupe=f"{dedupe}:channel")]
    if customer.account_manager:
        replies.append(Reply(internal, audience=Audience.DM, person=customer.account_manager, ticket_key=ticket.key,
                             internal=True, kind="notice", title=f"Hour bank: {customer.key}",
                             dedupe=f"{dedupe}:dm"))
    return replies


async def estimate_line(ticket: Ticket) -> str | None:
    """`Estimate 6h · time logged 5h 30m` for a resolution post, when the ticket had an estimate."""
    if not ticket.estimate_minutes:
        return None
    total, billable = await ticket_minutes(ticket.id)
    extra = f" ({hours.duration_text(billable)} billable)" if billable != total else ""
    return (f"Estimate {hours.duration_text(ticket.estimate_minutes)} · time logged "
            f"{hours.duration_text(total)}{extra}")


# -- reports and the billing export ------------------------------------------------------------------


def hours_json(bal: hours.Balance) -> dict[str, Any]:
    """The `hours` object of `report --format json`: included in hours as configured (plus carried), minutes used."""
    included = bal.included_minutes
    return {
        "month": bal.month,
        "included": None if included is None else round(included / 60, 2),
        "included_minutes": included,
        "billable_minutes": bal.billable_minutes,
        "nonbillable_minutes": bal.nonbillable_minutes,
        "remaining_minutes": bal.remaining_minutes,
    }


async def report_hours(customer: Customer, now: datetime | None, month: str) -> dict[str, Any]:
    """The customer's hours for the contract month that holds `now`, or for `month` when now is None."""
    zone, bank = await _zone_and_bank(customer.id)
    return hours_json(await month_balance(customer.id, hours.month_of(now, zone) if now else month, bank))


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


async def export_month(month: str, customer_key: str | None = None) -> dict[str, Any]:
    """`chatdesk hours export`: one row per entry of the month, and a summary per customer."""
    if customer_key:
        customer = await Customer.filter(key=customer_key.upper()).first()
        if customer is None:
            known = ", ".join(c.key for c in await Customer.all().order_by("key")) or "none"
            raise ValueError(f"--customer: no customer {customer_key!r} (known customers: {known})")
        customers = [customer]
    else:
        customers = await Customer.all().order_by("key")
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for customer in customers:
        zone, bank = await _zone_and_bank(customer.id)
        entries = await TimeEntry.filter(customer_id=customer.id, month=month).order_by("created_at", "id")
        tickets = {t.id: t for t in await Ticket.filter(id__in={e.ticket_id for e in entries})} if entries else {}
        people = {p.id: p.pid for p in await Person.filter(id__in={e.person_id for e in entries if e.person_id})}
        for e in entries:
            t = tickets[e.ticket_id]
            local = _local(e.created_at, zone)
            rows.append({
                "customer": customer.key, "ticket": t.key, "title": t.title, "type": t.type,
                "date": local.date().isoformat(), "time": f"{local:%H:%M}",
                "logged_at": e.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "person": people.get(e.person_id or 0) or e.person_name, "minutes": e.minutes,
                "billable": e.billable, "note": e.note or "",
            })
        if not entries and bank is None:
            continue
        bal = await month_balance(customer.id, month, bank)
        summary.append({
            "customer": customer.key, "name": customer.name, **{k: v for k, v in hours_json(bal).items()
                                                                 if k != "month"},
            "used_minutes": bal.billable_minutes, "over_minutes": bal.over_minutes,
        })
    return {"month": month, "entries": rows, "customers": summary}
