"""asqla's lifespan: check the database at start-up, dispose the engine at shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from asqla import Database, DatabaseUnavailableError
from asqla.fastapi import Session

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]
MakeDatabase = Callable[..., Database]

# A server that refuses connections (port 1), or a file that cannot be opened.
UNREACHABLE = {
    "postgresql": "postgresql://postgres:s3cret@127.0.0.1:1/x",
    "mysql": "mysql://root:s3cret@127.0.0.1:1/x",
    "sqlite": "sqlite:////nonexistent-asqla-dir/x.db",
}
SHOWN_URL = {
    "postgresql": r"postgresql\+asyncpg://postgres:\*\*\*@127\.0\.0\.1:1/x",
    "mysql": r"mysql\+asyncmy://root:\*\*\*@127\.0\.0\.1:1/x",
    "sqlite": r"sqlite\+aiosqlite:////nonexistent-asqla-dir/x\.db",
}


async def test_lifespan_disposes_the_engine_at_shutdown(
    db: Database, make_app: MakeApp, make_client: MakeClient
) -> None:
    app = make_app(db, with_lifespan=True)

    @app.get("/one")
    async def one(session: Session) -> int:
        return int(await session.scalar(text("SELECT 1")))

    pool: Any = db.engine.pool
    async with app.router.lifespan_context(app):
        assert (await make_client(app).get("/one")).json() == 1
        assert pool.checkedin() >= 1  # an open connection, idle in the pool

    assert pool.checkedin() == 0
    assert db.status().checked_out == 0


async def test_lifespan_refuses_to_start_without_the_database(
    backend: str,
    make_db: MakeDatabase,
    make_app: MakeApp,
    join_sqlite_workers: Callable[[], Awaitable[None]],
) -> None:
    db = make_db(url=UNREACHABLE[backend], connect_timeout=1)
    app = make_app(db, with_lifespan=True, ping_timeout=5)

    with pytest.raises(
        DatabaseUnavailableError,
        match=rf"^The app did not start: the database at {SHOWN_URL[backend]} is unavailable\. ",
    ) as raised:
        async with app.router.lifespan_context(app):
            pytest.fail("the app started without its database")
    await join_sqlite_workers()

    assert "s3cret" not in str(raised.value)
    assert isinstance(raised.value.__cause__, DatabaseUnavailableError)
