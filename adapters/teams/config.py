"""What the Teams adapter needs from the environment, and nothing more (chatdesk builds it)."""

from __future__ import annotations

from dataclasses import dataclass


class TeamsConfigError(ValueError):
    """A Teams setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class TeamsConfig:
    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""

    def check(self) -> None:
        if self.app_id and not self.app_password:
            raise TeamsConfigError("MICROSOFT_APP_PASSWORD: required when MICROSOFT_APP_ID is set")
        if self.tenant_id and not self.app_id:
            raise TeamsConfigError("MICROSOFT_APP_ID: required when MICROSOFT_APP_TENANT_ID is set")
