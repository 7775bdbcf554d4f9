"""Ticket numbers: a customer's counter bumped and read in one statement."""

from __future__ import annotations

from tortoise import connections


async def next_ticket_number(customer_id: int) -> int:
    """The customer's next ticket number; the UPDATE holds the row's lock until the transaction ends,
    so two concurrent tickets never share a number."""
    conn = connections.get("default")
    mark = "$1" if conn.capabilities.dialect == "postgres" else "?"
    rows = await conn.execute_query_dict(
        f'UPDATE "customer" SET "next_number" = "next_number" + 1 WHERE "id" = {mark} RETURNING "next_number"',
        [customer_id])
    if not rows:
        raise LookupError(f"no customer with id {customer_id}")
    return int(rows[0]["next_number"]) - 1
