"""Secrets that belong to one installation: generated once, stored, never guessable.

The pseudonym key may instead come from CHATDESK_PSEUDONYM_SECRET (several installations
that must agree, or a key kept outside the database); it must then be at least 32 characters.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from storage.models import InstallationSecret

PSEUDONYM = "pseudonym"
PSEUDONYM_ENV = "CHATDESK_PSEUDONYM_SECRET"
MIN_LENGTH = 32


class SecretError(ValueError):
    """A configured secret that is too weak to use."""


async def secret(name: str = PSEUDONYM) -> bytes:
    """The installation's secret `name`, created with 256 random bits the first time it is asked for."""
    if name == PSEUDONYM and os.environ.get(PSEUDONYM_ENV):
        value = os.environ[PSEUDONYM_ENV]
        if len(value) < MIN_LENGTH:
            raise SecretError(f"{PSEUDONYM_ENV}: at least {MIN_LENGTH} characters, or unset to use a generated one")
        return value.encode()
    row = await InstallationSecret.filter(name=name).first()
    if row is None:
        try:
            row = await InstallationSecret.create(name=name, value=secrets.token_hex(32), created_at=datetime.now(UTC))
        except IntegrityError:  # another worker created it first: use theirs
            row = await InstallationSecret.get(name=name)
    return row.value.encode()
