"""The test harness: every test runs against real databases over real connections.

Backends:
- ``sqlite``: a file in the test's own tmp_path.
- ``postgresql``: a uniquely named database created for this test run on the
  server at ``ASQLA_TEST_POSTGRESQL_URL`` (default: the local trust-auth one).
- ``mysql``: the same on the MariaDB/MySQL server at ``ASQLA_TEST_MYSQL_URL``.

The run's databases are dropped at the end; between tests each is emptied.
A server that cannot be reached skips its tests, unless it is named in
``ASQLA_REQUIRE_BACKENDS`` (as CI does), which makes the run fail instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from asqla import Database, DatabaseSettings

BACKENDS = ("sqlite", "postgresql", "mysql")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "ASQLA_TEST_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("ASQLA_TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/"),
}
RUN_ID = f"asqla_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass
class _Server:
    backend: str
    admin_url: str
    error: str | None = None
    created: bool = False

    @property
    def test_url(self) -> str:
        return make_url(self.admin_url).set(database=RUN_ID).render_as_string(hide_password=False)


_servers: dict[str, _Server] = {}


def _required() -> set[str]:
    raw = os.environ.get("ASQLA_REQUIRE_BACKENDS", "")
    names = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = names - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(
            f"ASQLA_REQUIRE_BACKENDS names unknown backends {sorted(unknown)}; "
            f"choose from {list(BACKENDS)}."
        )
    return names


async def _admin(backend: str, url: str, *statements: str) -> None:
    parsed = make_url(url)
    if backend == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database or "postgres",
            timeout=5,
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
    else:
        import asyncmy

        conn = await asyncmy.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=parsed.password or "",
            database=parsed.database or None,
            connect_timeout=5,
        )
        try:
            async with conn.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
        finally:
            conn.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    required = _required()
    for backend, url in SERVER_URLS.items():
        server = _Server(backend, url)
        quote = '"' if backend == "postgresql" else "`"
        try:
            asyncio.run(_admin(backend, url, f"CREATE DATABASE {quote}{RUN_ID}{quote}"))
            server.created = True
        except Exception as exc:
            server.error = f"{type(exc).__name__}: {exc}"
            if backend in required:
                raise pytest.UsageError(
                    f"Backend {backend!r} is required (ASQLA_REQUIRE_BACKENDS) but its server "
                    f"at {make_url(url).render_as_string()} cannot be used: {server.error}"
                ) from exc
        _servers[backend] = server


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _servers.values():
        if server.created:
            quote = '"' if server.backend == "postgresql" else "`"
            force = " WITH (FORCE)" if server.backend == "postgresql" else ""
            statement = f"DROP DATABASE IF EXISTS {quote}{RUN_ID}{quote}{force}"
            asyncio.run(_admin(server.backend, server.admin_url, statement))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"asqla test databases: {RUN_ID}"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = {name: s.error for name, s in _servers.items() if s.error}
    for name, error in skipped.items():
        terminalreporter.write_line(
            f"asqla: backend {name!r} was SKIPPED: {error}. "
            f"Set ASQLA_TEST_{name.upper()}_URL or start the server.",
            yellow=True,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker else BACKENDS
    metafunc.parametrize("backend", [pytest.param(name, id=name) for name in names])


@pytest.fixture
def backend() -> str:  # pragma: no cover - always parametrized above
    raise AssertionError("backend is parametrized by pytest_generate_tests")


async def _empty(server: _Server) -> None:
    if server.backend == "postgresql":
        await _admin(
            "postgresql",
            server.test_url,
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
        )
    else:
        await _admin(
            "mysql",
            server.admin_url,
            f"DROP DATABASE `{RUN_ID}`",
            f"CREATE DATABASE `{RUN_ID}`",
        )


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of ``backend`` that this test may use freely."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    server = _servers.get(backend)
    if server is None or server.error:
        pytest.skip(f"{backend} server not reachable: {server.error if server else 'unknown'}")
    yield server.test_url
    await _empty(server)


MakeDatabase = Callable[..., Database]


@pytest.fixture
async def make_db(database_url: str) -> AsyncIterator[MakeDatabase]:
    """Factory: ``make_db(preset="worker", pool_size=2)`` gives a Database on the test database.

    Every Database it made is disposed after the test.
    """
    made: list[Database] = []

    def make(**options: Any) -> Database:
        database = Database(DatabaseSettings(url=options.pop("url", database_url), **options))
        made.append(database)
        return database

    yield make
    for database in made:
        await database.dispose()
    await _join_aiosqlite_threads()


async def _join_aiosqlite_threads() -> None:
    # aiosqlite 0.22 stops the worker thread of a failed connect without
    # awaiting it; if the test's event loop closes first, the thread dies with
    # "Event loop is closed", which pytest then reports against the next test.
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


@pytest.fixture
async def db(make_db: MakeDatabase) -> Database:
    """A Database with the default settings on an empty database of each backend."""
    return make_db()


@pytest.fixture
def run_admin() -> Callable[[str, str], Awaitable[None]]:
    """Run a statement on a backend's server outside any Database (for setup)."""

    async def run(backend: str, statement: str) -> None:
        server = _servers[backend]
        await _admin(backend, server.test_url, statement)

    return run


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
