"""Reply -> plain text lines for the terminal."""

from __future__ import annotations

from bot.quoting import plain
from bot.types import Reply


def render(reply: Reply, where: str) -> str:
    head = f"[{where}] chatdesk: "
    body = reply.text
    if reply.fields:
        body += "".join(f"\n    {f.label}: {f.value}" for f in reply.fields)
    if reply.buttons:
        labels = []
        for b in reply.buttons:
            hint = f" <{b.needs_input}>" if b.needs_input else ""
            labels.append(f"[{b.label}: /helpdesk {b.command}{hint}]")
        body += "\n    " + " ".join(labels)
    return head + plain(body).replace("\n", "\n  ")
