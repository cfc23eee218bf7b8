"""Test databases: named per run and worker, created and dropped on the real servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from asqla import ConfigurationError
from asqla.testing import create_database, drop_database, worker_database_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        pytest.param(
            "postgresql://app:pw@db:5432/shop",
            "postgresql+asyncpg://app:pw@db:5432/test_shop_1f2e3d4c_gw1",
            id="postgresql",
        ),
        pytest.param(
            "mysql://root@db/Shop-Dev",
            "mysql+asyncmy://root@db/test_shop_dev_1f2e3d4c_gw1",
            id="mysql-sanitized",
        ),
        pytest.param(
            "postgresql://app@db", "postgresql+asyncpg://app@db/test_app_1f2e3d4c_gw1", id="no-db"
        ),
    ],
)
def test_names_come_from_the_url_the_run_and_the_worker(base: str, expected: str) -> None:
    url = worker_database_url(base, worker="gw1", run_id="1f2e3d4c", directory=Path("/tmp"))
    assert url.render_as_string(hide_password=False) == expected


def test_long_names_fit_the_servers_identifier_limit() -> None:
    url = worker_database_url(
        "postgresql://db/" + "a" * 80, worker="gw12", run_id="1f2e3d4c", directory=Path("/t")
    )
    assert url.database is not None
    assert len(url.database) == 63
    assert url.database.endswith("_1f2e3d4c_gw12")


def test_sqlite_is_a_file_in_the_directory(tmp_path: Path) -> None:
    url = worker_database_url(None, worker="main", run_id="abc", directory=tmp_path)
    assert url.database == str(tmp_path / "test_abc_main.db")
    assert url.drivername == "sqlite+aiosqlite"


async def test_never_drops_a_database_it_did_not_name() -> None:
    with pytest.raises(ConfigurationError, match=r"Refusing to create or drop 'shop'"):
        await drop_database(make_url("postgresql+asyncpg://postgres@127.0.0.1/shop"))


async def _exists(server: str, backend: str, name: str) -> bool:
    url = make_url(server)
    if backend == "postgresql":
        url = url.set(database="postgres")
        query = "SELECT count(*) FROM pg_database WHERE datname = :name"
    else:
        query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :name"
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return bool(await connection.scalar(text(query), {"name": name}))
    finally:
        await engine.dispose()


@pytest.mark.backends("postgresql", "mysql")
async def test_create_then_drop_on_the_server(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    url = worker_database_url(database_url, worker="main", run_id="cr8drop", directory=tmp_path)
    assert url.database is not None
    await create_database(url)
    try:
        assert await _exists(database_url, backend, url.database)
        engine = create_async_engine(url, poolclass=NullPool)
        connection = await engine.connect()  # a connection left open does not stop the drop
        await create_database(url)  # a leftover of a crashed run is replaced
    finally:
        await drop_database(url)
    assert not await _exists(database_url, backend, url.database)
    await connection.invalidate()
    await engine.dispose()


@pytest.mark.backends("postgresql")
async def test_a_server_that_refuses_names_the_privilege(tmp_path: Path) -> None:
    url = worker_database_url(
        "postgresql://postgres:s3cret@127.0.0.1:1/app",
        worker="main",
        run_id="x",
        directory=tmp_path,
    )
    with pytest.raises(ConfigurationError, match="Cannot create the test database") as caught:
        await create_database(url)
    assert "s3cret" not in str(caught.value)
    assert "right to create databases" in str(caught.value)


@pytest.mark.backends("sqlite")
async def test_sqlite_files_are_removed(tmp_path: Path) -> None:
    url = worker_database_url(None, worker="main", run_id="abc", directory=tmp_path)
    await create_database(url)
    path = Path(url.database or "")
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).write_text("x")
    await drop_database(url)
    assert list(tmp_path.iterdir()) == []
