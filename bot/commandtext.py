"""Commands quoted in the core's texts, in one canonical form each adapter renders in its own syntax.

The core writes a command as `` `/helpdesk claim ACME-7` ``; Slack and the console show it as is,
Teams as `` `@Helpdesk claim ACME-7` `` (a Teams user cannot type a slash command).
"""

from __future__ import annotations

import re

CANONICAL = "/helpdesk"
QUOTED = re.compile(r"`/helpdesk(?=[\s`])([^`]*)`")
BARE = re.compile(r"(?<![\w/`])/helpdesk\b")


def render_commands(text: str, prefix: str) -> str:
    """Every quoted command (and any bare `/helpdesk`) with `prefix` instead, e.g. "@Helpdesk"."""
    if CANONICAL not in text:
        return text
    text = QUOTED.sub(lambda m: f"`{prefix}{m.group(1)}`", text)
    return BARE.sub(prefix, text)
