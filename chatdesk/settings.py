"""One typed settings object from the environment (DESIGN.md section 3), validated at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from adapters.email.settings import MailSettings, MailSettingsError
from bot.config import ConfigError, OrgConfig, load_config
from storage.db import DEFAULT_DATABASE_URL


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    microsoft_app_id: str = ""
    microsoft_app_password: str = ""
    microsoft_app_tenant_id: str = ""
    port: int = 3000
    mail: MailSettings | None = None  # the mail channel (CHATDESK_IMAP_URL, CHATDESK_SMTP_URL ...); None = off

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    def org_config(self) -> OrgConfig | None:
        return load_config(self.config_path) if self.config_path else None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        config = env.get("CHATDESK_CONFIG")
        if config:
            path: Path | None = Path(config)
            if not path.is_file():  # type: ignore[union-attr]
                raise SettingsError(f"CHATDESK_CONFIG: no such file {config!r}")
        else:
            path = Path("chatdesk.yaml") if Path("chatdesk.yaml").is_file() else None
        port_text = env.get("PORT", "3000")
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            raise SettingsError(f"PORT: {port_text!r} is not a port number (1-65535)") from None
        url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise SettingsError(f"DATABASE_URL: {url.split(':', 1)[0]!r} is not sqlite:// or postgres://")
        if bool(env.get("SLACK_BOT_TOKEN")) != bool(env.get("SLACK_SIGNING_SECRET")) and not env.get(
            "SLACK_APP_TOKEN"
        ):
            missing = "SLACK_SIGNING_SECRET" if env.get("SLACK_BOT_TOKEN") else "SLACK_BOT_TOKEN"
            raise SettingsError(f"{missing}: Slack over HTTP needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        api = env.get("SLACK_API_URL") or "https://slack.com/api/"
        if not api.endswith("/"):
            api += "/"
        try:
            mail = MailSettings.from_env(env)
        except MailSettingsError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            mail=mail, database_url=url, config_path=path, slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None, slack_api_url=api,
            microsoft_app_id=env.get("MICROSOFT_APP_ID", ""),
            microsoft_app_password=env.get("MICROSOFT_APP_PASSWORD", ""),
            microsoft_app_tenant_id=env.get("MICROSOFT_APP_TENANT_ID", ""), port=port,
        )


__all__ = ["ConfigError", "Settings", "SettingsError"]
