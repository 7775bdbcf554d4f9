"""`chatdesk mail [--once]`: the mail channel on its own: read the mailbox, send the mail outbox.

`chatdesk serve` runs the same poller beside the chat adapters; this command is for a
mail-only desk, for cron (`--once`), and for trying the mail settings.
"""

from typing import TYPE_CHECKING, Annotated

import typer

# asyncio, the mail adapter, the core and the ORM are imported when the command runs, so that
# `chatdesk --help` and the other commands start without them.
if TYPE_CHECKING:
    from adapters.email.config import MailConfig


def register(app: typer.Typer) -> None:
    app.command("mail")(mail_command)


def mail_command(
    once: Annotated[bool, typer.Option("--once", help="Read the unseen mail once, send the queued mail, exit.")]
    = False,
) -> None:
    """Read the support mailbox (CHATDESK_IMAP_URL) into tickets and send replies by mail (CHATDESK_SMTP_URL)."""
    import asyncio
    import logging

    from chatdesk.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    mail = settings.mail()
    if mail is None or mail.imap is None:
        typer.echo("error: CHATDESK_IMAP_URL: not set (imaps://user:password@host/INBOX); the mail channel is off",
                   err=True)
        raise typer.Exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    code = asyncio.run(_once(settings.database_url, mail) if once else _forever(settings.database_url, mail))
    raise typer.Exit(code)


async def _once(database_url: str, mail: "MailConfig") -> int:
    from adapters.email import app as mail_app
    from bot.clock import SystemClock
    from bot.core import Helpdesk
    from chatdesk.lifecycle import open_database
    from storage import db, outbox

    await open_database(database_url)
    desk = Helpdesk(clock=SystemClock())
    poller = mail_app.poller(mail, desk)
    sender = mail_app.sender(mail)
    assert poller is not None and sender is not None
    try:
        try:
            counts = await poller.poll_once()
        except Exception as exc:
            typer.echo(f"error: reading mail failed: {exc}", err=True)
            return 1
        finally:
            await poller.close()
        sent = 0
        while (n := await outbox.deliver_due({"email": sender}, desk.clock.now())) > 0:
            sent += n
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no unseen mail"
        typer.echo(f"mail: {summary}; {sent} mail(s) sent")
        return 1 if counts.get("failed") else 0
    finally:
        await db.close()


async def _forever(database_url: str, mail: "MailConfig") -> int:
    import asyncio
    import contextlib

    from adapters.email import app as mail_app
    from bot.clock import SystemClock
    from bot.core import Helpdesk
    from chatdesk.lifecycle import open_database, stop_on_signals
    from storage import db, outbox

    await open_database(database_url)
    stop = stop_on_signals()
    wake = asyncio.Event()
    desk = Helpdesk(clock=SystemClock(), on_queued=wake.set)
    sender = mail_app.sender(mail)
    assert sender is not None
    tasks = mail_app.workers(mail, desk, stop)
    tasks.append(asyncio.create_task(outbox.run_worker({"email": sender}, desk.clock, stop, wake=wake)))
    try:
        await stop.wait()
        wake.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(task, timeout=15)
    finally:
        await db.close()
    return 0
