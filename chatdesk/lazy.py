"""A command group whose commands from other modules are imported and built only when asked for.

typer turns every registered command into a click command before it parses anything, so
`chatdesk sla due` used to import every command module and inspect every command's
signature. Here `sla due` imports and builds `sla` alone; `--help` and a mistyped command
name (for "Did you mean ...") still see every command, in the same order as before.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
import typer.main
from typer.core import TyperGroup


class LazyGroup(TyperGroup):
    """`lazy` lists (name, module, is_group); the module's `register(app)` adds that command to `app`."""

    lazy: ClassVar[tuple[tuple[str, str, bool], ...]] = ()
    _loaded: dict[str, Any]

    def _lazy_names(self) -> dict[str, str]:
        return {name: module for name, module, _ in self.lazy}

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        module = self._lazy_names().get(cmd_name)
        if module is None:
            return None
        if not hasattr(self, "_loaded"):
            self._loaded = {}
        if cmd_name not in self._loaded:
            holder = typer.Typer(rich_markup_mode=self.rich_markup_mode, pretty_exceptions_enable=False,
                                 add_completion=False, suggest_commands=self.suggest_commands)
            importlib.import_module(module).register(holder)
            built = typer.main.get_group(holder).commands
            if cmd_name not in built:
                raise LookupError(f"{module}.register() did not add the command {cmd_name!r}")
            self._loaded[cmd_name] = built[cmd_name]
        return self._loaded[cmd_name]

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands before groups, each in the order they were declared (typer's own order)."""
        lazy = self._lazy_names()
        eager = [name for name in super().list_commands(ctx) if name not in lazy]
        groups = [name for name in eager if isinstance(self.commands[name], TyperGroup)]
        singles = [name for name in eager if name not in groups]
        return [*singles, *(n for n, _, is_group in self.lazy if not is_group), *groups,
                *(n for n, _, is_group in self.lazy if is_group)]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and self.get_command(ctx, args[0]) is None:  # a typo: the suggestions consider every command
            for name in self._lazy_names():
                self.commands.setdefault(name, self.get_command(ctx, name))
        return super().resolve_command(ctx, args)
