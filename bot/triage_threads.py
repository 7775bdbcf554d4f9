"""Each ticket's triage conversation in one place: a thread in Slack, a reply chain in Teams.

The first post about a ticket in a triage channel (its announcement) starts the thread; every
later notice (assignment, priority, SLA warning or breach) is a reply to it. A notice queued
before the announcement has been delivered goes to the channel itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage.models import OutboxMessage

ThreadKey = tuple[str, str, str]  # (ticket key, platform, channel)


async def triage_threads(ticket_keys: Iterable[str]) -> dict[ThreadKey, str]:
    """Each ticket's first delivered top-level post per triage channel, for many tickets in one query."""
    keys = sorted(set(ticket_keys))
    if not keys:
        return {}
    rows = await OutboxMessage.filter(ticket_key__in=keys, status="sent", platform_message_id__isnull=False
                                      ).order_by("id").values("ticket_key", "platform", "destination",
                                                              "platform_message_id")
    found: dict[ThreadKey, str] = {}
    for row in rows:
        dest = row["destination"] or {}
        channel = dest.get("channel")
        if channel and not dest.get("thread") and not dest.get("user"):
            found.setdefault((row["ticket_key"], row["platform"], channel),
                             str(row["platform_message_id"]).split(";messageid=")[-1])
    return found


async def triage_thread(ticket_key: str, platform: str, channel: str) -> str | None:
    """The message id of the ticket's first delivered top-level post in that triage channel, if any."""
    return (await triage_threads([ticket_key])).get((ticket_key, platform, channel))
