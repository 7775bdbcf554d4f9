"""`chatdesk report`: backlog, SLA attainment and CSAT per customer, open tickets per person.

`--format json` prints the one object bot/reports.py describes (with how each number
is counted), `--format csv` one row per customer, `--format table`
(the default) two tables. Bad input (a date, --from after --to, an unknown customer, a
format) prints one line on stderr naming the option, exits 1 and prints nothing on stdout.
"""

import io
import json
import sys
from typing import Annotated, Any, NoReturn

import typer

from bot.clock import Clock, SystemClock

FORMATS = ("table", "csv", "json")
clock: Clock = SystemClock()  # "today" and overdue clocks; tests put a fake clock here


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    first: Annotated[str | None, typer.Option("--from", metavar="DATE", help="First day, YYYY-MM-DD (UTC).")] = None,
    last: Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last day, YYYY-MM-DD (default today).")]
    = None,
    customer: Annotated[str | None, typer.Option("--customer", metavar="KEY", help="One customer, e.g. ACME.")]
    = None,
    fmt: Annotated[str, typer.Option("--format", metavar="table|csv|json", help="Output format.")] = "table",
) -> None:
    """SLA attainment, backlog and CSAT; by default for the last 30 days."""
    import asyncio

    from bot.reports import ReportError, build_report, period_for
    from chatdesk.cli import _with_db, settings

    if fmt not in FORMATS:
        _fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    now = clock.now()
    try:
        period = period_for(now, first, last)
    except ReportError as exc:
        _fail(str(exc))
    url = settings().database_url
    try:
        data = asyncio.run(_with_db(url, lambda: build_report(now, period, customer)))
    except ReportError as exc:
        _fail(f"--customer: {exc}")
    sys.stdout.write(render(data, fmt))


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        import csv

        from bot.reports import CSV_COLUMNS, csv_row

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for entry in data["customers"]:
            writer.writerow(csv_row(entry))
        return buffer.getvalue()
    return tables(data)


def tables(data: dict[str, Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    from bot.config import METRICS

    period = data["period"]
    customers = Table("customer", "open", "resolved", "first response", "next response", "resolution",
                      "median first response (business min)", "CSAT",
                      title=f"Customers {period['from']} – {period['to']} (UTC days)")
    for entry in data["customers"]:
        sla = entry["sla"]
        csat = entry["csat"]
        median = entry["median_first_response_minutes"]
        customers.add_row(
            entry["customer"], str(entry["open"]), str(entry["resolved"]),
            *(f"{sla[m]['met']} met / {sla[m]['missed']} missed" for m in METRICS),
            "—" if median is None else str(median),
            f"{csat['mean']} ({csat['count']})" if csat["count"] else "—",
        )
    people = Table("person", "open", title="Open tickets per person")
    for row in data["consultants"]:
        people.add_row(row["person"], str(row["open"]))
    console = Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)
    console.print(customers)
    console.print(people)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)
