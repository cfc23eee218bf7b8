"""``ConduitSettings``: the service's configuration, from the environment.

The database is asqla's `DatabaseSettings` (``DATABASE_URL``, ``ASQLA_*``);
everything else is ``CONDUIT_``-prefixed::

    DATABASE_URL=postgresql://localhost/conduit
    CONDUIT_JWT_SECRET=...            # required in production; see below
    CONDUIT_TOKEN_LIFETIME=P30D       # ISO 8601 duration, or seconds
    CONDUIT_CORS_ORIGINS='["http://localhost:4200"]'   # a browser front end
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from asqla import DatabaseSettings

__all__ = ["ConduitSettings", "PasswordProfile"]

logger = logging.getLogger("conduit")

PasswordProfile = Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"]
"""An ``argon2.profiles`` name. ``CHEAPEST`` is for tests only."""


class ConduitSettings(BaseSettings):
    """Where the database is, how tokens are signed and how passwords are hashed."""

    model_config = SettingsConfigDict(env_prefix="CONDUIT_", frozen=True, extra="forbid")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    jwt_secret: SecretStr | None = None
    """The HMAC key of the tokens. Unset: a random one for this process, announced in the log."""
    token_lifetime: timedelta = timedelta(days=30)
    password_profile: PasswordProfile = "RFC_9106_LOW_MEMORY"
    """argon2id parameters: RFC 9106's second recommendation (64 MiB, 3 passes) by default."""
    cors_origins: list[str] = []
    """Origins a browser front end may call the API from: ``'["http://localhost:4200"]'``."""

    def signing_key(self) -> str:
        """Return the JWT secret, generating a development one if none is configured."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        logger.warning(
            "conduit: CONDUIT_JWT_SECRET is not set, so tokens are signed with a random key "
            "generated for this process: they stop working when it restarts, and other "
            'processes reject them. Set CONDUIT_JWT_SECRET (e.g. `python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"`) anywhere but on a development machine.'
        )
        return secrets.token_urlsafe(32)
