"""How long to wait before trying again, shared by the outbox, the inbox and the senders."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_BACKOFF = 600.0  # seconds


def backoff(attempts: int, *, jitter: bool = True) -> float:
    """Exponential: 1, 2, 4 ... seconds, at most 10 minutes; jitter spreads retries of many rows."""
    base = min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2) if jitter else base


def retry_after(value: object, now: datetime | None = None) -> float | None:
    """An HTTP Retry-After value as seconds: a number or an HTTP date; None when absent or unreadable."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
