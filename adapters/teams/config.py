"""What the Teams adapter needs from the environment, and nothing more (chatdesk builds it)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.net import is_loopback_host


class TeamsConfigError(ValueError):
    """A Teams setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class TeamsConfig:
    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""
    emulator: bool = False  # CHATDESK_TEAMS_EMULATOR: no authentication, so loopback only
    host: str = "0.0.0.0"  # where the server listens

    @property
    def enabled(self) -> bool:
        """Teams is on with an app id, or in emulator mode; otherwise there is no /api/messages."""
        return bool(self.app_id) or self.emulator

    @property
    def emulating(self) -> bool:
        return self.emulator and not self.app_id

    def check(self) -> None:
        if self.app_id and not self.app_password:
            raise TeamsConfigError("MICROSOFT_APP_PASSWORD: required when MICROSOFT_APP_ID is set")
        if self.tenant_id and not self.app_id:
            raise TeamsConfigError("MICROSOFT_APP_ID: required when MICROSOFT_APP_TENANT_ID is set")
        if self.emulating and not is_loopback_host(self.host):
            raise TeamsConfigError(f"CHATDESK_TEAMS_EMULATOR: emulator mode accepts unauthenticated requests, so "
                                   f"the server must listen on loopback (--host 127.0.0.1), not {self.host}")


__all__ = ["TeamsConfig", "TeamsConfigError", "is_loopback_host"]
