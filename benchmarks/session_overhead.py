"""What asqla's guarded session costs a request, side by side against plain SQLAlchemy.

Run from the repository root::

    .venv/bin/python benchmarks/session_overhead.py [--units N] [--rounds R] [--backends ...]

A *unit* is what one request does: open a session, do the work, end the session. Cases:

(a) one ``session.get`` by primary key;
(b) ten ``session.get`` of different keys in one session;
(c) an INSERT of one ORM object and its COMMIT;
(d) a ``select()`` of 100 rows, ``.scalars().all()``;
(e) one ``session.get``, then 20 more of the same key, answered from the identity map without
    SQL: a unit in which the session's own cost per call is most of the work.

Four contenders run every case, each with its own pool of the same size:

- ``asqla``: ``Database(url)``, then ``async with db.session() as s:`` for (c) and
  ``db.read_session()`` for the reads (a), (b), (d) and (e);
- ``asqla, no call task``: the same, through a subclass of asqla's ``AsyncSession`` whose
  private ``_asqla_run`` awaits the call in the caller's task, inside ``asyncio.timeout``,
  instead of in a task of its own (a benchmark-only hook: the library has no switch for it).
  The rest of the guard stays: the concurrency and read-only checks, error translation;
- ``asqla, SA session``: the same ``Database`` (engine, dialect setup, ``session()`` and
  ``read_session()``) handing out SQLAlchemy's own ``AsyncSession``: no guard at all;
- ``plain SQLAlchemy``: ``create_async_engine`` with the same URL (so the same driver) and
  the same pool settings as the ``web`` preset, ``async_sessionmaker(expire_on_commit=False)``,
  ``async with maker() as s, s.begin():``. None of asqla's per-dialect connection setup.

So asqla - no call task is the per-call task, asqla - SA session the whole guard (per guarded
call), and SA session - plain what asqla's engine and ``Database`` add or save (on SQLite:
WAL, ``BEGIN IMMEDIATE`` and a statement deadline; on PostgreSQL: reads in autocommit, without
BEGIN and ROLLBACK).

Each timed batch runs ``--units`` units in a row and records wall-clock time and this process's
CPU time (``time.process_time``, which includes aiosqlite's worker thread but not a server).
After an untimed warm-up, ``--rounds`` interleaved rounds run every case for every contender,
in one order in odd rounds and the reverse in even ones, so that a shared machine's load hits
all alike; asqla and plain SQLAlchemy run next to each other. The tables show medians per
unit, and the median, quartiles and range of the per-round ratios asqla / plain; the
components are medians of the per-round differences.

Backends: SQLite (a file in a temporary directory), PostgreSQL and MariaDB/MySQL, each in a
database ``asqla_bench_<random>`` created for the run and dropped at the end, also on an error,
Ctrl-C or SIGTERM. A server that does not answer is skipped with a note. Servers:
``--postgresql URL`` (or ``$ASQLA_BENCH_POSTGRESQL_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``), ``--mysql URL`` (or
``$ASQLA_BENCH_MYSQL_URL``, default ``mysql+asyncmy://root@127.0.0.1:3306/``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import MetaData, String, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as SAAsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from asqla import AsyncSession, Database

SERVERS = {
    "postgresql": os.environ.get(
        "ASQLA_BENCH_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("ASQLA_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/"),
}
BACKENDS = ("sqlite", "postgresql", "mysql")
DISTRIBUTIONS = ("sqlalchemy", "asqla", "aiosqlite", "asyncpg", "asyncmy")
ROWS = 1_000

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


class Model(DeclarativeBase):
    metadata = MetaData()


class Item(Model):
    __tablename__ = "bench_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[int]


class Note(Model):
    __tablename__ = "bench_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(100))


# -- the contenders -----------------------------------------------------------------------


class NoCallTaskSession(AsyncSession):
    """asqla's session with the per-call task taken out: the benchmark's private hook.

    ``_asqla_run`` runs a guarded call in a task of its own, bounded by the command
    timeout. Here the caller awaits the call itself, bounded the ordinary way, by
    ``asyncio.timeout``: what the guard would cost without its cancellation safety.
    """

    calls = 0

    async def _asqla_run(
        self, call: Coroutine[Any, Any, Any], caller: asyncio.Task[Any] | None
    ) -> Any:
        NoCallTaskSession.calls += 1
        # The caller runs the call itself, so nested calls (scalars() awaiting
        # execute()) must be recognised as coming from this task.
        self._asqla_runner = caller
        async with asyncio.timeout(self._asqla_timeout):
            return await call


class UnguardedSession(SAAsyncSession):
    """SQLAlchemy's own session, handed out by a ``Database``: no guard at all."""

    _asqla_interrupted = False  # read by Database.session() after an error


CONTENDERS = ("asqla", "asqla, no call task", "asqla, SA session", "plain SQLAlchemy")
ASQLA, NO_TASK, SA_SESSION, PLAIN = CONTENDERS
# The order of a round (reversed every other round): each pair that is compared
# runs side by side, asqla and plain SQLAlchemy in both directions.
RUN_ORDER = (NO_TASK, ASQLA, PLAIN, SA_SESSION)


@dataclass
class Contender:
    name: str
    db: Database | None = None
    engine: AsyncEngine | None = None
    maker: async_sessionmaker[SAAsyncSession] | None = None

    async def dispose(self) -> None:
        if self.db is not None:
            await self.db.dispose()
        if self.engine is not None:
            await self.engine.dispose()


def contenders(url: str) -> dict[str, Contender]:
    out = {name: Contender(name, db=Database(url)) for name in CONTENDERS[:3]}
    no_task, sa_session = out[NO_TASK].db, out[SA_SESSION].db
    assert no_task is not None and sa_session is not None
    no_task.sessionmaker.class_ = NoCallTaskSession
    sa_session.sessionmaker.class_ = UnguardedSession
    reference = out[ASQLA].db
    assert reference is not None
    preset = reference.settings.engine_preset
    engine = create_async_engine(
        reference.engine.url,  # asqla's URL: the same driver
        poolclass=AsyncAdaptedQueuePool,
        pool_size=preset.pool_size,
        max_overflow=preset.max_overflow,
        pool_timeout=preset.pool_timeout,
        pool_recycle=preset.pool_recycle,
        pool_pre_ping=preset.pool_pre_ping,
    )
    out[PLAIN] = Contender(
        PLAIN, engine=engine, maker=async_sessionmaker(engine, expire_on_commit=False)
    )
    return out


# -- the cases ---------------------------------------------------------------------------


def key(number: int) -> int:
    return 1 + (number * 7919) % ROWS


async def get_one(session: SAAsyncSession, number: int) -> Item | None:
    return await session.get(Item, key(number))


async def get_ten(session: SAAsyncSession, number: int) -> list[Item | None]:
    return [await session.get(Item, key(number + offset)) for offset in range(10)]


async def get_cached(session: SAAsyncSession, number: int) -> list[Item | None]:
    first = await session.get(Item, key(number))
    # Already in the identity map: answered without SQL, so only the session's
    # own cost per call remains.
    return [first, *[await session.get(Item, key(number)) for _ in range(20)]]


async def insert_one(session: SAAsyncSession, number: int) -> Note:
    note = Note(body=f"note {number}")
    session.add(note)
    return note  # committed when the unit ends


async def select_100(session: SAAsyncSession, number: int) -> list[Item]:
    statement = select(Item).where(Item.id > number % (ROWS - 100)).order_by(Item.id).limit(100)
    return list((await session.scalars(statement)).all())


def _found(value: Any) -> int:
    if isinstance(value, list):
        return sum(_found(item) for item in value)
    return 0 if value is None or getattr(value, "id", None) is None else 1


@dataclass(frozen=True)
class Case:
    label: str
    body: Callable[[SAAsyncSession, int], Awaitable[Any]]
    read: bool
    calls: int  # guarded session calls per unit (asqla)
    expect: int  # rows (with their primary key) one unit must see: checked after the warm-up


CASES = {
    "get": Case("(a) 1 get by PK", get_one, read=True, calls=1, expect=1),
    "get10": Case("(b) 10 gets, 1 session", get_ten, read=True, calls=10, expect=10),
    # The guarded call is the commit() that ends the unit: it flushes and commits.
    "insert": Case("(c) INSERT 1 + COMMIT", insert_one, read=False, calls=1, expect=1),
    # scalars(), which awaits execute() inside the same guarded call.
    "select": Case("(d) select 100 rows", select_100, read=True, calls=1, expect=100),
    "cached": Case("(e) 1 get + 20 from identity map", get_cached, read=True, calls=21, expect=21),
}


async def unit(case: Case, c: Contender, number: int) -> Any:
    """Run one unit of ``case``, the way a request would."""
    if c.maker is not None:  # plain SQLAlchemy, exactly as a user writes it
        async with c.maker() as session, session.begin():
            result = await case.body(session, number)
    else:
        assert c.db is not None
        async with c.db.read_session() if case.read else c.db.session() as session:
            result = await case.body(session, number)
    return result


# -- timing --------------------------------------------------------------------------------

Sample = tuple[float, float]
"""Seconds per unit: wall clock, and CPU time of this process."""


async def batch(case: Case, c: Contender, units: int, start: int) -> Sample:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(start, start + units):
        await unit(case, c, number)
    return (time.perf_counter() - wall) / units, (time.process_time() - cpu) / units


@dataclass
class Results:
    backend: str
    version: str
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)


async def measure(backend: str, url: str, args: argparse.Namespace) -> Results:
    all_ = contenders(url)
    try:
        reference = all_[ASQLA].db
        assert reference is not None
        await reference.drop_all(Model.metadata)
        await reference.create_all(Model.metadata)
        async with reference.session() as session:
            await session.execute(
                insert(Item),
                [{"id": i, "name": f"item {i}", "value": i} for i in range(1, ROWS + 1)],
            )
        async with reference.read_session() as session:
            version = str((await session.execute(text(_VERSION_SQL[backend]))).scalar())
        console.print(f"{backend}: {reference.settings.display_url}, server {version}")
        results = Results(backend, version)
        number = 0
        for key_, case in CASES.items():  # untimed warm-up, and a check of what units return
            for c in all_.values():
                got = [_found(await unit(case, c, number + n)) for n in range(5)]
                number += len(got)
                if set(got) != {case.expect}:
                    raise RuntimeError(f"{c.name}, {case.label}: units returned {got}")
            results.samples[key_] = {name: [] for name in all_}
        if NoCallTaskSession.calls == 0:
            raise RuntimeError("the no-call-task hook was never called: has _session.py changed?")
        started = time.perf_counter()
        for round_ in range(args.rounds):
            order = RUN_ORDER if round_ % 2 == 0 else RUN_ORDER[::-1]
            for key_, case in CASES.items():
                for name in order:
                    sample = await batch(case, all_[name], args.units, number)
                    number += args.units
                    results.samples[key_][name].append(sample)
            if (round_ + 1) % 10 == 0 or round_ + 1 == args.rounds:
                console.print(
                    f"  round {round_ + 1}/{args.rounds} done "
                    f"({time.perf_counter() - started:.0f} s)"
                )
        return results
    finally:
        for c in all_.values():
            await c.dispose()


_VERSION_SQL = {
    "sqlite": "SELECT sqlite_version()",
    "postgresql": "SHOW server_version",
    "mysql": "SELECT VERSION()",
}


# -- servers: a database of our own, dropped at the end ------------------------------------


@contextlib.asynccontextmanager
async def server_database(backend: str, server: str) -> AsyncIterator[str | None]:
    """Create ``asqla_bench_<random>`` and yield its URL; ``None`` if the server is down."""
    admin_url = make_url(server)
    admin = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"asqla_bench_{secrets.token_hex(4)}"
    quoted = f'"{name}"' if backend == "postgresql" else f"`{name}`"
    try:
        try:
            async with asyncio.timeout(10), admin.connect() as connection:
                await connection.execute(text(f"CREATE DATABASE {quoted}"))
        except Exception as exc:  # not answering: skip it, and say so
            console.print(f"{backend}: skipped, no answer from the server ({exc!r})")
            created = False
        else:
            created = True
        try:
            yield (
                admin_url.set(database=name).render_as_string(hide_password=False)
                if created
                else None
            )
        finally:
            if created:
                force = " WITH (FORCE)" if backend == "postgresql" else ""
                async with admin.connect() as connection:
                    await connection.execute(text(f"DROP DATABASE IF EXISTS {quoted}{force}"))
                console.print(f"{backend}: dropped database {name}")
    finally:
        await admin.dispose()


# -- asyncio's own costs on this machine ---------------------------------------------------


async def asyncio_costs(repeats: int = 20_000) -> dict[str, float]:
    """Microseconds per operation, median of 5 interleaved runs."""

    async def nothing() -> None:
        return None

    async def direct() -> None:
        for _ in range(repeats):
            await nothing()

    async def task() -> None:
        for _ in range(repeats):
            await asyncio.create_task(nothing())

    async def task_wait() -> None:
        for _ in range(repeats):
            runner = asyncio.create_task(nothing())
            await asyncio.wait((runner,))
            runner.result()

    async def timeout() -> None:
        for _ in range(repeats):
            async with asyncio.timeout(60):
                await nothing()

    async def loop_turn() -> None:
        for _ in range(repeats):
            await asyncio.sleep(0)

    runs = {
        "await a coroutine (reference)": direct,
        "create_task + await": task,
        "create_task + asyncio.wait((task,))": task_wait,
        "async with asyncio.timeout(60)": timeout,
        "one event-loop turn (sleep(0))": loop_turn,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(5):
        for name in list(runs) if round_ % 2 == 0 else list(runs)[::-1]:
            started = time.perf_counter()
            await runs[name]()
            times[name].append((time.perf_counter() - started) / repeats * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


# -- output --------------------------------------------------------------------------------


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4)
    return q1, median, q3


def report(results: Results, args: argparse.Namespace) -> None:
    table = Table(
        title=(
            f"{results.backend}: µs per unit, median of {args.rounds} interleaved rounds of "
            f"{args.units} units"
        ),
        title_justify="left",
    )
    table.add_column("case")
    table.add_column("clock")
    for name in CONTENDERS:
        table.add_column(name, justify="right")
    table.add_column("asqla / plain", justify="right")
    table.add_column("quartiles", justify="right")
    table.add_column("range", justify="right")
    for key_, case in CASES.items():
        samples = results.samples[key_]
        for index, clock in enumerate(("wall", "CPU")):
            medians = [statistics.median(s[index] for s in samples[n]) for n in CONTENDERS]
            ratios = [
                a[index] / p[index] for a, p in zip(samples[ASQLA], samples[PLAIN], strict=True)
            ]
            q1, median, q3 = _quartiles(ratios)
            table.add_row(
                case.label if index == 0 else "",
                clock,
                *(f"{m * 1e6:,.0f}" for m in medians),
                f"{median:.2f}",
                f"{q1:.2f}-{q3:.2f}",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
            )
    console.print(table)


def components(all_results: list[Results]) -> None:
    table = Table(
        title=(
            "Where the difference goes: medians of per-round differences, µs, wall (CPU); "
            "per call = per guarded session call"
        ),
        title_justify="left",
    )
    for column, justify in (
        ("backend", "left"),
        ("case", "left"),
        ("calls", "right"),
        ("call task, per call", "right"),
        ("whole guard, per call", "right"),
        ("engine + Database, per unit", "right"),
        ("asqla - plain, per unit", "right"),
    ):
        table.add_column(column, justify=justify)

    def diff(samples: dict[str, list[Sample]], a: str, b: str, per: int) -> str:
        out = []
        for index in (0, 1):
            d = [
                (x[index] - y[index]) * 1e6 / per
                for x, y in zip(samples[a], samples[b], strict=True)
            ]
            out.append(statistics.median(d))
        return f"{out[0]:,.1f} ({out[1]:,.1f})"

    for results in all_results:
        for key_, case in CASES.items():
            samples = results.samples[key_]
            table.add_row(
                results.backend,
                case.label,
                str(case.calls),
                diff(samples, ASQLA, NO_TASK, case.calls),
                diff(samples, ASQLA, SA_SESSION, case.calls),
                diff(samples, SA_SESSION, PLAIN, 1),
                diff(samples, ASQLA, PLAIN, 1),
            )
    console.print(table)


def show_asyncio(costs: dict[str, float]) -> None:
    table = Table(
        title="asyncio on this machine, µs per operation (median of 5)", title_justify="left"
    )
    table.add_column("operation")
    table.add_column("µs", justify="right")
    for name, value in costs.items():
        table.add_row(name, f"{value:.2f}")
    console.print(table)


# -- main ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError):
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    show_asyncio(await asyncio_costs())
    all_results: list[Results] = []
    for backend in args.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="asqla_bench_") as directory:
                url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
                all_results.append(await measure(backend, url, args))
            continue
        async with server_database(backend, getattr(args, backend)) as url:
            if url is not None:
                all_results.append(await measure(backend, url, args))
    for results in all_results:
        report(results, args)
    if all_results:
        components(all_results)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=10, help="units per timed batch (10)")
    parser.add_argument("--rounds", type=int, default=50, help="interleaved rounds (50)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        type=lambda value: [part.strip() for part in value.split(",") if part.strip()],
        help="comma-separated, from sqlite,postgresql,mysql (all three)",
    )
    parser.add_argument("--postgresql", default=SERVERS["postgresql"], help="server URL")
    parser.add_argument("--mysql", default=SERVERS["mysql"], help="server URL")
    args = parser.parse_args(argv)
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}")
    if args.units < 1 or args.rounds < 1:
        parser.error("--units and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    console.print(
        f"Python {platform.python_version()}, "
        + ", ".join(f"{d} {importlib.metadata.version(d)}" for d in DISTRIBUTIONS)
        + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    console.print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except asyncio.CancelledError:  # SIGTERM cancels the main task (see run)
        console.print("terminated")
        return 143
    console.print(
        f"total runtime {time.perf_counter() - started:.0f} s, "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
