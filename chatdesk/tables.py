"""CLI tables: folded to the terminal's width for people, plain tab-separated rows for pipes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Column:
    header: str
    keep: bool = False  # never folded (keys, timestamps): it keeps its full width
    ratio: int | None = None  # share of the width left over, for free text


def plain(value: Any) -> str:
    """One TSV cell: no tab or line break can split a row."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("\t", " ").split())


def emit(columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, stream: TextIO | None = None,
         terminal: bool | None = None, width: int | None = None) -> None:
    stream = stream or sys.stdout
    if terminal is None:
        terminal = stream.isatty()
    if not terminal:
        stream.write("\t".join(c.header for c in columns) + "\n")
        for row in rows:
            stream.write("\t".join(plain(v) for v in row) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_edge=False, padding=(0, 1),
                  collapse_padding=True)
    for c in columns:
        table.add_column(c.header, no_wrap=c.keep, overflow="fold", ratio=c.ratio)
    for row in rows:
        table.add_row(*("—" if v is None or v == "" else str(v) for v in row))
    Console(file=stream, width=width, highlight=False, force_terminal=terminal).print(table)


def short_time(iso: str | None) -> str | None:
    """2026-11-23T07:00:00Z -> 2026-11-23 07:00 (the header says UTC)."""
    if not iso:
        return None
    return iso.replace("T", " ")[:16]


def detail_text(detail: Any) -> str:
    """An audit row's detail as a reader says it: `P3 → P1`, `reason: ...`."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    parts = []
    rest = dict(detail)
    if "from" in rest or "to" in rest:
        old, new = rest.pop("from", None), rest.pop("to", None)
        parts.append(f"{'—' if old is None else old} → {'—' if new is None else new}")
    for key, value in rest.items():
        if value is None or value == "":
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


Rows = tuple[list[Column], list[tuple[Any, ...]]]


def ticket_table(rows: list[dict[str, Any]], *, terminal: bool) -> Rows:
    """`tickets list`: the columns that fit 80 characters for a person, every field for a pipe."""
    if terminal:
        return ([Column("key", keep=True), Column("customer", keep=True), Column("status"), Column("pri", keep=True),
                 Column("assignee"), Column("resolution due (UTC)", keep=True), Column("title", ratio=1)],
                [(r["key"], r["customer"], r["status"].replace("_", " "), r["priority"], r["assignee"],
                  short_time(r["deadlines"]["resolution"]), r["title"]) for r in rows])
    return ([Column(h) for h in ("key", "customer", "type", "status", "priority", "assignee", "messages",
                                 "resolution_due", "title")],
            [(r["key"], r["customer"], r["type"], r["status"], r["priority"], r["assignee"], r["messages"],
              r["deadlines"]["resolution"], r["title"]) for r in rows])


def audit_table(rows: list[dict[str, Any]], *, terminal: bool) -> Rows:
    """`audit KEY`: when, who, where, what and the change in words."""
    return ([Column("when (UTC)" if terminal else "at", keep=True), Column("who"), Column("channel"),
             Column("what", keep=True), Column("detail", ratio=1)],
            [(short_time(r["at"]) if terminal else r["at"], r["actor"], r["channel"], r["action"],
              detail_text(r["detail"])) for r in rows])


def ticket_text(row: dict[str, Any]) -> str:
    """`tickets show KEY` for a person or a pipe: the fields, then one line per message (UTC)."""
    due = row["deadlines"]
    lines = [f"{row['key']}  {row['title']}",
             f"customer {row['customer']} · {row['type'].replace('_', ' ')} · {row['status'].replace('_', ' ')} · "
             f"{row['priority']} · assignee {row['assignee'] or '—'}",
             f"due (UTC): first response {short_time(due['first_response']) or '—'} · "
             f"resolution {short_time(due['resolution']) or '—'}",
             "", f"conversation ({len(row['conversation'])} messages, times UTC):"]
    for m in row["conversation"]:
        mark = " [internal note]" if m["internal"] else ""
        text = " ".join(m["text"].split()) or "(no text)"
        lines.append(f"{short_time(m['at'])}  {m['author']}{mark}: {text}")
    return "\n".join(lines) + "\n"
