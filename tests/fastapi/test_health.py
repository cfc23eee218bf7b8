"""The ``/health/db`` router: latency and pool when up, 503 with Retry-After when down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from asqla import Database

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]
MakeDatabase = Callable[..., Database]

# A server that refuses connections (port 1), or a file that cannot be opened.
UNREACHABLE = {
    "postgresql": "postgresql://postgres:s3cret@127.0.0.1:1/x",
    "mysql": "mysql://root:s3cret@127.0.0.1:1/x",
    "sqlite": "sqlite:////nonexistent-asqla-dir/x.db",
}


async def test_health_reports_latency_and_pool(
    db: Database, make_app: MakeApp, make_client: MakeClient
) -> None:
    response = await make_client(make_app(db, health=True)).get("/health/db")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["latency_ms"], float)
    assert body["latency_ms"] >= 0
    assert body["pool"]["dialect"] == db.engine.dialect.name
    assert body["pool"]["url"] == db.settings.display_url
    assert body["pool"]["checked_out"] == 0
    assert db.status().checked_out == 0


async def test_health_gives_503_for_an_unreachable_database_and_hides_the_password(
    backend: str,
    make_db: MakeDatabase,
    make_app: MakeApp,
    make_client: MakeClient,
    join_sqlite_workers: Callable[[], Awaitable[None]],
) -> None:
    db = make_db(url=UNREACHABLE[backend], connect_timeout=1)

    response = await make_client(make_app(db, health=True)).get("/health/db")
    await join_sqlite_workers()

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["detail"]
    assert body["pool"]["url"] == db.settings.display_url
    assert "s3cret" not in response.text
    assert "s3cret" not in str(response.headers)
