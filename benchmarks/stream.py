"""Peak memory of asqla's ``stream()`` against loading every row with ``.all()``.

Run from the repository root::

    .venv/bin/python benchmarks/stream.py [--backend postgresql|mysql|sqlite] [--rows N]

The script creates its own database (``asqla_bench_<random>``; a temporary file for SQLite),
fills a table of six columns (bigint id, text, int, timestamp, numeric, text) with ``--rows``
rows in one ``INSERT ... SELECT`` (``generate_series`` on PostgreSQL, the ``seq_1_to_N``
sequence table on MariaDB, a recursive CTE on SQLite), and drops it at the end, also on an
error, Ctrl-C or SIGTERM.

Each case runs in a fresh Python process, so that one case's memory cannot hide another's:

- ``stream, ORM objects``: ``async for obj in stream(session, select(Model))``;
- ``.all(), ORM objects``: ``(await session.scalars(select(Model))).all()``;
- ``stream, rows``: ``async for row in stream(session, select(*columns))``;
- ``.all(), rows``: ``(await session.execute(select(*columns))).all()``.

Memory is the peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``, the kernel's
high-water mark) above the process's own baseline, taken after imports, the connection and
a small warm-up query of the same kind. RSS rather than tracemalloc, because RSS is what a
container's memory limit and the OOM killer count: it includes what C extensions (the
drivers) allocate outside Python's allocator and memory the allocator keeps after freeing,
both invisible to tracemalloc, and tracemalloc slows the run two- to threefold. The cases
run ``--rounds`` times, interleaved; the table shows medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import BigInteger, MetaData, Numeric, String, Text, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP
from asqla.repository import stream

SERVERS = {
    "postgresql": os.environ.get(
        "ASQLA_BENCH_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("ASQLA_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/"),
}
DRIVERS = {"postgresql": "asyncpg", "mysql": "asyncmy", "sqlite": "aiosqlite"}
CASES = ("stream, ORM objects", ".all(), ORM objects", "stream, rows", ".all(), rows")
WARM_UP_ROWS = 1_000

err = Console(stderr=True, highlight=False, width=120)


class Model(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Entry(Model):
    __tablename__ = "entry"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(100))
    reading: Mapped[int]
    taken_at: Mapped[datetime]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    note: Mapped[str] = mapped_column(Text)


COLUMNS = [Entry.id, Entry.label, Entry.reading, Entry.taken_at, Entry.amount, Entry.note]


def fill_statement(backend: str, rows: int) -> str:
    columns = "id, label, reading, taken_at, amount, note"
    if backend == "postgresql":
        return (
            f"INSERT INTO entry ({columns}) SELECT n, 'label ' || n, n % 1000, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + n * INTERVAL '1 second', "
            f"(n % 100000) / 100.0, repeat('x', 40) FROM generate_series(1, {rows}) AS n"
        )
    if backend == "mysql":
        return (
            f"INSERT INTO entry ({columns}) SELECT seq, CONCAT('label ', seq), seq % 1000, "
            "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, (seq % 100000) / 100.0, "
            f"REPEAT('x', 40) FROM seq_1_to_{rows}"
        )
    return (
        f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) "
        f"INSERT INTO entry ({columns}) SELECT n, 'label ' || n, n % 1000, "
        "strftime('%Y-%m-%d %H:%M:%f', '2024-01-01', '+' || n || ' seconds'), "
        "(n % 100000) / 100.0, printf('%.40c', 'x') FROM s"
    )


# -- the child: one case in a fresh process ------------------------------------------------


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def run_case(url: str, case: str, batch_size: int) -> dict[str, Any]:
    db = Database(url)
    entity = "ORM" in case
    statement: Any = select(Entry) if entity else select(*COLUMNS)
    try:
        async with db.session() as session:
            # Warm-up of the same kind: imports, connection, statement caches.
            warm = statement.order_by(Entry.id).limit(WARM_UP_ROWS)
            async for _ in stream(session, warm, batch_size=batch_size):
                pass
            (await session.execute(warm)).all()
        baseline = peak_rss_kib()
        started = time.perf_counter()
        count = 0
        async with db.session() as session:
            if case.startswith("stream"):
                async for _ in stream(session, statement, batch_size=batch_size):
                    count += 1
            elif entity:
                count = len((await session.scalars(statement)).all())
            else:
                count = len((await session.execute(statement)).all())
        seconds = time.perf_counter() - started
        return {
            "case": case,
            "rows": count,
            "seconds": seconds,
            "baseline_kib": baseline,
            "peak_kib": peak_rss_kib(),
        }
    finally:
        await db.dispose()


def child(args: argparse.Namespace) -> int:
    result = asyncio.run(run_case(args.url, args.child, args.batch_size))
    print(json.dumps(result))
    return 0


# -- the parent: database, table, rounds, report -------------------------------------------


async def admin(backend: str, server: str, statement: str) -> None:
    engine = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def prepare(backend: str, url: str, rows: int) -> float:
    db = Database(url)
    try:
        await db.create_all(Model.metadata)
        started = time.perf_counter()
        async with db.engine.begin() as conn:
            await conn.execute(text(fill_statement(backend, rows)))
        return time.perf_counter() - started
    finally:
        await db.dispose()


def spawn(url: str, case: str, rows: int, batch_size: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", case, "--url", url]
    command += ["--batch-size", str(batch_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {case!r} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rows"] != rows:
        raise RuntimeError(f"case {case!r} read {result['rows']:,} rows, not {rows:,}")
    return result


def run_rounds(args: argparse.Namespace, url: str) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    for round_ in range(args.rounds):
        order = CASES if round_ % 2 == 0 else tuple(reversed(CASES))
        for case in order:
            results[case].append(spawn(url, case, args.rows, args.batch_size))
        err.print(f"round {round_ + 1}/{args.rounds} done")
    return results


def mib(kib: float) -> float:
    return kib / 1024


def report(args: argparse.Namespace, results: dict[str, list[dict[str, Any]]]) -> None:
    summary: dict[str, dict[str, float]] = {}
    for case, runs in results.items():
        summary[case] = {
            "peak_mib": statistics.median(mib(r["peak_kib"] - r["baseline_kib"]) for r in runs),
            "baseline_mib": statistics.median(mib(r["baseline_kib"]) for r in runs),
            "seconds": statistics.median(r["seconds"] for r in runs),
        }
    if args.json:
        print(json.dumps({"backend": args.backend, "rows": args.rows, "results": summary}))
        return
    table = Table(
        title=f"{args.rows:,} rows on {args.backend} ({DRIVERS[args.backend]}), "
        f"batch_size={args.batch_size}, median of {args.rounds} rounds"
    )
    table.add_column("case")
    table.add_column("peak RSS above baseline", justify="right")
    table.add_column("baseline RSS", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    for case, values in summary.items():
        table.add_row(
            case,
            f"{values['peak_mib']:.1f} MiB",
            f"{values['baseline_mib']:.1f} MiB",
            f"{values['seconds']:.2f}",
            f"{args.rows / values['seconds']:,.0f}",
        )
    console = Console(width=120)
    console.print(table)
    ratios = Table(title="stream() / .all()")
    ratios.add_column("kind")
    ratios.add_column("memory", justify="right")
    ratios.add_column("time", justify="right")
    for kind in ("ORM objects", "rows"):
        streamed, loaded = summary[f"stream, {kind}"], summary[f".all(), {kind}"]
        memory = streamed["peak_mib"] / max(loaded["peak_mib"], 0.1)
        ratios.add_row(
            kind,
            f"{memory:.4f} (1/{1 / max(memory, 1e-9):,.0f})",
            f"{streamed['seconds'] / loaded['seconds']:.2f}",
        )
    console.print(ratios)


async def with_database(args: argparse.Namespace) -> tuple[str, Any]:
    """Create the database; return its URL and a coroutine function that drops it."""
    if args.backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="asqla_bench_"))
        path = folder / "stream.db"

        async def drop_file() -> None:
            for leftover in folder.iterdir():
                leftover.unlink()
            folder.rmdir()
            err.print(f"removed {path}")

        return f"sqlite+aiosqlite:///{path}", drop_file
    server = make_url(args.server or SERVERS[args.backend])
    database = f"asqla_bench_{secrets.token_hex(4)}"
    quote = '"' if args.backend == "postgresql" else "`"
    server_url = server.render_as_string(hide_password=False)
    await admin(args.backend, server_url, f"CREATE DATABASE {quote}{database}{quote}")
    err.print(f"database {database} on {server.host}:{server.port or ''}")

    async def drop() -> None:
        force = " WITH (FORCE)" if args.backend == "postgresql" else ""
        statement = f"DROP DATABASE IF EXISTS {quote}{database}{quote}{force}"
        await admin(args.backend, server_url, statement)
        err.print(f"dropped database {database}")

    return server.set(database=database).render_as_string(hide_password=False), drop


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: clean up as for Ctrl-C


def parent(args: argparse.Namespace) -> int:
    err.print(
        f"Python {platform.python_version()}, SQLAlchemy {importlib.metadata.version('sqlalchemy')}"
        f", {DRIVERS[args.backend]} {importlib.metadata.version(DRIVERS[args.backend])}; "
        f"{os.cpu_count()} CPUs"
    )
    err.print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _interrupt)
    url, drop = asyncio.run(with_database(args))
    try:
        seconds = asyncio.run(prepare(args.backend, url, args.rows))
        err.print(f"filled {args.rows:,} rows in {seconds:.1f} s")
        results = run_rounds(args, url)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    finally:
        asyncio.run(drop())
    report(args, results)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backend", choices=("postgresql", "mysql", "sqlite"), default="postgresql"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table (1,000,000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="stream() batch size (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four cases (3)")
    parser.add_argument(
        "--server", help="server URL (default: $ASQLA_BENCH_<BACKEND>_URL or local)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
