"""Factories for the FastAPI tests: an app wired to a Database, and a client for it."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from asqla import Database
from asqla.fastapi import health_router, install, lifespan

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]


@pytest.fixture(autouse=True)
def no_connection_left_to_the_garbage_collector(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[None]:
    """Fail a test after which SQLAlchemy had to reclaim a connection from the GC.

    A session that is dropped without being closed keeps its connection until
    it is garbage collected; SQLAlchemy then terminates the connection and logs
    an error instead of a warning, so a leak that refcounting cleans up right
    away would otherwise go unnoticed by ``checked_out`` and by
    ``filterwarnings = error``.
    """
    yield
    gc.collect()
    records = [
        record
        for when in ("setup", "call", "teardown")
        for record in caplog.get_records(when)
        if "garbage collector is trying to clean up" in record.getMessage()
    ]
    assert not records, f"{len(records)} connection(s) left to the garbage collector"


@pytest.fixture
def make_app() -> MakeApp:
    """Factory: ``make_app(db)`` gives a FastAPI app with asqla installed on ``db``.

    ``installed=False`` leaves the middleware and handlers out; ``health=True``
    adds the health router; ``with_lifespan=True`` gives it asqla's lifespan.
    """

    def make(
        database: Database,
        *,
        installed: bool = True,
        health: bool = False,
        with_lifespan: bool = False,
        **lifespan_options: Any,
    ) -> FastAPI:
        app = FastAPI(lifespan=lifespan(database, **lifespan_options) if with_lifespan else None)
        if installed:
            install(app, database)
        if health:
            app.include_router(health_router(database))
        return app

    return make


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Factory: ``make_client(app)`` gives an httpx client that calls ``app`` in-process.

    ``httpx.ASGITransport`` runs the app in the task that sends the request,
    so cancelling that task cancels the app wherever it is awaiting. With
    ``raise_app_exceptions=False`` an exception that escapes the app becomes
    the 500 that a server would send instead of being raised in the test.
    """
    clients: list[httpx.AsyncClient] = []

    def make(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def join_sqlite_workers() -> Callable[[], Awaitable[None]]:
    """Return a function that waits for the aiosqlite threads this test started to end.

    When aiosqlite fails to open a database, its worker thread posts the
    close's result to the event loop a moment later; if the test (and its
    loop) has ended by then, the thread dies with "Event loop is closed",
    which pytest reports as an error (omnilib/aiosqlite#241, fix proposed in
    omnilib/aiosqlite#389). Call it after a failed SQLite connect, while the
    loop still runs.
    """
    before = set(threading.enumerate())

    async def join() -> None:
        for thread in set(threading.enumerate()) - before:
            if thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join, 5)

    return join
