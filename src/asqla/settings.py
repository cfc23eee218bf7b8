"""``DatabaseSettings``: where the database is and how to talk to it, from the environment."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterator
from typing import Any, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from ._url import mask_url, parse_database_url, render_url
from .exceptions import ConfigurationError
from .presets import PRESETS, EnginePreset, PresetName

__all__ = ["DatabaseSettings"]

# Variables asqla reads outside the settings: not misspellings of a setting.
_OTHER_VARIABLES = frozenset({"ASQLA_CURSOR_SECRET"})


class DatabaseSettings(BaseSettings):
    """Database settings read from the environment.

    ``DATABASE_URL`` names the database (``ASQLA_DATABASE_URL``, if set, wins
    over it); every other option is ``ASQLA_``-prefixed: ``ASQLA_PRESET=worker``,
    ``ASQLA_POOL_SIZE=20``, ``ASQLA_ECHO=true``. Options left unset come from the
    preset. A variable that looks like a misspelt option (``ASQLA_POOL_SIZ``)
    raises [`ConfigurationError`][asqla.ConfigurationError] naming the option
    it resembles, rather than leaving the option silently at its default.

    The URL is checked when the settings are built: a URL that cannot work
    raises [`ConfigurationError`][asqla.ConfigurationError] naming the problem, the supported
    URL forms and the ``pip install`` line for a missing driver. The password is
    never shown: not in ``repr()``, not in errors, not in logs.

    Example:
        >>> settings = DatabaseSettings(url="sqlite:///app.db", preset="web")
        >>> settings.display_url
        'sqlite+aiosqlite:///app.db'
    """

    model_config = SettingsConfigDict(
        env_prefix="ASQLA_",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    url: SecretStr = Field(
        default=SecretStr(""),
        # The first alias found wins: the asqla-specific variable overrides the
        # generic one that platforms (Heroku, Render, Fly) set for every app.
        validation_alias=AliasChoices("ASQLA_DATABASE_URL", "DATABASE_URL"),
        repr=False,
    )
    preset: PresetName = "web"
    echo: bool = False
    application_name: str = "asqla"

    pool_size: int | None = Field(default=None, ge=0)
    max_overflow: int | None = Field(default=None, ge=0)
    pool_timeout: float | None = Field(default=None, gt=0)
    pool_recycle: float | None = None
    pool_pre_ping: bool | None = None
    connect_timeout: float | None = Field(default=None, gt=0)
    command_timeout: float | None = Field(default=None, gt=0)

    statement_timeout: float | None = Field(default=None, gt=0)
    """Server-side limit per statement, in seconds (PostgreSQL, MariaDB)."""
    idle_in_transaction_timeout: float | None = Field(default=None, gt=0)
    """PostgreSQL ends a session idle inside a transaction for this long."""
    sqlite_busy_timeout: float = Field(default=5.0, ge=0)
    """Seconds a SQLite writer waits for the write lock before failing."""

    @field_validator("url", mode="after")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        # ConfigurationError is not a ValueError, so pydantic lets it through
        # unwrapped: the user sees our one-paragraph message, not a trace of
        # validation internals. SecretStr keeps the password out of
        # model_dump() and model_dump_json(), which end up in logs.
        url = parse_database_url(value.get_secret_value())
        return SecretStr(render_url(url, hide_password=False))

    @model_validator(mode="after")
    def _check_environment(self) -> Self:
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if not prefix:
            return self
        options: set[str] = set()
        for name, field in type(self).model_fields.items():
            alias = field.validation_alias
            if alias is None:
                options.add(f"{prefix}{name}".upper())
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
            options.update(choice.upper() for choice in choices if isinstance(choice, str))
        known = options | _OTHER_VARIABLES
        candidates = sorted(name for name in known if name.startswith(prefix))
        for variable in sorted(os.environ):
            upper = variable.upper()
            if not upper.startswith(prefix) or upper in known:
                continue
            close = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.8)
            if close:
                raise ConfigurationError(
                    f"The environment variable {variable} is not an asqla setting, and the "
                    f"setting it resembles, {close[0]}, is left at its default. Rename it to "
                    f"{close[0]} (or unset it). The settings are: "
                    f"{', '.join(sorted(o for o in options if o.startswith(prefix)))}."
                )
        return self

    @property
    def sqlalchemy_url(self) -> URL:
        """The URL as a SQLAlchemy ``URL`` with its async driver."""
        return parse_database_url(self.url.get_secret_value())

    @property
    def display_url(self) -> str:
        """The URL with its password hidden: safe for logs and errors."""
        return mask_url(self.url.get_secret_value())

    @property
    def engine_preset(self) -> EnginePreset:
        """The preset with every option set here applied on top."""
        try:
            base = PRESETS[self.preset]
        except KeyError:  # pragma: no cover - Literal validation rejects it first
            raise ConfigurationError(
                f"Unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}."
            ) from None
        overrides = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(EnginePreset)
            if field.name in type(self).model_fields and getattr(self, field.name) is not None
        }
        return dataclasses.replace(base, **overrides)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", self.display_url
        yield from super().__repr_args__()
