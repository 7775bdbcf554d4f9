"""The queries behind the report (the counting itself is bot/reports.py's)."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from bot.statuses import DONE_STATUSES
from storage.models import Customer, Person, Ticket


async def customer_with_key(key: str) -> Customer | None:
    """The customer, or None; a key longer than any stored one names no customer (and is no error)."""
    if len(key) > (getattr(Customer._meta.fields_map["key"], "max_length", None) or len(key)):
        return None
    return await Customer.filter(key=key.upper()).first()


async def customers() -> list[Customer]:
    return await Customer.all().order_by("key")


async def active_people() -> list[Person]:
    return await Person.filter(active=True).order_by("pid")


async def tickets_touching(customer_ids: list[int], start: datetime, end: datetime) -> list[Ticket]:
    """Tickets that can count in [start, end): open ones, and ones created or finished in it."""
    touched = (Q(status__not_in=DONE_STATUSES) | Q(created_at__gte=start) | Q(resolved_at__gte=start)
               | Q(closed_at__gte=start))
    return await Ticket.filter(touched, customer_id__in=customer_ids, created_at__lt=end)
