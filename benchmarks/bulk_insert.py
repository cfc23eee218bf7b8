"""Insert N rows into PostgreSQL five ways, side by side in one run, and compare with raw COPY.

Run from the repository root::

    .venv/bin/python benchmarks/bulk_insert.py [--rows N] [--rounds R] [--json]

Contenders, each inserting the same rows into the same table and committing:

- ``asqla``: ``asqla.repository.bulk.bulk_insert(session, Model, dicts)`` (binary COPY);
- ``sqlalchemy_orm_add_all``: ``session.add_all(objects)`` then ``flush()``;
- ``sqlalchemy_core_executemany``: ``session.execute(insert(table), dicts)``;
- ``advanced_alchemy_add_many``: advanced-alchemy's ``SQLAlchemyAsyncRepository.add_many(objects)``;
- ``asyncpg_copy``: asyncpg's ``copy_records_to_table(records=tuples)``, the reference.

Each contender gets its rows in the form it takes (dicts, model instances or tuples), built
before its timer starts; the timer covers the insert and the COMMIT. The table (bigint id,
uuid, text, int, timestamptz, numeric) is truncated before every run. After an untimed
warm-up with 1,000 rows, the contenders run in ``--rounds`` interleaved rounds, the order
rotating every round; the table shows the median time per contender and its ratio to the
median of raw COPY. The script creates its own database (``asqla_bench_<random>``) and drops
it at the end, also on an error, Ctrl-C or SIGTERM.
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
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from rich.console import Console
from rich.table import Table
from sqlalchemy import BigInteger, MetaData, Numeric, Text, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP
from asqla.repository.bulk import bulk_insert

SERVER = os.environ.get("ASQLA_BENCH_POSTGRESQL_SERVER", "postgres@127.0.0.1:5432")
DISTRIBUTIONS = ("sqlalchemy", "asyncpg", "advanced-alchemy")
COPY = "asyncpg_copy"

err = Console(stderr=True, highlight=False, width=120)


class Model(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Measurement(Model):
    """Six columns: bigint, uuid, text, int, timestamptz (asqla's UTCDateTime), numeric."""

    __tablename__ = "measurement"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sensor: Mapped[uuid.UUID]
    label: Mapped[str] = mapped_column(Text)
    reading: Mapped[int]
    taken_at: Mapped[datetime]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))


COLUMNS = ("id", "sensor", "label", "reading", "taken_at", "amount")


class MeasurementRepository(SQLAlchemyAsyncRepository[Measurement]):
    model_type = Measurement


def make_rows(count: int) -> list[dict[str, Any]]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        {
            "id": i,
            "sensor": uuid.uuid4(),
            "label": f"sensor reading number {i}",
            "reading": i % 1000,
            "taken_at": start + timedelta(seconds=i),
            "amount": Decimal(i % 100_000) / 100,
        }
        for i in range(1, count + 1)
    ]


class Bench:
    def __init__(self, url: str, dsn: dict[str, Any]) -> None:
        self.asqla = Database(url)
        self.engine = create_async_engine(url, pool_size=1, max_overflow=0)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.dsn = dsn
        self.raw: asyncpg.Connection | None = None

    async def start(self) -> None:
        await self.asqla.create_all(Model.metadata)
        self.raw = await asyncpg.connect(**self.dsn)

    async def close(self) -> None:
        if self.raw is not None:
            await self.raw.close()
        await self.engine.dispose()
        await self.asqla.dispose()

    async def truncate(self) -> None:
        assert self.raw is not None
        await self.raw.execute("TRUNCATE measurement")

    async def count(self) -> int:
        assert self.raw is not None
        return int(await self.raw.fetchval("SELECT count(*) FROM measurement"))

    # Each case returns the coroutine to time, its input already built.

    def asqla_case(self, rows: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with self.asqla.session() as session:
                await bulk_insert(session, Measurement, rows)

        return run

    def orm_case(self, rows: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        objects = [Measurement(**row) for row in rows]

        async def run() -> None:
            async with self.sessions() as session, session.begin():
                session.add_all(objects)
                await session.flush()

        return run

    def core_case(self, rows: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with self.sessions() as session, session.begin():
                await session.execute(insert(Measurement), rows)

        return run

    def advanced_alchemy_case(self, rows: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        objects = [Measurement(**row) for row in rows]

        async def run() -> None:
            session: AsyncSession
            async with self.sessions() as session, session.begin():
                await MeasurementRepository(session=session).add_many(objects)

        return run

    def copy_case(self, rows: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        records = [tuple(row[c] for c in COLUMNS) for row in rows]
        raw = self.raw
        assert raw is not None

        async def run() -> None:
            async with raw.transaction():
                await raw.copy_records_to_table("measurement", records=records, columns=COLUMNS)

        return run

    def cases(self) -> dict[str, Callable[[list[dict[str, Any]]], Callable[[], Awaitable[None]]]]:
        return {
            "asqla": self.asqla_case,
            "sqlalchemy_orm_add_all": self.orm_case,
            "sqlalchemy_core_executemany": self.core_case,
            "advanced_alchemy_add_many": self.advanced_alchemy_case,
            COPY: self.copy_case,
        }


async def timed(bench: Bench, name: str, rows: list[dict[str, Any]]) -> float:
    await bench.truncate()
    run = bench.cases()[name](rows)
    started = time.perf_counter()
    await run()
    seconds = time.perf_counter() - started
    inserted = await bench.count()
    if inserted != len(rows):
        raise RuntimeError(f"{name} inserted {inserted:,} rows, not {len(rows):,}")
    return seconds


async def run_bench(args: argparse.Namespace) -> dict[str, list[float]]:
    with contextlib.suppress(NotImplementedError, RuntimeError):
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    user, _, hostport = args.server.rpartition("@")
    host, _, port = hostport.partition(":")
    admin_dsn = {"user": user or "postgres", "host": host, "port": int(port or 5432)}
    database = f"asqla_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database="postgres", **admin_dsn)
    url = f"postgresql+asyncpg://{admin_dsn['user']}@{host}:{admin_dsn['port']}/{database}"
    bench: Bench | None = None
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        server = await admin.fetchval("SHOW server_version")
        err.print(f"database {database} on {host}:{admin_dsn['port']}, PostgreSQL {server}")
        bench = Bench(url, {"database": database, **admin_dsn})
        await bench.start()
        rows = make_rows(args.rows)
        warm = rows[:1000]
        for name in bench.cases():
            await timed(bench, name, warm)
        names = list(bench.cases())
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                times[name].append(await timed(bench, name, rows))
            err.print(f"round {round_ + 1}/{args.rounds} done")
        return times
    finally:
        if bench is not None:
            await bench.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        err.print(f"dropped database {database}")


def report(args: argparse.Namespace, times: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    copy = medians[COPY]
    results = [
        {"name": name, "seconds": round(seconds, 4), "ratio_to_copy": round(seconds / copy, 2)}
        for name, seconds in medians.items()
    ]
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return
    table = Table(
        title=f"Insert {args.rows:,} rows into PostgreSQL, median of {args.rounds} rounds"
    )
    table.add_column("contender")
    table.add_column("median s", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("x raw COPY", justify="right")
    table.add_column("per round s", justify="right")
    table.add_column("x COPY per round", justify="right")
    for name, seconds in sorted(medians.items(), key=lambda item: item[1]):
        per_round = [value / base for value, base in zip(times[name], times[COPY], strict=True)]
        table.add_row(
            name,
            f"{seconds:.3f}",
            f"{args.rows / seconds:,.0f}",
            f"{seconds / copy:.2f}",
            " ".join(f"{value:.3f}" for value in times[name]),
            f"{min(per_round):.2f}-{max(per_round):.2f}",
        )
    Console(width=140).print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per run (100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--server", default=SERVER, help="user@host:port ($ASQLA_BENCH_POSTGRESQL_SERVER)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    err.print(
        f"Python {platform.python_version()}, "
        + ", ".join(f"{d} {importlib.metadata.version(d)}" for d in DISTRIBUTIONS)
        + f"; {os.cpu_count()} CPUs"
    )
    err.print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    try:
        times = asyncio.run(run_bench(args))
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except asyncio.CancelledError:
        err.print("terminated")
        return 143
    report(args, times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
