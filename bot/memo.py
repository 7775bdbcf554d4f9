"""Configuration read once per inbox batch instead of once per message.

A batch of inbox rows runs in one transaction, so the people, channels, contracts and teams
it reads cannot change under it in a way that matters: every message of the batch may share
what the first one read. Outside a batch (commands, the console, tests that call the core
directly) nothing is kept and every read goes to the database, so a `config apply` in another
process is seen by the next batch at the latest.

Only rows that configuration writes belong here: never a ticket, contact or message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_batch: ContextVar[dict[Hashable, Any] | None] = ContextVar("chatdesk_config_memo", default=None)


@contextmanager
def batch() -> Iterator[None]:
    """Share configuration reads for the body's duration (one inbox batch)."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


async def read(key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """`load()`'s result, read once per batch for this key (every time outside a batch)."""
    kept = _batch.get()
    if kept is None:
        return await load()
    if key in kept:
        return kept[key]  # type: ignore[no-any-return]
    value = await load()
    kept[key] = value
    return value
