"""Command handlers: (who, command) in, a list of Reply values out. No chat API is called here.

Each module holds one `HANDLERS` set; `bot.handlers.dispatch` merges them into the one table the
core dispatches on. A new command is a grammar entry in bot/commands.py and one decorated function.
"""

from bot.handlers.base import (
    Env,
    Handler,
    Handlers,
    load_ticket,
    person_for,
    public,
    say,
    store_public,
    triage,
    zone_of,
)

__all__ = ["Env", "Handler", "Handlers", "load_ticket", "person_for", "public", "say", "store_public", "triage",
           "zone_of"]
