"""The status model and the roles, in one place: which statuses exist, where an agent may move a
ticket, which statuses pause the SLA, who may do what, and how each is named to people.

Statuses and roles are StrEnums, so they compare equal to the plain strings stored in the
database and carried in JSON.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    AWAITING_APPROVAL = "awaiting_approval"
    DELIVERED_TO_TEST = "delivered_to_test"
    IN_PRODUCTION = "in_production"
    RESOLVED = "resolved"
    CLOSED = "closed"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
DONE_STATUSES: tuple[str, ...] = (Status.RESOLVED, Status.CLOSED)
OPEN_STATUSES: tuple[str, ...] = tuple(s for s in Status if s not in DONE_STATUSES)

# The SLA clock stops in these: the customer has the ball, or the work is done.
PAUSING_STATUSES: frozenset[str] = frozenset({Status.WAITING_ON_CUSTOMER, Status.AWAITING_APPROVAL,
                                              Status.DELIVERED_TO_TEST, Status.RESOLVED, Status.CLOSED})

# Status changes an agent may make with `/helpdesk status`; the approval and delivery
# steps that belong to the customer (approve, reject, accept) are not in this table.
AGENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.OPEN, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED),
    Status.OPEN: (Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED),
    Status.IN_PROGRESS: (Status.OPEN, Status.WAITING_ON_CUSTOMER, Status.DELIVERED_TO_TEST, Status.RESOLVED,
                         Status.CLOSED),
    Status.WAITING_ON_CUSTOMER: (Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED),
    Status.AWAITING_APPROVAL: (Status.OPEN, Status.CLOSED),
    Status.DELIVERED_TO_TEST: (Status.IN_PROGRESS, Status.CLOSED),
    Status.IN_PRODUCTION: (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED),
    Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
    Status.CLOSED: (Status.IN_PROGRESS,),
}

# Statuses `/helpdesk status` cannot set, because another step reaches them.
REACHED_ONLY_BY: dict[str, str] = {
    Status.AWAITING_APPROVAL: "send an estimate (`/helpdesk estimate`)",
    Status.IN_PRODUCTION: "the customer accepts",
}


def status_label(status: str) -> str:
    """How a status is written to people: 'waiting on customer'."""
    return str(status).replace("_", " ")


class Role(StrEnum):
    """Who is speaking, as the core sees it. A customer's person is a contact."""

    CONTACT = "contact"
    CONSULTANT = "consultant"
    LEAD = "lead"
    STRANGER = "stranger"  # nobody chatdesk knows in that place


AGENT_ROLES: frozenset[str] = frozenset({Role.CONSULTANT, Role.LEAD})
KNOWN_ROLES: frozenset[str] = frozenset({Role.CONTACT, *AGENT_ROLES})

ROLE_LABELS: dict[str, str] = {
    Role.CONTACT: "customer contact",
    Role.CONSULTANT: "consultant",
    Role.LEAD: "lead",
    Role.STRANGER: "unknown person",
}

# `chatdesk console --as customer:ACME` speaks of customers; the core of their contacts.
CONSOLE_ROLES: dict[str, Role] = {"customer": Role.CONTACT, "consultant": Role.CONSULTANT, "lead": Role.LEAD}


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, str(role))
