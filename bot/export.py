"""A privacy export cut into direct messages that every platform delivers whole.

Parts are measured in bytes as they travel, not in characters: the quoted text (a customer's
`<` becomes `&lt;`) escaped as JSON with non-ASCII characters as `\\uXXXX`, which is the most
any platform's wire format makes of it, plus a few bytes for each `<` a renderer may break up
(Teams). PART_BYTES keeps each part's message well under Teams' 28 KB per message; in
characters that is also far below Slack's 40,000 per message and, split into 3,000-character
sections, its 50 blocks. Cuts fall between lines where they can, never inside a character
or an escape, and the parts put together are the export, byte for byte.
"""

from __future__ import annotations

import json
from functools import lru_cache

from bot.quoting import quote

PART_BYTES = 20_000  # wire bytes of one part's text; Teams refuses messages over 28 KB
FRAME = "Your data stored by chatdesk (part 999/999):\n``````"  # what each message adds around its part


@lru_cache(maxsize=4096)
def _cost(character: str) -> int:
    quoted = quote(character)
    return len(json.dumps(quoted)) - 2 + 3 * quoted.count("&lt;")


def wire_bytes(text: str) -> int:
    """The most bytes `text` (raw, before quoting) takes as the text of a posted message."""
    return sum(_cost(c) for c in text)


def parts(blob: str, budget: int = PART_BYTES) -> list[str]:
    """The export in pieces of at most `budget` wire bytes each (a frame included)."""
    room = budget - wire_bytes(FRAME)
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in blob.splitlines(keepends=True):
        cost = wire_bytes(line)
        if size + cost > room and current:
            pieces.append("".join(current))
            current, size = [], 0
        if cost <= room:
            current.append(line)
            size += cost
            continue
        for character in line:  # a line longer than a part: cut between characters
            c = _cost(character)
            if size + c > room:
                pieces.append("".join(current))
                current, size = [], 0
            current.append(character)
            size += c
    if current or not pieces:
        pieces.append("".join(current))
    return pieces
