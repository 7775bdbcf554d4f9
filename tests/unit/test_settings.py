"""Settings from the environment: every bad value stops start-up with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatdesk.settings import Settings, SettingsError

VARIABLES = ("DATABASE_URL", "CHATDESK_CONFIG", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
             "SLACK_API_URL", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID", "PORT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no chatdesk.yaml here unless a test writes one


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "org.yaml"
    config.write_text("{}\n")
    for name, value in {"DATABASE_URL": "postgres://u:p@127.0.0.1:5/db", "CHATDESK_CONFIG": str(config),
                        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://api",
                        "MICROSOFT_APP_ID": "app", "PORT": "8080"}.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert (s.database_url, s.config_path, s.port) == ("postgres://u:p@127.0.0.1:5/db", config, 8080)
    assert s.slack().http_enabled and s.slack().api_url == "http://api/"
    assert s.teams().app_id == "app"


def test_defaults_and_empty_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("DATABASE_URL", "")
    s = Settings.from_env()
    assert s == Settings()
    assert s.slack_bot_token is None and s.config_path is None and s.port == 3000


def test_chatdesk_yaml_in_the_working_directory_is_the_default_config(tmp_path: Path) -> None:
    (tmp_path / "chatdesk.yaml").write_text("{}\n")
    assert Settings.from_env().config_path == Path("chatdesk.yaml")
    assert Settings().config_path is None  # built in code: only what it is given


@pytest.mark.parametrize(("env", "message"), [
    ({"PORT": "http"}, "PORT: 'http' is not a port number (1-65535)"),
    ({"PORT": "0"}, "PORT: '0' is not a port number (1-65535)"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: 'mysql' is not sqlite:// or postgres://"),
    ({"CHATDESK_CONFIG": "missing.yaml"}, "CHATDESK_CONFIG: no such file 'missing.yaml'"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET: Slack over HTTP needs both"),
    ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN: Slack over HTTP needs both"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as exc:
        Settings.from_env()
    assert str(exc.value).startswith(message)
    with pytest.raises(SettingsError, match="^" + message.split(":")[0]):
        Settings.from_env(env)  # the same rules for an explicit mapping


def test_socket_mode_needs_no_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert not Settings.from_env().slack().http_enabled


@pytest.mark.parametrize("env,message", [
    ({"CHATDESK_RETENTION_DAYS": "0"}, "CHATDESK_RETENTION_DAYS: '0' is not a number of days"),
    ({"CHATDESK_RETENTION_DAYS": "a week"}, "CHATDESK_RETENTION_DAYS: 'a week' is not a number of days"),
    ({"CHATDESK_PSEUDONYM_SECRET": "short"}, "CHATDESK_PSEUDONYM_SECRET: at least 32 characters"),
])
def test_privacy_settings_are_checked_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match="^" + message):
        Settings.from_env(env)


def test_retention_defaults_to_a_week_and_the_secret_is_not_shown() -> None:
    assert Settings.from_env({}).retention_days == 7
    settings = Settings.from_env({"CHATDESK_RETENTION_DAYS": "30", "CHATDESK_PSEUDONYM_SECRET": "s" * 40})
    assert settings.retention_days == 30 and "s" * 40 not in repr(settings)


def test_the_access_log_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATDESK_ACCESS_LOG", raising=False)
    assert Settings.from_env().access_log is False
    monkeypatch.setenv("CHATDESK_ACCESS_LOG", "1")
    assert Settings.from_env().access_log is True
