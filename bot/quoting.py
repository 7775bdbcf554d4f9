"""Text a customer or contact wrote, made inert before chatdesk re-posts it.

Replies are written in chatdesk's markup, which is Slack's: `*bold*`, `<url|label>` links,
and `&amp;` `&lt;` `&gt;` for the three characters that would otherwise start one. Quoting
customer text escapes those three, so a `<!here>`, `<!channel>`, `<!subteam^...>`, `<@U...>`
or `<https://evil|Click to verify>` in it shows as typed and pings or links nobody. Renderers
turn the entities back into characters in their own safe way (Teams also breaks `<at>` and
markdown links). What is stored stays as the customer wrote it; only what is re-posted is
quoted. Cutting quoted text never splits an entity.
"""

from __future__ import annotations

import re

ENTITY = re.compile(r"&(?:amp|lt|gt);")
_PLAIN = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
ELLIPSIS = "…"
TITLE_SHOWN = 150  # characters of a quoted ticket title in a post (Slack's header limit)


def quote(text: str | None) -> str:
    """Customer-written text as inert markup."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(markup: str) -> str:
    """Markup's entities as the characters they stand for (for plain-text renderings)."""
    return ENTITY.sub(lambda m: _PLAIN[m.group(0)], markup)


def safe_end(markup: str, limit: int) -> int:
    """The largest index <= limit at which markup can be cut without splitting an entity."""
    if limit >= len(markup):
        return len(markup)
    start = markup.rfind("&", max(0, limit - 4), limit)
    if start != -1:
        match = ENTITY.match(markup, start)
        if match and match.end() > limit:
            return start
    return max(0, limit)


def cut(markup: str, limit: int) -> str:
    """Markup of at most `limit` characters, an ellipsis marking a cut, never inside an entity."""
    if len(markup) <= limit:
        return markup
    return markup[: safe_end(markup, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def title(raw: str, limit: int = TITLE_SHOWN) -> str:
    """A ticket title (customer-written) quoted, then cut on a character boundary."""
    return cut(quote(raw), limit)
