"""The command modules load on demand (chatdesk/lazy.py) and the CLI still shows and finds every command."""

from __future__ import annotations

import re
import sys
import types

import pytest
import typer
from typer.testing import CliRunner

from chatdesk import cli
from chatdesk.lazy import LazyGroup

runner = CliRunner()
ALL_COMMANDS = ["audit", "console", "serve", "socket", "reminders", "report", "mail",
                "db", "config", "tickets", "sla", "kb", "manifest", "hours"]


def listed_commands(help_text: str) -> list[str]:
    section = help_text.split("Commands:", 1)[1]
    return re.findall(r"^  (\S+)", section, flags=re.M)


def test_help_lists_every_command_single_commands_before_groups() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    assert listed_commands(result.output) == ALL_COMMANDS
    assert "Business-time SLA arithmetic on contract calendars." in result.output  # a lazy group's help


@pytest.mark.parametrize(("name", "module", "is_group"), cli._Commands.lazy)
def test_each_lazy_command_builds_as_declared(name: str, module: str, is_group: bool) -> None:
    result = runner.invoke(cli.app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: root {name} [OPTIONS]")
    assert ("Commands:" in result.output) == is_group


def test_lazy_group_runs_its_command() -> None:
    result = runner.invoke(cli.app, ["sla", "due", "--calendar", "/nonexistent/calendar.yaml",
                                     "--start", "2026-12-28T09:00:00+02:00", "--minutes", "90"])
    assert result.exit_code == 1
    assert "cannot read the file" in result.output


def test_a_typo_is_matched_against_the_lazy_commands_too() -> None:
    result = runner.invoke(cli.app, ["hour"])
    assert result.exit_code == 2
    assert "Did you mean 'hours'?" in result.output


def test_a_module_that_does_not_register_its_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("empty_cmd")
    module.register = lambda app: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "empty_cmd", module)

    class Broken(LazyGroup):
        lazy = (("nothing", "empty_cmd", False),)

    app = typer.Typer(cls=Broken, add_completion=False)

    @app.callback()
    def root() -> None:
        """Root."""

    result = runner.invoke(app, ["nothing"])
    assert isinstance(result.exception, LookupError)
    assert "empty_cmd.register() did not add the command 'nothing'" in str(result.exception)


@pytest.mark.parametrize("module", ["chatdesk.cli", *(m for _, m, _ in cli._Commands.lazy)])
def test_command_modules_keep_their_annotations_evaluated(module: str) -> None:
    """typer compiles and evaluates string annotations twice per option: 26 ms instead of 6 for --help."""
    import importlib

    assert not hasattr(importlib.import_module(module), "annotations"), f"{module}: from __future__ import annotations"
