"""What asqla's request lifecycle costs next to the textbook session dependency.

Run from the repository root::

    .venv/bin/python benchmarks/request_overhead.py [--requests N] [--rounds R]
        [--no-postgresql] [--no-mysql]

Two FastAPI apps with the same two endpoints, called in this process through ASGI
(no HTTP server and no client library, so that the apps are what is measured):

- ``textbook``: the session dependency found in most tutorials: ``create_async_engine`` and
  ``async_sessionmaker(expire_on_commit=False)``, and a ``yield`` dependency that opens
  ``session.begin()``, so that it commits after the endpoint returns (FastAPI runs that exit
  code after the response is sent, which is why a failed COMMIT cannot reach the client);
- ``asqla``: ``install(app, db)`` with the ``Session`` / ``ReadSession`` dependencies: the
  unit-of-work middleware commits before the response starts, the session guards against
  concurrent use and cancellation, and errors are translated.

Endpoints: ``GET /items/{id}`` (one primary-key read: ``ReadSession`` for asqla) and
``POST /items`` (an INSERT flushed for its id, then COMMIT). Each timed batch runs
``--requests`` requests against one app; the apps take turns, in alternating order round by
round, after an untimed warm-up. The table shows the median per request (wall clock, and CPU
time of this process) and the median and quartiles of the per-round ratios asqla/textbook.

Backends: SQLite (a file in a temporary directory) always; PostgreSQL at ``--postgresql URL``
and MariaDB/MySQL at ``--mysql URL`` if they answer, each in a database
``asqla_bench_<random>`` that is dropped at the end.
"""

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import fastapi
import sqlalchemy
from fastapi import Depends, FastAPI
from rich.console import Console
from rich.table import Table
from sqlalchemy import String, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.fastapi import ReadSession, Session, install

ITEMS = 1_000
APPS = ("textbook", "asqla")
CASES = ("GET /items/{id}", "POST /items")
console = Console()


class Model(DeclarativeBase):
    pass


class Item(Model):
    __tablename__ = "bench_request_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


def with_endpoints(app: FastAPI, reads: Any, writes: Any) -> FastAPI:
    """Add the two endpoints to ``app``, their sessions from the dependencies given."""

    @app.get("/items/{item_id}")
    async def read(item_id: int, session: reads) -> dict[str, Any]:  # type: ignore[valid-type]
        item = await session.get(Item, item_id)
        assert item is not None
        return {"id": item.id, "name": item.name}

    @app.post("/items", status_code=201)
    async def create(session: writes) -> dict[str, Any]:  # type: ignore[valid-type]
        item = Item(name="created")
        session.add(item)
        await session.flush()
        return {"id": item.id, "name": item.name}

    return app


def textbook_app(url: str) -> tuple[FastAPI, Callable[[], Awaitable[None]]]:
    engine = create_async_engine(url)
    maker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with maker() as session, session.begin():
            yield session

    session = Annotated[AsyncSession, Depends(get_session)]
    return with_endpoints(FastAPI(), session, session), engine.dispose


def asqla_app(url: str) -> tuple[FastAPI, Callable[[], Awaitable[None]]]:
    db = Database(url)
    app = FastAPI()
    install(app, db)
    return with_endpoints(app, ReadSession, Session), db.dispose


async def call(app: FastAPI, method: str, path: str) -> int:
    """One request through the app's ASGI interface; returns the status code."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-length", b"0")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # the client stays: no disconnect
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


Sample = tuple[float, float]


async def batch(app: FastAPI, case: str, requests: int, offset: int) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(requests):
        if case.startswith("GET"):
            status = await call(app, "GET", f"/items/{1 + (offset + number) % ITEMS}")
        else:
            status = await call(app, "POST", "/items")
        if status not in (200, 201):
            raise RuntimeError(f"{case} answered {status}")
    return (time.perf_counter() - wall) / requests, (time.process_time() - cpu) / requests


async def measure(url: str, requests: int, rounds: int) -> dict[tuple[str, str], list[Sample]]:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Model.metadata.drop_all)
        await connection.run_sync(Model.metadata.create_all)
        await connection.execute(
            sqlalchemy.insert(Item), [{"name": f"item {i}"} for i in range(1, ITEMS + 1)]
        )
    await engine.dispose()
    apps = {"textbook": textbook_app(url), "asqla": asqla_app(url)}
    times: dict[tuple[str, str], list[Sample]] = {(a, c): [] for a in APPS for c in CASES}
    try:
        for name in APPS:  # warm-up: pools, statement caches, FastAPI's first-call setup
            for case in CASES:
                await batch(apps[name][0], case, requests, 0)
        for number in range(rounds):
            order = APPS if number % 2 == 0 else APPS[::-1]
            for case in CASES:
                for name in order:
                    times[name, case].append(
                        await batch(apps[name][0], case, requests, number * requests)
                    )
            print(f"  round {number + 1}/{rounds} done", file=sys.stderr)
    finally:
        for _, dispose in apps.values():
            await dispose()
    return times


def report(backend: str, times: dict[tuple[str, str], list[Sample]], requests: int) -> None:
    rounds = len(times["asqla", CASES[0]])
    table = Table(
        title=f"{backend}: per request, median of {rounds} interleaved rounds of {requests}"
    )
    for column in ("case", "clock", "textbook", "asqla", "asqla/textbook", "quartiles"):
        table.add_column(column, justify="left" if column in ("case", "clock") else "right")
    for case in CASES:
        for index, clock in enumerate(("wall", "CPU")):
            base = [s[index] for s in times["textbook", case]]
            ours = [s[index] for s in times["asqla", case]]
            ratios = sorted(b / a for a, b in zip(base, ours, strict=True))
            low, _, high = statistics.quantiles(ratios, n=4)
            table.add_row(
                case,
                clock,
                f"{statistics.median(base) * 1e6:,.0f} µs",
                f"{statistics.median(ours) * 1e6:,.0f} µs",
                f"{statistics.median(ratios):.2f}",
                f"{low:.2f}-{high:.2f}",
            )
    console.print(table)


async def on_server(backend: str, admin_url: str, run: Callable[[str], Awaitable[None]]) -> None:
    quote = '"' if backend == "postgresql" else "`"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"asqla_bench_{secrets.token_hex(4)}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as exc:  # unreachable: skip, and say so
        console.print(f"{backend}: skipped ({type(exc).__name__}: {exc})")
        await admin.dispose()
        return
    try:
        await run(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        await admin.dispose()


async def main(args: argparse.Namespace) -> None:
    console.print(
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"FastAPI {fastapi.__version__}; {os.cpu_count()} CPUs\n"
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}"
    )

    async def run(url: str) -> None:
        backend = make_url(url).get_backend_name()
        report(backend, await measure(url, args.requests, args.rounds), args.requests)

    with tempfile.TemporaryDirectory() as directory:
        await run(f"sqlite+aiosqlite:///{directory}/bench.db")
    if args.postgresql:
        await on_server("postgresql", args.postgresql, run)
    if args.mysql:
        await on_server("mysql", args.mysql, run)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per timed batch")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument(
        "--postgresql", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--mysql", default="mysql+asyncmy://root@127.0.0.1:3306/")
    parser.add_argument("--no-postgresql", dest="postgresql", action="store_const", const="")
    parser.add_argument("--no-mysql", dest="mysql", action="store_const", const="")
    asyncio.run(main(parser.parse_args()))
