"""Database URLs: normalise to an async driver, check the driver, hide the password."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .exceptions import ConfigurationError, DriverNotInstalledError


@dataclass(frozen=True, slots=True)
class _Driver:
    backend: str  # SQLAlchemy's backend name: "postgresql", "mysql", "mariadb", "sqlite"
    name: str  # the drivername suffix: "asyncpg"
    module: str  # what must be importable
    install: str  # the pip requirement that installs it


_DRIVERS = {
    ("postgresql", "asyncpg"): _Driver("postgresql", "asyncpg", "asyncpg", "asqla[postgresql]"),
    # The extras install only the recommended drivers; the alternatives are
    # installed by name.
    ("postgresql", "psycopg"): _Driver("postgresql", "psycopg", "psycopg", "psycopg[binary]"),
    ("mysql", "asyncmy"): _Driver("mysql", "asyncmy", "asyncmy", "asqla[mysql]"),
    ("mysql", "aiomysql"): _Driver("mysql", "aiomysql", "aiomysql", "aiomysql"),
    ("mariadb", "asyncmy"): _Driver("mariadb", "asyncmy", "asyncmy", "asqla[mysql]"),
    ("mariadb", "aiomysql"): _Driver("mariadb", "aiomysql", "aiomysql", "aiomysql"),
    ("sqlite", "aiosqlite"): _Driver("sqlite", "aiosqlite", "aiosqlite", "asqla[sqlite]"),
}

# A URL without a driver gets the driver asqla recommends for that backend.
_DEFAULT_DRIVER = {
    "postgresql": "asyncpg",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "sqlite": "aiosqlite",
}

SUPPORTED_FORMS = (
    "postgresql://user:password@host:5432/dbname   (driver: asyncpg; also postgresql+psycopg)",
    "mysql://user:password@host:3306/dbname        (driver: asyncmy; also mysql+aiomysql)",
    "mariadb://user:password@host:3306/dbname      (driver: asyncmy; also mariadb+aiomysql)",
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:"
    "   (driver: aiosqlite)",
)

_INSTALL_ANY = (
    "Install the driver for your database with: pip install 'asqla[postgresql]' "
    "(or 'asqla[mysql]', 'asqla[sqlite]')."
)


# Query parameters that carry a secret: asyncpg's and libpq's password and
# sslpassword, the MySQL drivers' password and passwd.
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "sslpassword"})


def _supported() -> str:
    return "Supported URL forms:\n  " + "\n  ".join(SUPPORTED_FORMS)


def render_url(url: URL, *, hide_password: bool = True) -> str:
    """Render ``url`` as ``make_url`` reads it back, keeping the database part readable.

    SQLAlchemy 2.1 percent-encodes ``:`` in the database part, so that
    ``sqlite:///:memory:`` renders as ``sqlite:///%3Amemory%3A``. Both forms
    parse to the same URL; only ``%`` and ``?`` (the query separator) need
    escaping there, so everything else stays as the user wrote it.

    With ``hide_password``, a password passed as a query parameter
    (``?password=...``, which the drivers also accept) is hidden too.
    """
    authority = URL.create(
        url.drivername,
        username=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
    ).render_as_string(hide_password=hide_password)
    database = "" if url.database is None else "/" + quote(url.database, safe=" +/:")
    query = "&".join(
        f"{quote_plus(key)}={_render_query_value(key, value, hide_password)}"
        for key in sorted(url.query)
        for value in _as_list(url.query[key])
    )
    return authority + database + ("?" + query if query else "")


def _render_query_value(key: str, value: str, hide_password: bool) -> str:
    if hide_password and key.lower() in _SECRET_QUERY_KEYS:
        return "***"
    return quote_plus(value)


def _as_list(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def mask_url(url: str | URL) -> str:
    """Render ``url`` with its password replaced by ``***``; never raises."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        return "<unparseable URL>"
    return render_url(parsed, hide_password=True)


def parse_database_url(url: str | URL) -> URL:
    """Return ``url`` as a SQLAlchemy URL with an async driver, or raise ConfigurationError."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not url or not url.strip():
            raise ConfigurationError(
                "No database URL was given: set the DATABASE_URL environment variable "
                "or pass url=... to DatabaseSettings. " + _supported() + "\n" + _INSTALL_ANY
            )
        try:
            parsed = make_url(url.strip())
        except ArgumentError:
            # The value is not shown: an unparseable URL cannot be masked, and
            # it may well contain a password.
            raise ConfigurationError(
                "The database URL cannot be parsed (its value is not shown, as it may "
                "contain a password): it must look like dialect[+driver]://... "
                + _supported()
                + "\n"
                + _INSTALL_ANY
            ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":  # Heroku and others still hand out postgres://
        backend = "postgresql"
    if backend not in _DEFAULT_DRIVER:
        raise ConfigurationError(
            f"The database URL {mask_url(parsed)!r} names the backend {backend!r}, "
            "which asqla does not support. " + _supported() + "\n" + _INSTALL_ANY
        )
    recommended = _DRIVERS[(backend, _DEFAULT_DRIVER[backend])]
    driver = driver or recommended.name
    spec = _DRIVERS.get((backend, driver))
    if spec is None:
        raise ConfigurationError(
            f"The database URL {mask_url(parsed)!r} names the driver {driver!r}, which is "
            f"not an asyncio driver asqla supports for {backend}. asqla is async only: "
            f"use {backend}+{recommended.name}:// (or just {backend}://) and install it "
            f"with: pip install '{recommended.install}'. " + _supported()
        )
    if importlib.util.find_spec(spec.module) is None:
        install = f"pip install '{spec.install}'"
        if spec is not recommended:
            install += (
                f", or use the recommended driver ({backend}+{recommended.name}://) "
                f"with: pip install '{recommended.install}'"
            )
        raise DriverNotInstalledError(
            f"The database URL {mask_url(parsed)!r} needs the {spec.module!r} driver, "
            f"which is not installed. Install it with: {install}. " + _supported()
        )
    return parsed.set(drivername=f"{spec.backend}+{spec.name}")
