"""`chatdesk kb import` and `chatdesk kb search`: the knowledge base from the command line.

`kb search --json -` is the batch form for scripts and evaluations: one query per stdin
line, one JSON array per stdout line, in the same order, flushed after every line so a
caller can feed queries and read answers one at a time.
"""

import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:  # the commands import these when they run: `chatdesk --help` starts fast
    from rich.console import Console

    from kb.importer import ImportReport
    from kb.index import Suggestion

T = TypeVar("T")

PROGRESS_FROM = 50  # show a progress bar when importing at least this many files


def register(app: typer.Typer) -> None:
    """Add the `kb` command group (import, search, questions) to the main CLI."""
    kb_app = typer.Typer(help="Knowledge base: import Markdown articles, search them.", no_args_is_help=True)
    kb_app.command("import")(import_command)
    kb_app.command("search")(search_command)
    kb_app.command("questions")(questions_command)
    app.add_typer(kb_app, name="kb")


def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="Markdown files or folders (searched recursively for *.md)."),
    ],
) -> None:
    """Import articles; an id seen before is updated, not duplicated."""
    from rich.console import Console

    from kb.importer import MissingPathError, collect

    try:
        files = collect(paths)
    except MissingPathError as exc:
        _fail(f"kb import: {exc}")
    if not files:
        _fail("kb import: no Markdown files (*.md) found in " + ", ".join(str(p) for p in paths))
    report = _run(_import(files))
    console = Console()
    for skipped in report.skipped:
        typer.echo(f"skipped {skipped}", err=True)
    _print_report(console, report)
    if report.found == 0:
        _fail("kb import: nothing importable found in " + ", ".join(str(p) for p in paths))


async def _import(files: list[Path]) -> "ImportReport":
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from kb import service
    from storage import db

    async with db.database():
        if len(files) < PROGRESS_FROM:
            return await service.import_paths(files)
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("import", total=len(files))
            return await service.import_paths(files, progress=lambda _: progress.advance(task))


def _print_report(console: "Console", report: "ImportReport") -> None:
    from rich.table import Table

    table = Table(title="kb import")
    table.add_column("result")
    table.add_column("articles", justify="right")
    table.add_row("imported (new)", str(len(report.imported)))
    table.add_row("updated", str(len(report.updated)))
    table.add_row("unchanged", str(len(report.unchanged)))
    table.add_row("skipped files", str(len(report.skipped)))
    console.print(table)
    if report.skipped:
        skipped = Table(title="skipped")
        skipped.add_column("file", overflow="fold")
        skipped.add_column("reason", overflow="fold")
        for item in report.skipped:
            skipped.add_row(item.path, item.reason)
        console.print(skipped)


def search_command(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for; '-' with --json reads stdin.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most this many articles.")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print [{"id", "title", "score", "matched"}], best first.')
    ] = False,
) -> None:
    """Suggest articles for a question; nothing when no article is relevant enough."""
    if query == "-":
        if not as_json:
            _fail("kb search: reading queries from stdin ('-') needs --json")
        _run(_batch(limit))
        return
    results = _run(_search(query, limit))
    if as_json:
        typer.echo(_json(results))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not results:
        console.print("No relevant articles.")
        return
    table = Table(title=f"kb search: {query}")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("title", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("matched", overflow="fold")
    for number, hit in enumerate(results, start=1):
        table.add_row(str(number), hit.id, hit.title, f"{hit.score:.2f}", ", ".join(hit.matched))
    console.print(table)


async def _search(query: str, limit: int) -> "list[Suggestion]":
    from kb import service
    from storage import db

    async with db.database():
        await service.ready()  # the saved index, brought up to date; built only when there is none
        return await service.search(query, limit)


async def _batch(limit: int) -> None:
    from kb import service
    from storage import db

    async with db.database():
        await service.ready()
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            results = await service.search(line.rstrip("\r\n"), limit)
            sys.stdout.write(_json(results) + "\n")
            sys.stdout.flush()


def _run(work: Coroutine[Any, Any, T]) -> T:
    import asyncio

    from tortoise.exceptions import DBConnectionError, OperationalError

    try:
        return asyncio.run(work)
    except (OperationalError, DBConnectionError) as exc:
        _fail(f"kb: the database is not ready ({exc}); run `chatdesk db migrate` first")


def _json(results: "list[Suggestion]") -> str:
    return json.dumps(
        [{"id": r.id, "title": r.title, "score": r.score, "matched": list(r.matched)} for r in results],
        ensure_ascii=False,
    )


def questions_command(
    article: Annotated[str, typer.Argument(metavar="ARTICLE", help="The article id.")],
    remove: Annotated[
        int | None, typer.Option("--remove", metavar="N", help="Forget alternate question N.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print [{"id", "text", "source", "ticket"}].')] = False,
) -> None:
    """An article's alternate questions, learnt from the tickets it answered."""
    from rich.console import Console
    from rich.table import Table

    rows = _run(_questions(article, remove))
    if remove is not None:
        typer.echo(f"question {remove} removed from {article}")
        return
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        typer.echo(f"{article} has no alternate questions yet.")
        return
    table = Table(title=f"kb questions: {article}")
    for column in ("id", "question", "source", "ticket", "added"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row["id"]), row["text"], row["source"], row["ticket"] or "", row["created_at"])
    Console().print(table)


async def _questions(article: str, remove: int | None) -> list[dict[str, Any]]:
    from kb import service
    from storage import db
    from storage.models import Ticket

    async with db.database():
        if not await service.article_exists(article):
            _fail(f"kb questions: no article '{article}'")
        if remove is not None:
            if not await service.remove_question(article, remove):
                _fail(f"kb questions: {article} has no question {remove}")
            return []
        rows = await service.questions(article)
        keys = dict(
            await Ticket.filter(id__in=[r.ticket_id for r in rows if r.ticket_id]).values_list("id", "key")
        )
        return [
            {"id": r.id, "text": r.text, "source": r.source, "ticket": keys.get(r.ticket_id) if r.ticket_id else None,
             "created_at": r.created_at.isoformat()}
            for r in rows
        ]


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)
