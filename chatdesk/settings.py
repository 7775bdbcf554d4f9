"""One typed settings object from the environment (the README's Environment table), validated at start-up.

`Settings(...)` is exactly the values it is given (code and tests build it so); `Settings.from_env()`
reads the environment through pydantic-settings and turns the first invalid value into a
SettingsError naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from adapters.email.config import MailConfig, MailConfigError
from adapters.slack.config import DEFAULT_API_URL, SlackConfig
from adapters.teams.config import TeamsConfig
from bot.config import ConfigError, OrgConfig, load_config
from storage.db import DEFAULT_DATABASE_URL

DEFAULT_CONFIG = Path("chatdesk.yaml")
DATABASE_SCHEMES = ("sqlite://", "postgres://", "postgresql://", "asyncpg://")


class SettingsError(ValueError):
    pass


def _whole_number(value: Any, low: int, high: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise ValueError(f"{str(value)!r} is not {what} ({low}-{high})")
    return number


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, env_ignore_empty=True,
                                      case_sensitive=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    config_path: Path | None = Field(default=None, validation_alias="CHATDESK_CONFIG")
    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=DEFAULT_API_URL, validation_alias="SLACK_API_URL")
    microsoft_app_id: str = Field(default="", validation_alias="MICROSOFT_APP_ID")
    microsoft_app_password: str = Field(default="", validation_alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str = Field(default="", validation_alias="MICROSOFT_APP_TENANT_ID")
    # CHATDESK_TEAMS_EMULATOR=1: unauthenticated Teams activities, accepted only on loopback.
    teams_emulator: bool = Field(default=False, validation_alias="CHATDESK_TEAMS_EMULATOR")
    host: str = "0.0.0.0"  # the listening address: `chatdesk serve --host`
    port: int = Field(default=3000, validation_alias="PORT")
    retention_days: int = Field(default=7, validation_alias="CHATDESK_RETENTION_DAYS")
    # CHATDESK_ACCESS_LOG=1: a log line per HTTP request (off: it cost a busy server 7 % of its time).
    access_log: bool = Field(default=False, validation_alias="CHATDESK_ACCESS_LOG")
    pseudonym_secret: str | None = Field(default=None, validation_alias="CHATDESK_PSEUDONYM_SECRET", repr=False)
    imap_url: str | None = Field(default=None, validation_alias="CHATDESK_IMAP_URL")
    imap_poll_seconds: str | None = Field(default=None, validation_alias="CHATDESK_IMAP_POLL_SECONDS")
    imap_unknown_folder: str | None = Field(default=None, validation_alias="CHATDESK_IMAP_UNKNOWN_FOLDER")
    smtp_url: str | None = Field(default=None, validation_alias="CHATDESK_SMTP_URL")
    mail_from: str | None = Field(default=None, validation_alias="CHATDESK_MAIL_FROM")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # only what the caller passes; from_env passes the environment

    @field_validator("config_path")
    @classmethod
    def _config_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {str(value)!r}")
        return value

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> int:
        return _whole_number(value, 1, 65535, "a port number")

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> int:
        return _whole_number(value, 1, 3650, "a number of days")

    @field_validator("pseudonym_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("at least 32 characters, or unset to use one generated for this installation")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(DATABASE_SCHEMES):
            raise ValueError(f"{value.split(':', 1)[0]!r} is not sqlite:// or postgres://")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def slack_enabled(self) -> bool:
        return self.slack().http_enabled

    def slack(self) -> SlackConfig:
        """The Slack adapter's part of the settings."""
        return SlackConfig(bot_token=self.slack_bot_token, signing_secret=self.slack_signing_secret,
                           app_token=self.slack_app_token, api_url=self.slack_api_url)

    def teams(self) -> TeamsConfig:
        """The Teams adapter's part of the settings."""
        return TeamsConfig(app_id=self.microsoft_app_id, app_password=self.microsoft_app_password,
                           tenant_id=self.microsoft_app_tenant_id, emulator=self.teams_emulator, host=self.host)

    def mail(self) -> MailConfig | None:
        """The mail channel's part of the settings; None when no mail variable is set."""
        values = {"CHATDESK_IMAP_URL": self.imap_url, "CHATDESK_IMAP_POLL_SECONDS": self.imap_poll_seconds,
                  "CHATDESK_IMAP_UNKNOWN_FOLDER": self.imap_unknown_folder, "CHATDESK_SMTP_URL": self.smtp_url,
                  "CHATDESK_MAIL_FROM": self.mail_from}
        return MailConfig.from_env({k: v for k, v in values.items() if v})

    def org_config(self) -> OrgConfig | None:
        return load_config(self.config_path) if self.config_path else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment (or `env`); CHATDESK_CONFIG defaults to ./chatdesk.yaml if present."""
        try:
            settings = _Environment() if env is None else cls.model_validate({k: v for k, v in env.items() if v})
        except ValidationError as exc:
            raise SettingsError(_first_problem(exc)) from None
        if bool(settings.slack_bot_token) != bool(settings.slack_signing_secret) and not settings.slack_app_token:
            missing = "SLACK_SIGNING_SECRET" if settings.slack_bot_token else "SLACK_BOT_TOKEN"
            raise SettingsError(f"{missing}: Slack over HTTP needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        try:
            settings.mail()
        except MailConfigError as exc:
            raise SettingsError(str(exc)) from None
        values = settings.model_dump()
        if values["config_path"] is None and DEFAULT_CONFIG.is_file():
            values["config_path"] = DEFAULT_CONFIG
        return cls(**values)


class _Environment(Settings):
    """The same fields, read from the process environment by pydantic-settings."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings,)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if cause is not None else error["msg"]
    loc = [str(part) for part in error.get("loc", ())] or ["settings"]
    field = Settings.model_fields.get(loc[0])
    name = field.validation_alias if field is not None and isinstance(field.validation_alias, str) else loc[0]
    return f"{name}: {message}"


__all__ = ["ConfigError", "Settings", "SettingsError"]
