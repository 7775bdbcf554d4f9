"""Each ticket's triage conversation in one place: a thread in Slack, a reply chain in Teams.

The first post about a ticket in a triage channel (its announcement) starts the thread; every
later notice (assignment, priority, SLA warning or breach) is a reply to it. A notice queued
before the announcement has been delivered goes to the channel itself.
"""

from __future__ import annotations

from storage.models import OutboxMessage


async def triage_thread(ticket_key: str, platform: str, channel: str) -> str | None:
    """The message id of the ticket's first delivered top-level post in that triage channel, if any."""
    rows = await OutboxMessage.filter(ticket_key=ticket_key, platform=platform, status="sent",
                                      platform_message_id__isnull=False).order_by("id").values(
        "destination", "platform_message_id")
    for row in rows:
        dest = row["destination"] or {}
        if dest.get("channel") == channel and not dest.get("thread") and not dest.get("user"):
            message_id = row["platform_message_id"]
            return str(message_id).split(";messageid=")[-1] if message_id else None
    return None
