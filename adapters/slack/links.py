"""Where a Slack thread opens in a browser."""

from __future__ import annotations

from urllib.parse import quote


def thread_link(team: str, channel: str, thread: str) -> str:
    """The web client's thread view; Slack redirects it to the desktop app when one is installed."""
    return (f"https://app.slack.com/client/{quote(team, safe='')}/{quote(channel, safe='')}"
            f"/thread/{quote(channel, safe='')}-{quote(thread, safe='')}")
