"""Where a Teams channel conversation (a post and its replies) opens in a browser."""

from __future__ import annotations

from urllib.parse import quote, urlencode


def thread_link(tenant: str, conversation: str, message_id: str) -> str:
    """A deep link to the root post of a reply chain (Teams' documented /l/message/ form)."""
    query = urlencode({"tenantId": tenant, "parentMessageId": message_id})
    return f"https://teams.microsoft.com/l/message/{quote(conversation, safe='')}/{quote(message_id, safe='')}?{query}"
