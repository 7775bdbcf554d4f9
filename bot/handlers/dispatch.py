"""The one command table: every handler module's set merged, checked against the grammar at import.

A name two modules both handle, a grammar command without a handler, or a handler for a
command the grammar does not know stops the program at start-up instead of surprising a user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.commands import SPECS, CommandSpec
from bot.handlers import knowledge, privacy, process, tickets
from bot.handlers.base import Handler

MODULES: tuple[tuple[str, Mapping[str, Handler]], ...] = tuple(
    (m.__name__, m.HANDLERS) for m in (tickets, process, knowledge, privacy))


class HandlerTableError(RuntimeError):
    """The handler modules and the grammar disagree; the message names the command."""


def merge(tables: Iterable[tuple[str, Mapping[str, Handler]]]) -> dict[str, Handler]:
    """One table from (module name, handlers) pairs; a command handled twice is an error."""
    merged: dict[str, Handler] = {}
    owner: dict[str, str] = {}
    for module, handlers in tables:
        for name, fn in handlers.items():
            if name in merged:
                raise HandlerTableError(f"command {name!r} is handled in both {owner[name]} and {module}")
            merged[name] = fn
            owner[name] = module
    return merged


def problems(table: Mapping[str, Handler], specs: Iterable[CommandSpec]) -> list[str]:
    """Every way the table fails to give each grammar command exactly one handler."""
    names = [s.name for s in specs]
    found = [f"command {n!r} is in the grammar but has no handler" for n in names if n not in table]
    found += [f"handler {n!r} has no command in the grammar" for n in table if n not in names]
    return found


def build(modules: Iterable[tuple[str, Mapping[str, Handler]]] = MODULES,
          specs: Iterable[CommandSpec] = SPECS) -> dict[str, Handler]:
    table = merge(modules)
    wrong = problems(table, specs)
    if wrong:
        raise HandlerTableError("; ".join(wrong))
    return table


HANDLERS: dict[str, Handler] = build()
