"""How long delivery bookkeeping is kept: processed inbox rows and delivered posts hold people's
names, ids and words, and are needed only for a while after they were handled.

An inbox row is needed until it is processed (retried deliveries are recognised by the
ProcessedEvent row, which holds no payload); a delivered outbox row until no retry of the same
event can queue it again. Both are deleted after their retention (7 days unless told otherwise).
Failed rows are kept for an operator to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from storage.models import InboxEvent, OutboxMessage

log = logging.getLogger("chatdesk.retention")

INBOX_RETENTION = timedelta(days=7)
OUTBOX_RETENTION = timedelta(days=7)
SWEEP_EVERY = 3600.0  # seconds


async def purge(now: datetime, inbox: timedelta = INBOX_RETENTION, outbox: timedelta = OUTBOX_RETENTION) -> int:
    """Delete processed inbox rows and delivered posts older than their retention; returns how many."""
    gone = await InboxEvent.filter(status="done", created_at__lt=now - inbox).delete()
    gone += await OutboxMessage.filter(status="sent", sent_at__lt=now - outbox).delete()
    return gone


async def run_worker(clock: object, stop: asyncio.Event, interval: float = SWEEP_EVERY,
                     keep: timedelta = OUTBOX_RETENTION) -> None:
    """Purge once an interval until `stop` is set, keeping `keep` of both kinds of rows."""
    while not stop.is_set():
        try:
            gone = await purge(clock.now(), keep, keep)  # type: ignore[attr-defined]
            if gone:
                log.info("retention: deleted %s processed inbox rows and delivered posts", gone)
        except Exception:
            log.exception("retention sweep failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
