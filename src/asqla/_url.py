"""Database URLs: normalise to an async driver, check the driver, hide the password."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .exceptions import ConfigurationError, DriverNotInstalledError


@dataclass(frozen=True, slots=True)
class _Driver:
    backend: str  # SQLAlchemy's backend name: "postgresql", "mysql", "mariadb", "sqlite"
    name: str  # the drivername suffix: "asyncpg"
    module: str  # what must be importable
    extra: str  # the asqla extra that installs it


_DRIVERS = {
    ("postgresql", "asyncpg"): _Driver("postgresql", "asyncpg", "asyncpg", "postgresql"),
    ("postgresql", "psycopg"): _Driver("postgresql", "psycopg", "psycopg", "postgresql"),
    ("mysql", "asyncmy"): _Driver("mysql", "asyncmy", "asyncmy", "mysql"),
    ("mysql", "aiomysql"): _Driver("mysql", "aiomysql", "aiomysql", "mysql"),
    ("mariadb", "asyncmy"): _Driver("mariadb", "asyncmy", "asyncmy", "mysql"),
    ("mariadb", "aiomysql"): _Driver("mariadb", "aiomysql", "aiomysql", "mysql"),
    ("sqlite", "aiosqlite"): _Driver("sqlite", "aiosqlite", "aiosqlite", "sqlite"),
}

# A URL without a driver gets the driver asqla recommends for that backend.
_DEFAULT_DRIVER = {
    "postgresql": "asyncpg",
    "postgres": "asyncpg",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "sqlite": "aiosqlite",
}

SUPPORTED_FORMS = (
    "postgresql://user:password@host:5432/dbname          (driver: asyncpg; also postgresql+psycopg)",
    "mysql://user:password@host:3306/dbname               (driver: asyncmy; also mysql+aiomysql)",
    "mariadb://user:password@host:3306/dbname             (driver: asyncmy; also mariadb+aiomysql)",
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:"
    "   (driver: aiosqlite)",
)


def _supported() -> str:
    return "Supported URL forms:\n  " + "\n  ".join(SUPPORTED_FORMS)


def mask_url(url: str | URL) -> str:
    """Render ``url`` with its password replaced by ``***``; never raises."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


def parse_database_url(url: str | URL) -> URL:
    """Return ``url`` as a SQLAlchemy URL with an async driver, or raise ConfigurationError."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not url or not url.strip():
            raise ConfigurationError(
                "No database URL was given: set the DATABASE_URL environment variable "
                "or pass url=... to DatabaseSettings. " + _supported()
            )
        try:
            parsed = make_url(url.strip())
        except ArgumentError:
            raise ConfigurationError(
                f"The database URL {mask_url(url)!r} cannot be parsed. " + _supported()
            ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":  # Heroku and others still hand out postgres://
        backend = "postgresql"
    if backend not in _DEFAULT_DRIVER:
        raise ConfigurationError(
            f"The database URL {mask_url(parsed)!r} names the backend {backend!r}, "
            "which asqla does not support. " + _supported()
        )
    driver = driver or _DEFAULT_DRIVER[backend]
    spec = _DRIVERS.get((backend, driver))
    if spec is None:
        raise ConfigurationError(
            f"The database URL {mask_url(parsed)!r} names the driver {driver!r}, which is "
            f"not an asyncio driver asqla supports for {backend}. asqla is async only; "
            f"use {backend}+{_DEFAULT_DRIVER[backend]}. " + _supported()
        )
    if importlib.util.find_spec(spec.module) is None:
        raise DriverNotInstalledError(
            f"The database URL {mask_url(parsed)!r} needs the {spec.module!r} driver, "
            f"which is not installed. Install it with: pip install 'asqla[{spec.extra}]'"
        )
    return parsed.set(drivername=f"{spec.backend}+{spec.name}")
