"""`chatdesk reminders`: the SLA reminder worker on its own.

It records warnings and breaches and queues their posts in the outbox; it does not
deliver them, because the senders live in the chat adapters: `chatdesk serve`
(which also runs this worker) delivers what is queued, and the console delivers
its own channel's posts. Several `chatdesk reminders` may run against one
PostgreSQL database; each notice is still queued once. SQLite runs one worker.
"""

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add `chatdesk reminders` to the main CLI."""
    app.command("reminders")(reminders_command)


def reminders_command(
    once: Annotated[bool, typer.Option("--once", help="Run one sweep, print how many notices were queued, exit.")]
    = False,
    interval: Annotated[float, typer.Option(help="Seconds between sweeps.", min=0.1)] = 15.0,
) -> None:
    """The SLA reminder worker alone: queues warnings and breaches (`chatdesk serve` delivers them)."""
    import asyncio

    from chatdesk.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if once:
        count = asyncio.run(_once(settings.database_url))
        typer.echo(f"{count} SLA notice(s) queued")
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_forever(settings.database_url, interval))


async def _once(url: str) -> int:
    from bot import reminders
    from bot.clock import SystemClock
    from bot.core import Helpdesk
    from chatdesk.lifecycle import open_database
    from storage import db

    await open_database(url)
    try:
        return await reminders.tick(Helpdesk(clock=SystemClock()), SystemClock().now())
    finally:
        await db.close()


async def _forever(url: str, interval: float) -> None:
    import logging

    from bot import reminders
    from bot.clock import SystemClock
    from bot.core import Helpdesk
    from chatdesk.lifecycle import open_database, stop_on_signals
    from storage import db

    await open_database(url)
    stop = stop_on_signals()
    logging.getLogger("chatdesk.reminders").info("SLA reminder worker running (every %ss); Ctrl-C stops it",
                                                 interval)
    try:
        await reminders.run(Helpdesk(clock=SystemClock()), stop, interval)
    finally:
        await db.close()
