"""`chatdesk sla due`: the deadline a target of business minutes gives on a calendar.

Every input problem ends the same way: one line on stderr naming the bad key or
value, exit code 1, and nothing on stdout, so a script never mistakes an error for
a deadline.
"""

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:  # imported when the command runs: `chatdesk --help` does not load the calendar code
    from bot.sla import Calendar


class InputError(Exception):
    """Bad command-line input; the message names the option, key or value."""


def register(app: typer.Typer) -> None:
    """Add the `sla` command group (with `due`) to the main CLI."""
    sla_app = typer.Typer(help="Business-time SLA arithmetic on contract calendars.", no_args_is_help=True)
    sla_app.command("due")(due)
    app.add_typer(sla_app, name="sla")


def due(
    calendar: Annotated[
        str | None,
        typer.Option(
            "--calendar",
            metavar="FILE",
            help="Required. YAML file with one calendar (timezone, hours, holidays),"
            " or `calendars:` with one entry.",
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="ISO",
            help="Required. When the clock starts, ISO-8601;"
            " without an offset it is read in the calendar's zone.",
        ),
    ] = None,
    minutes: Annotated[
        str | None,
        typer.Option("--minutes", metavar="N", help="Required. Target in business minutes (a number >= 0)."),
    ] = None,
    pause: Annotated[
        list[str] | None,
        typer.Option("--pause", metavar="ISO/ISO", help="A span when the clock was stopped; repeatable."),
    ] = None,
) -> None:
    """Print the deadline as ISO-8601 UTC ending in Z."""
    try:
        deadline = compute_due(calendar, start, minutes, pause or [])
    except InputError as exc:
        _fail(str(exc))
    typer.echo(format_utc(deadline))


def compute_due(calendar: str | None, start: str | None, minutes: str | None, pauses: list[str]) -> datetime:
    """Validate the options and compute the deadline; raises InputError on bad input."""
    from bot.sla import CalendarError, add_business_minutes

    if calendar is None:
        raise InputError("--calendar: required (a YAML file with timezone, hours and holidays)")
    if start is None:
        raise InputError("--start: required (an ISO-8601 time, e.g. 2026-12-28T09:00:00+02:00)")
    if minutes is None:
        raise InputError("--minutes: required (business minutes, a number >= 0)")
    cal = load_calendar(calendar)
    target = parse_minutes(minutes)
    begin = parse_time(cal, start, "--start")
    spans = [parse_pause(cal, value) for value in pauses]
    try:
        return add_business_minutes(cal, begin, target, spans)
    except CalendarError as exc:
        raise InputError(f"{calendar}: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{'--pause' if spans else '--minutes'}: {exc}") from None


def load_calendar(file: str) -> "Calendar":
    import yaml

    from bot.sla import Calendar, CalendarError

    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"--calendar {file}: cannot read the file: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"--calendar {file}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, Mapping):
        raise InputError(f"--calendar {file}: expected a mapping with timezone, hours and holidays")
    path = ""
    if "calendars" in data:
        calendars = data["calendars"]
        if not isinstance(calendars, Mapping) or len(calendars) != 1:
            found = ", ".join(str(name) for name in calendars) if isinstance(calendars, Mapping) else ""
            raise InputError(
                f"{file}: calendars: expected exactly one calendar" + (f", found: {found}" if found else "")
            )
        ((name, data),) = calendars.items()
        path = f"calendars.{name}"
    try:
        return Calendar.from_config(data, path)
    except CalendarError as exc:
        raise InputError(f"{file}: {exc}") from None


def parse_minutes(value: str) -> float:
    from bot.sla import MAX_MINUTES

    try:
        number = float(value)
    except ValueError:
        raise InputError(f"--minutes: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(f"--minutes: {value!r} must be a number >= 0")
    if number > MAX_MINUTES:
        raise InputError(f"--minutes: {value!r} is more than the limit of {MAX_MINUTES} business minutes")
    return number


def parse_time(cal: "Calendar", value: str, option: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not an ISO-8601 time (e.g. 2026-12-28T09:00:00Z)") from None
    if parsed.tzinfo is None:
        return cal.localize(parsed)
    return parsed.astimezone(UTC)


def parse_pause(cal: "Calendar", value: str) -> tuple[datetime, datetime]:
    parts = value.split("/")
    if len(parts) != 2:
        raise InputError(f"--pause: {value!r} must be two ISO-8601 times joined by '/' (START/END)")
    begin = parse_time(cal, parts[0], f"--pause {value}")
    end = parse_time(cal, parts[1], f"--pause {value}")
    if end < begin:
        raise InputError(f"--pause: {value!r} ends before it starts")
    return begin, end


def format_utc(moment: datetime) -> str:
    """ISO-8601 UTC to the second, ending in Z (rounded to the nearest second)."""
    utc = moment.astimezone(UTC)
    if utc.microsecond >= 500_000 and utc < datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1):
        utc += timedelta(seconds=1)
    return utc.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)
