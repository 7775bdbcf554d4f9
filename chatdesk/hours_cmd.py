"""`chatdesk hours export`: the month's time entries and a per-customer summary, for billing.

`--format csv` (the default) prints the entries as one table, then an empty line, then the
summary as a second table; `--format json` prints {"month", "entries", "customers"}. Dates
and times are in each customer's contract calendar zone; minutes are whole minutes, negative
for a correction. Bad input prints one line on stderr naming the option and exits 1.
"""

import json
import sys
from typing import Annotated, Any, NoReturn

import typer

FORMATS = ("csv", "json")
ENTRY_COLUMNS = ("customer", "ticket", "title", "type", "date", "time", "person", "minutes", "billable", "note")
SUMMARY_COLUMNS = ("customer", "name", "included_minutes", "used_minutes", "over_minutes", "remaining_minutes",
                   "nonbillable_minutes")

hours_app = typer.Typer(help="Hours logged on tickets and the contracts' hour banks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(hours_app, name="hours")


@hours_app.command("export")
def export(
    month: Annotated[str, typer.Option("--month", metavar="YYYY-MM", help="The contract month, e.g. 2026-12.")],
    customer: Annotated[str | None, typer.Option("--customer", metavar="KEY", help="One customer, e.g. ACME.")]
    = None,
    fmt: Annotated[str, typer.Option("--format", metavar="csv|json", help="Output format.")] = "csv",
) -> None:
    """One row per time entry of the month, and each customer's included, used and over."""
    import asyncio

    from bot.hours import parse_month
    from bot.timelog import export_month
    from chatdesk.cli import _with_db, settings

    if fmt not in FORMATS:
        _fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        month = parse_month(month)
    except ValueError as exc:
        _fail(f"--month: {exc}")
    url = settings().database_url
    try:
        data = asyncio.run(_with_db(url, lambda: export_month(month, customer)))
    except ValueError as exc:
        _fail(str(exc))
    sys.stdout.write(render(data, fmt))


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import csv
    import io

    buffer = io.StringIO()
    entries = csv.DictWriter(buffer, fieldnames=ENTRY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    entries.writeheader()
    for row in data["entries"]:
        entries.writerow({**row, "billable": "yes" if row["billable"] else "no"})
    buffer.write("\n")
    summary = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    summary.writeheader()
    for row in data["customers"]:
        summary.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)
