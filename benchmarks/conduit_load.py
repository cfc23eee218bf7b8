"""Conduit under load: requests per second, latency and statements per request, on PostgreSQL.

Run from the repository root::

    .venv/bin/python benchmarks/conduit_load.py [--seconds 15] [--concurrency 16] [--json PATH]

It creates its own database (``conduit_load_<random>``) on the PostgreSQL server at
``--server`` (default ``postgres@127.0.0.1:5432``, or ``$ASQLA_BENCH_POSTGRESQL_SERVER``),
migrates it with asqla's Alembic integration, seeds 50 users, 500 articles (30 tags), 5,000
comments, 500 follows and 1,000 favorites, and serves examples/conduit with one uvicorn worker
in a child process on 127.0.0.1 (access log off). Then, from this process, it drives each
scenario with ``--concurrency`` httpx clients in a closed loop (each sends its next request
when the last one is answered) for ``--seconds`` after a 2 s warm-up:

- ``GET /api/articles?limit=20`` anonymously;
- the same with a token (a different seeded user per client);
- ``GET /api/articles/feed`` (limit 20) with a token.

It prints requests per second, p50 and p99 latency, and the statements per request the server
ran (counted by a ``before_cursor_execute`` listener in the server process; transaction
control that drivers send outside the cursor, such as asyncpg's, is not a statement). The
database is dropped and the server stopped at the end, also on an error or Ctrl-C. Only
loopback addresses are used, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from asqla import Database

CONDUIT = Path(__file__).resolve().parent.parent / "examples" / "conduit"
sys.path.insert(0, str(CONDUIT))

from conduit.main import create_app  # noqa: E402
from conduit.models import Follow, User  # noqa: E402
from conduit.security import Passwords, Tokens  # noqa: E402
from conduit.seed import SeedPlan, seed  # noqa: E402

from asqla.migrations import load_config, upgrade_async  # noqa: E402

SERVER = os.environ.get("ASQLA_BENCH_POSTGRESQL_SERVER", "postgres@127.0.0.1:5432")
PLAN = SeedPlan(
    users=50, articles=500, tags=30, comments=5_000, follows_per_user=10, favorites_per_user=20
)
WARM_UP = 2.0
STATEMENTS_PATH = "/_bench/statements"
DISTRIBUTIONS = ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn", "httpx")

err = Console(stderr=True, highlight=False, width=120)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    authenticated: bool


SCENARIOS = (
    Scenario("GET /api/articles?limit=20, anonymous", "/api/articles?limit=20", False),
    Scenario("GET /api/articles?limit=20, token", "/api/articles?limit=20", True),
    Scenario("GET /api/articles/feed, token", "/api/articles/feed", True),
)


@dataclass(frozen=True)
class Result:
    scenario: str
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    statements_per_request: float


# The server: this file run as `conduit_load.py serve --port N`, in a child process.


def serve(port: int) -> None:
    """Run the app with one uvicorn worker, counting the statements it sends."""
    import uvicorn

    counted = [0]

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*args: Any) -> None:
        counted[0] += 1

    app = create_app()

    async def statements() -> dict[str, int]:
        return {"statements": counted[0]}

    app.add_api_route(STATEMENTS_PATH, statements, include_in_schema=False)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, access_log=False, log_level="warning")


# The driver: everything else.


async def main(options: argparse.Namespace) -> list[Result]:
    name = f"conduit_load_{secrets.token_hex(4)}"
    url = f"postgresql://{options.server}/{name}"
    secret = secrets.token_urlsafe(32)
    await _admin(options.server, f'CREATE DATABASE "{name}"')
    try:
        followers = await _prepare(url)
        async with _server(url, secret) as base_url:
            tokens = Tokens(secret, timedelta(hours=1))
            headers = [
                {"Authorization": f"Token {tokens.issue(user)}"}
                for user in followers[: options.concurrency]
            ]
            return [await _drive(base_url, scenario, headers, options) for scenario in SCENARIOS]
    finally:
        await _admin(options.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _prepare(url: str) -> list[uuid.UUID]:
    """Migrate and seed; return the users who follow someone, most followed authors first."""
    db = Database(url)
    try:
        started = time.perf_counter()
        await upgrade_async(db, config=load_config(CONDUIT))
        password_hash = await Passwords("RFC_9106_LOW_MEMORY").hash("password")
        written = await seed(db, PLAN, password_hash=password_hash)
        err.print(
            f"migrated and seeded {sum(written.values()):,} rows "
            f"({', '.join(f'{count:,} {table}' for table, count in written.items())}) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        async with db.read_session() as session:
            statement = select(User.id).where(
                select(Follow).where(Follow.follower_id == User.id).exists()
            )
            return list((await session.scalars(statement)).all())
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def _server(url: str, secret: str) -> AsyncIterator[str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "CONDUIT_JWT_SECRET": secret}
    command = [sys.executable, __file__, "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=CONDUIT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(base_url, process)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health/db")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the server at {base_url} did not answer /health/db within 30 s")


async def _drive(
    base_url: str, scenario: Scenario, tokens: list[dict[str, str]], options: argparse.Namespace
) -> Result:
    limits = httpx.Limits(max_connections=options.concurrency, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
        await _load(client, scenario, tokens, options.concurrency, WARM_UP)
        before = await _statements(client)
        started = time.perf_counter()
        latencies, errors = await _load(
            client, scenario, tokens, options.concurrency, options.seconds
        )
        elapsed = time.perf_counter() - started
        statements = await _statements(client) - before
    latencies.sort()
    done = len(latencies)
    result = Result(
        scenario=scenario.name,
        requests=done,
        errors=errors,
        seconds=round(elapsed, 2),
        requests_per_second=round(done / elapsed, 1),
        p50_ms=round(_percentile(latencies, 50) * 1000, 2),
        p99_ms=round(_percentile(latencies, 99) * 1000, 2),
        statements_per_request=round(statements / done, 2) if done else 0.0,
    )
    err.print(f"{scenario.name}: {result.requests_per_second:,.0f} requests/s")
    return result


async def _load(
    client: httpx.AsyncClient,
    scenario: Scenario,
    tokens: list[dict[str, str]],
    concurrency: int,
    seconds: float,
) -> tuple[list[float], int]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0

    async def worker(number: int) -> None:
        nonlocal errors
        headers = tokens[number % len(tokens)] if scenario.authenticated else {}
        while (sent := time.perf_counter()) < deadline:
            response = await client.get(scenario.path, headers=headers)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1

    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    return latencies, errors


async def _statements(client: httpx.AsyncClient) -> int:
    count: int = (await client.get(STATEMENTS_PATH)).json()["statements"]
    return count


def _percentile(ordered: list[float], percent: int) -> float:
    if not ordered:
        return 0.0
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[percent - 1]


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(f"postgresql://{server}/postgres", timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _report(results: list[Result], options: argparse.Namespace) -> None:
    out = Console(highlight=False, width=120)
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in DISTRIBUTIONS if _installed(name)
    )
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    out.print(f"Python {platform.python_version()}, {versions}; {os.cpu_count()} CPUs")
    out.print(f"uvicorn: 1 worker, {loop} event loop, {http} parser, access log off")
    out.print(
        f"{options.concurrency} concurrent clients, {options.seconds:g} s per scenario after "
        f"{WARM_UP:g} s of warm-up; seed: {PLAN.users} users, {PLAN.articles} articles, "
        f"{PLAN.tags} tags, {PLAN.comments:,} comments"
    )
    table = Table()
    for column in ("scenario", "requests", "errors", "requests/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("statements/request", justify="right")
    for result in results:
        table.add_row(
            result.scenario,
            f"{result.requests:,}",
            str(result.errors),
            f"{result.requests_per_second:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            f"{result.statements_per_request:g}",
        )
    out.print(table)
    if options.json:
        Path(options.json).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", choices=["run", "serve"], default="run")
    parser.add_argument("--port", type=int, help="serve mode: the port to listen on")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--server", default=SERVER, help="user[:password]@host[:port]")
    parser.add_argument("--json", help="write the results to this file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _parse(sys.argv[1:])
    if arguments.mode == "serve":
        serve(arguments.port)
    else:
        _report(asyncio.run(main(arguments)), arguments)
