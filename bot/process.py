"""The work process around a ticket that more than one command needs: routing a new ticket to its
support team and account manager, and the delivery card that asks the customer to accept.

Routing follows the contract: a new ticket belongs to the contract's support team (set on
the ticket when it is created); that team and the customer's account manager hear of it by
direct message. Change requests and development go new/open -> awaiting_approval (an
estimate was sent) -> in_progress (the customer approved) -> delivered_to_test ->
in_production (the customer accepted) -> resolved. Only the customer's own contacts
approve, reject, accept and rate; each step is posted in the ticket's thread and audited
(the commands are in bot/handlers/process.py).
"""

from __future__ import annotations

from bot import memo
from bot.quoting import title as shown_title
from bot.types import Audience, Button, Reply
from storage.models import Customer, Person, SupportTeam, Ticket


def dm(person: Person | str, text: str, ticket: Ticket, dedupe: str | None = None) -> Reply:
    pid = person if isinstance(person, str) else person.pid
    return Reply(text, audience=Audience.DM, person=pid, ticket_key=ticket.key, internal=True, kind="notice",
                 dedupe=dedupe)


async def team_members(name: str | None) -> list[Person]:
    async def load() -> list[Person]:
        team = await SupportTeam.filter(name=name).first() if name else None
        if team is None or not team.members:
            return []
        return await Person.filter(pid__in=list(team.members), active=True).order_by("pid")

    return list(await memo.read(("team", name), load))


# -- routing ---------------------------------------------------------------------------------------


async def route_new_ticket(ticket: Ticket, customer: Customer, by: Person | None = None) -> list[Reply]:
    """DMs for a new ticket: its support team's members and the customer's account manager (once each)."""
    replies: list[Reply] = []
    told = {by.pid} if by else set()
    title = shown_title(ticket.title)
    for person in await team_members(ticket.team):
        if person.pid not in told:
            told.add(person.pid)
            replies.append(dm(person, f"New ticket {ticket.key} for the {ticket.team} team from {customer.name}: "
                                      f"{title}", ticket, dedupe=f"route:{ticket.key}:{person.pid}"))
    manager = customer.account_manager
    if manager and manager not in told:
        replies.append(dm(manager, f"New ticket {ticket.key} from your customer {customer.name}: {title}",
                          ticket, dedupe=f"route:{ticket.key}:{manager}"))
    return replies


def delivery_card(ticket: Ticket, by: str) -> Reply:
    return Reply(f"{by} delivered {ticket.key} to test. Please try it; when it works as agreed, accept it "
                 "to move it to production, or reply here with what is missing.",
                 audience=Audience.THREAD, ticket_key=ticket.key, title=f"{ticket.key} is ready for testing",
                 buttons=(Button("Accept", f"accept {ticket.key}", style="primary"),), kind="delivery")
