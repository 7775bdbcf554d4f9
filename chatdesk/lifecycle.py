"""What the long-running commands share: a stop event set by Ctrl-C or SIGTERM, and opening the database.

Light on purpose (the standard library and typer only; asyncio only once a command runs).
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import asyncio


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT and SIGTERM set, for the running loop (where the platform allows handlers)."""
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def open_database(url: str) -> None:
    """Open the database, or end the command with one line naming the problem."""
    from storage import db

    try:
        await db.init(url)
    except Exception as exc:
        typer.echo(f"error: DATABASE_URL: cannot open the database: {exc}", err=True)
        raise typer.Exit(1) from None
