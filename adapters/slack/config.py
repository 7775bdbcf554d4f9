"""What the Slack adapter needs from the environment, and nothing more (chatdesk builds it)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None  # Socket Mode only
    api_url: str = DEFAULT_API_URL

    @property
    def http_enabled(self) -> bool:
        """POST /slack/events needs both the bot token and the signing secret."""
        return bool(self.bot_token and self.signing_secret)
