"""The `chatdesk` command line."""

import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from chatdesk.lazy import LazyGroup

if TYPE_CHECKING:
    from chatdesk.settings import Settings

T = TypeVar("T")


class _Commands(LazyGroup):
    """Each command imports what it needs when it runs, so `chatdesk --help` and `chatdesk sla due`
    start without loading the ORM, the chat SDKs or the web server; the commands of these modules
    are not even imported until named (`sla due` builds `sla` alone)."""

    lazy = (("socket", "chatdesk.slack_cmd", False), ("reminders", "chatdesk.reminders_cmd", False),
            ("report", "chatdesk.report_cmd", False), ("mail", "chatdesk.mail_cmd", False),
            ("sla", "chatdesk.sla_cmd", True), ("kb", "chatdesk.kb_cmd", True),
            ("manifest", "chatdesk.teams_cmd", True), ("hours", "chatdesk.hours_cmd", True))


app = typer.Typer(cls=_Commands, help="chatdesk: a helpdesk in shared Slack channels and Microsoft Teams.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None)  # plain help: rich's formatting alone costs more than the rest of start-up
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Org config: customers, channels, contracts, calendars, people.", no_args_is_help=True)
tickets_app = typer.Typer(help="What is stored.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(tickets_app, name="tickets")

class _Lazy:
    """A rich Console made on first use (rich takes a while to import)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.console is None:
            from rich.console import Console

            self.console = Console(**self.options)
        return getattr(self.console, name)


out: Any = _Lazy()
err: Any = _Lazy(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def settings() -> "Settings":
    from bot.config import ConfigError
    from chatdesk.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except (SettingsError, ConfigError) as exc:
        raise fail(str(exc)) from None


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    import asyncio

    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def _with_db(url: str, body: Callable[[], Awaitable[T]]) -> T:
    from storage import db

    try:
        await db.init(url)
    except Exception as exc:
        raise fail(f"DATABASE_URL: cannot open the database: {exc}") from None
    try:
        return await body()
    finally:
        await db.close()


@db_app.command("migrate")
def db_migrate() -> None:
    """Create or upgrade the schema."""
    from storage import db

    s = settings()

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            out.print(f"  applied {app_label}.{name}")

    try:
        run(lambda: db.migrate(s.database_url, progress=progress))
    except Exception as exc:
        raise fail(f"migration failed: {exc}") from None
    out.print("Database schema is up to date.")


@config_app.command("apply")
def config_apply(
    file: Annotated[Path, typer.Argument(help="The org config YAML.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the changes and write nothing.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also remove what the file no longer lists.")] = False,
) -> None:
    """Validate FILE and write it to the database; nothing is written if any part is invalid."""
    from bot.config import ConfigError, load_config, require_people_and_customers
    from storage.config_apply import apply_config

    try:
        cfg = load_config(file)
        require_people_and_customers(cfg)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
        err.print(f"{file}: {len(exc.problems)} problem(s), nothing written.", highlight=False)
        raise typer.Exit(1) from None
    s = settings()
    report = run(lambda: _with_db(s.database_url, lambda: apply_config(cfg, prune=prune, dry_run=dry_run)))
    for item in report.kept:
        out.print(f"  kept {item} (not in the file; --prune removes it)", highlight=False)
    verb = "would apply" if dry_run else "applied"
    if not report.changed:
        out.print(f"{file}: no changes{' (dry run)' if dry_run else ''}.", highlight=False)
        return
    for label, items in (("created", report.created), ("updated", report.updated), ("removed", report.removed)):
        for item in items:
            out.print(f"  {'would be ' if dry_run else ''}{label} {item}", highlight=False)
    out.print(f"{file}: {verb} ({len(report.created)} created, {len(report.updated)} updated, "
              f"{len(report.removed)} removed){'; nothing written' if dry_run else ''}.", highlight=False)


@tickets_app.command("list")
def tickets_list(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False) -> None:
    """List stored tickets with status, priority, assignee and deadlines."""

    from storage.queries import ticket_rows

    s = settings()
    rows = run(lambda: _with_db(s.database_url, ticket_rows))
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from chatdesk.tables import emit, ticket_table

    emit(*ticket_table(rows, terminal=sys.stdout.isatty()))


@tickets_app.command("show")
def tickets_show(key: Annotated[str, typer.Argument(help="A ticket key, e.g. ACME-7.")],
                 as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False) -> None:
    """One ticket: its fields and its whole conversation, internal notes marked."""
    from storage.queries import ticket_detail

    s = settings()
    row = run(lambda: _with_db(s.database_url, lambda: ticket_detail(key.upper())))
    if row is None:
        raise fail(f"no ticket {key}")
    if as_json:
        sys.stdout.write(json.dumps(row, indent=2, ensure_ascii=False) + "\n")
        return
    from chatdesk.tables import ticket_text

    sys.stdout.write(ticket_text(row))


@app.command("audit")
def audit(key: Annotated[str, typer.Argument(help="A ticket key, e.g. ACME-7.")],
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Who changed what, when, from which channel."""

    from storage.queries import audit_rows

    s = settings()
    rows = run(lambda: _with_db(s.database_url, lambda: audit_rows(key.upper())))
    if rows is None:
        raise fail(f"no ticket {key}")
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from chatdesk.tables import audit_table, emit

    emit(*audit_table(rows, terminal=sys.stdout.isatty()))


@app.command("console")
def console(as_: Annotated[str, typer.Option("--as", help="customer:ACME, consultant:olli or lead:maija")]
            = "customer:ACME") -> None:
    """Try chatdesk locally: you are a customer, consultant or lead in a local channel."""
    from adapters.console.app import Identity, RoleError, run_console
    from bot.core import Helpdesk

    try:
        identity = Identity.parse(as_)
    except RoleError as exc:
        raise fail(str(exc)) from None
    s = settings()

    async def body() -> None:
        from kb import service as kb_service

        with contextlib.suppress(Exception):  # a knowledge base that fails to load never blocks the console
            await kb_service.ready()  # the saved index: the first ticket already gets its suggestions
        try:
            await run_console(Helpdesk(), identity)
        except RoleError as exc:
            raise fail(str(exc)) from None

    run(lambda: _with_db(s.database_url, body))


@app.command("serve")
def serve(port: Annotated[int | None, typer.Option(help="HTTP port (default: PORT or 3000).")] = None,
          host: Annotated[str, typer.Option(help="Address to listen on: 0.0.0.0 (all, the default), "
                                                  "127.0.0.1 (this machine only), ...")] = "0.0.0.0",
          workers: Annotated[int, typer.Option(help="Processes on one port (PostgreSQL only).")] = 1,
          single_process: Annotated[bool, typer.Option(
              "--single-process", help="Run the background workers in the web server's process instead of "
                                       "a process of their own beside it (one core for both).")] = False,
          role: Annotated[str, typer.Option(hidden=True)] = "",
          reuse_port: Annotated[bool, typer.Option(hidden=True)] = False) -> None:
    """HTTP server: /slack/events, /api/messages, /healthz, /board."""
    from aiohttp import web

    from bot.config import ConfigError, load_config
    from chatdesk import logs
    from chatdesk.server import build_app
    from chatdesk.worker_process import WorkerProcess, run_worker
    from storage import db

    s = settings().model_copy(update={"host": host})
    if role not in ("", "worker"):
        raise fail(f"unknown --role {role!r}")
    if role == "worker":  # the background workers of a `chatdesk serve` (chatdesk/worker_process.py)
        logs.configure(s)
        run_worker(s)
        return
    if workers < 1:
        raise fail("--workers must be at least 1")
    if workers > 1 and not db.is_postgres(s.database_url):
        raise fail("--workers N needs PostgreSQL (DATABASE_URL=postgres://...); SQLite runs one worker")
    if s.config_path:
        try:
            load_config(s.config_path)
        except ConfigError as exc:
            raise fail(f"{s.config_path}: {exc}") from None
    if workers > 1:
        raise typer.Exit(_serve_workers(workers, host, port or s.port))
    logs.configure(s)
    try:
        application = build_app(s, background=None if single_process else WorkerProcess(host))
    except ValueError as exc:  # an adapter's settings that cannot work (the message names the variable)
        raise fail(str(exc)) from None
    web.run_app(application, host=host, port=port or s.port, reuse_port=reuse_port or None,
                access_log=web.access_logger if s.access_log else None,
                print=lambda m: out.print(m))


def _serve_workers(workers: int, host: str, port: int) -> int:
    """N processes share the port (SO_REUSEPORT); the database keeps them exactly-once."""
    import signal
    import subprocess

    argv = [sys.executable, "-m", "chatdesk.cli", "serve", "--host", host, "--port", str(port), "--reuse-port",
            "--single-process"]
    children = [subprocess.Popen(argv) for _ in range(workers)]
    out.print(f"chatdesk: {workers} workers on port {port} (pids {', '.join(str(c.pid) for c in children)})")

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")]
             = False) -> None:
    """chatdesk: a helpdesk in shared Slack channels and Microsoft Teams."""


def main() -> None:
    from chatdesk.errors import report, take_debug_flag

    debug = take_debug_flag(sys.argv)
    if debug:
        app()
        return
    try:
        app(standalone_mode=True)
    except Exception as exc:  # the last resort: one line and exit 1, the traceback only with --debug
        raise SystemExit(report(exc)) from None


if __name__ == "__main__":
    main()
