"""Test databases: one uniquely named database per test run and xdist worker.

On PostgreSQL and MySQL/MariaDB the database is created on the server the
URL names, beside the URL's own database, which the tests never touch:
``postgresql://app@db/app`` gives ``test_app_1f2e3d4c_gw0`` for the xdist
worker ``gw0``. The run id (shared by the workers of one run, from
``PYTEST_XDIST_TESTRUNUID``) keeps two runs on one server, two CI jobs for
instance, apart. On SQLite the database is a file in a temporary directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .._url import mask_url, parse_database_url
from ..exceptions import ConfigurationError

__all__ = ["create_database", "drop_database", "worker_database_url"]

# PostgreSQL truncates identifiers to 63 bytes, MySQL refuses names over 64.
_MAX_NAME = 63
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def worker_database_url(base: str | None, *, worker: str, run_id: str, directory: Path) -> URL:
    """Return the URL of the test database of ``worker`` in run ``run_id``.

    Args:
        base: The URL of the server (its database names the test databases);
            ``None`` for SQLite.
        worker: The xdist worker id (``"gw0"``), or ``"main"`` without xdist.
        run_id: A short id shared by the workers of one run.
        directory: Where SQLite test databases go.
    """
    if base is None:
        return parse_database_url(f"sqlite:///{directory / f'test_{run_id}_{worker}.db'}")
    url = parse_database_url(base)
    if url.get_backend_name() == "sqlite":
        stem = Path(url.database or "memory").stem
        return url.set(database=str(directory / f"test_{_identifier(stem)}_{run_id}_{worker}.db"))
    suffix = f"_{_identifier(run_id)}_{_identifier(worker)}"
    stem = _identifier(url.database or url.username or "asqla")
    return url.set(database=f"test_{stem}"[: _MAX_NAME - len(suffix)] + suffix)


async def create_database(url: URL) -> None:
    """Create the database ``url`` names (dropping a leftover of the same name first).

    Raises:
        ConfigurationError: The server refused, most often for lack of the
            privilege to create databases; the message says what to do.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        _remove_sqlite_files(url)
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        return
    name = _checked_name(url)
    statements = [_drop_statement(backend, name)]
    if backend == "postgresql":
        statements.append(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    else:
        statements.append(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        await _run_on_server(url, statements)
    except Exception as exc:
        raise ConfigurationError(
            f"Cannot create the test database {name!r} on {mask_url(_server_url(url))}: "
            f"{type(exc).__name__}: {exc}. The tests create their own database beside the "
            "one the URL names, so the user needs the right to create databases (PostgreSQL: "
            "ALTER ROLE ... CREATEDB; MySQL: GRANT ALL ON `test\\_%`.* TO ...), or point "
            "--asqla-url at a server where it has it."
        ) from exc


async def drop_database(url: URL) -> None:
    """Drop the database ``url`` names, if it exists, even while connections remain open."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        _remove_sqlite_files(url)
        return
    await _run_on_server(url, [_drop_statement(backend, _checked_name(url))])


def _drop_statement(backend: str, name: str) -> str:
    if backend == "postgresql":
        # FORCE (PostgreSQL 13+) ends the sessions a crashed test left open.
        return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    return f"DROP DATABASE IF EXISTS `{name}`"


async def _run_on_server(url: URL, statements: list[str]) -> None:
    engine = create_async_engine(_server_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _server_url(url: URL) -> URL:
    """A URL to the same server, on a database that exists whatever the test one's state."""
    if url.get_backend_name() == "postgresql":
        return url.set(database="postgres")
    return url._replace(database=None)  # URL.set() leaves a field alone when given None


def _checked_name(url: URL) -> str:
    name = url.database or ""
    if not re.fullmatch(r"test_\w+", name):
        # Never drop a database the tests did not name: a guard against a
        # URL that reaches here unchanged.
        raise ConfigurationError(
            f"Refusing to create or drop {name!r}: asqla's test databases are named test_*, "
            "so that a database of the application is never touched."
        )
    return name


def _identifier(value: str) -> str:
    return re.sub(r"\W+", "_", value.lower()).strip("_") or "db"


def _remove_sqlite_files(url: URL) -> None:
    path = Path(url.database or "")
    if not path.name:
        return
    for suffix in _SQLITE_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)
