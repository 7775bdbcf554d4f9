"""The command table: each grammar command has exactly one handler, and a clash stops start-up."""

from __future__ import annotations

import pytest

from bot.commands import SPECS, Command, _spec
from bot.handlers.base import Env, Handlers
from bot.handlers.dispatch import HANDLERS, MODULES, HandlerTableError, build, merge, problems
from bot.types import Reply


async def _noop(env: Env, cmd: Command) -> list[Reply]:
    return []


def test_every_grammar_command_has_exactly_one_handler() -> None:
    names = [s.name for s in SPECS]
    assert sorted(HANDLERS) == sorted(names)
    for name in names:
        owners = [module for module, handlers in MODULES if name in handlers]
        assert len(owners) == 1, f"{name} is handled in {owners}"


def test_two_modules_handling_one_command_is_refused() -> None:
    with pytest.raises(HandlerTableError, match="'show' is handled in both a and b"):
        merge([("a", {"show": _noop}), ("b", {"show": _noop})])


def test_a_grammar_command_without_a_handler_is_refused() -> None:
    specs = (*SPECS, _spec("frobnicate", "", frozenset({"lead"}), "x", "frobnicate"))
    assert problems(HANDLERS, specs) == ["command 'frobnicate' is in the grammar but has no handler"]
    with pytest.raises(HandlerTableError, match="frobnicate"):
        build(MODULES, specs)


def test_a_handler_without_a_grammar_command_is_refused() -> None:
    with pytest.raises(HandlerTableError, match="handler 'frobnicate' has no command"):
        build((*MODULES, ("extra", {"frobnicate": _noop})))


def test_one_module_cannot_register_a_command_twice() -> None:
    handlers = Handlers()
    handlers.command("show")(_noop)
    with pytest.raises(ValueError, match="two handlers"):
        handlers.command("show")(_noop)
