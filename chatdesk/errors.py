"""One line naming the problem and its fix instead of a traceback (`--debug` brings it back)."""

from __future__ import annotations

import re
import sys

_MISSING_TABLE = re.compile(r"no such table|relation \"[^\"]+\" does not exist|UndefinedTable", re.I)
_MISSING_COLUMN = re.compile(r"no such column|column \"[^\"]+\" does not exist|has no column named", re.I)
_CONNECT = re.compile(r"connection refused|could not connect|Connect call failed|Name or service not known"
                      r"|nodename nor servname|password authentication failed|database \"[^\"]+\" does not exist"
                      r"|unable to open database file", re.I)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def explain(exc: BaseException) -> str:
    """The one line a person reads: what went wrong and what to do about it."""
    text = " | ".join(f"{type(e).__name__}: {e}" for e in _chain(exc))
    if _MISSING_TABLE.search(text) or _MISSING_COLUMN.search(text):
        return "database not migrated: run chatdesk db migrate"
    if _CONNECT.search(text) or any(isinstance(e, ConnectionError) for e in _chain(exc)):
        detail = str(_chain(exc)[-1]).strip() or type(_chain(exc)[-1]).__name__
        return f"cannot open the database named by DATABASE_URL ({detail}): check the URL and that the server runs"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{first} (run again with --debug for the details)"


def take_debug_flag(argv: list[str]) -> bool:
    """`--debug` may stand anywhere on the command line; it is removed before the commands parse it."""
    if "--debug" not in argv[1:]:
        return False
    argv[1:] = [a for a in argv[1:] if a != "--debug"]
    return True


def report(exc: BaseException) -> int:
    sys.stderr.write(f"error: {explain(exc)}\n")
    return 1
