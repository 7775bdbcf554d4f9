"""Configuration read once, not once per message.

Inside a batch (an inbox batch, a reminder tick) every configuration read is kept for the rest
of the batch. A batch that knows the configuration's version (storage.config_version: the
database raises it on every change to the configuration tables, whoever makes it) also shares
what it read with later batches that see the same version, so a busy worker reads people,
channels, contracts and teams once instead of once per batch. A batch that sees a newer version
starts afresh; one that sees an older version (a slow reader, next to a faster worker) keeps to
itself. Outside a batch (commands, the console, tests that call the core directly) nothing is
kept and every read goes to the database.

A handler that fails may have read rows its rolled-back savepoint wrote: `discard()` forgets
everything kept, and a batch that fails does so itself.

Only rows that configuration writes belong here: never a ticket, contact or message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

MAX_KEPT = 20_000  # entries; every unknown user id is one (a miss is kept too), so a busy year is bounded

_batch: ContextVar[dict[Hashable, Any] | None] = ContextVar("chatdesk_config_memo", default=None)
_shared: dict[Hashable, Any] = {}
_shared_version: tuple[int, int] | None = None


def _kept_for(version: tuple[int, int] | None) -> dict[Hashable, Any]:
    global _shared, _shared_version
    if version is None:
        return {}
    if _shared_version is None or version[0] != _shared_version[0] or version[1] > _shared_version[1]:
        _shared, _shared_version = {}, version  # a new dict: a slower batch keeps filling its own
    elif version[1] < _shared_version[1]:
        return {}
    return _shared


@contextmanager
def batch(version: tuple[int, int] | None = None) -> Iterator[None]:
    """Share configuration reads for the body's duration, and with later batches of `version`."""
    token = _batch.set(_kept_for(version))
    try:
        yield
    except BaseException:
        discard()
        raise
    finally:
        _batch.reset(token)


def discard() -> None:
    """Forget everything kept: this batch's reads and those shared between batches."""
    global _shared, _shared_version
    kept = _batch.get()
    if kept is not None:
        kept.clear()
    _shared, _shared_version = {}, None


async def read(key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """`load()`'s result, read once per batch (or version) for this key; every time outside a batch."""
    kept = _batch.get()
    if kept is None:
        return await load()
    if key in kept:
        return kept[key]  # type: ignore[no-any-return]
    value = await load()
    if len(kept) >= MAX_KEPT:
        kept.clear()
    kept[key] = value
    return value
