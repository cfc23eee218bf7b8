"""asyncmy vs aiomysql through SQLAlchemy's async engine: throughput and correctness.

Run from the repository root::

    .venv/bin/python benchmarks/mysql_drivers.py [--rows N] [--seconds S]

The script creates its own database (``asqla_bench_<random>``) on the server given by
``--server`` (default ``root@127.0.0.1:3306``, or ``$ASQLA_BENCH_MYSQL_SERVER``) and drops it
at the end, also when a step fails or the run is interrupted.

Both drivers run in one process, against the same tables, case by case and round by round;
within each round the order of the two drivers alternates (AB, BA, AB, ...) so that neither
always runs first on the shared machine.  The summary is the median over the rounds.

Cases (all through ``create_async_engine("mysql+<driver>://...")``):

1. point select by primary key, many iterations on one connection (ops/s);
2. fetch ``--rows`` rows x 6 columns with ``session.execute(select(...)).all()`` (rows/s);
3. insert ``--rows`` rows with ``insert().values([...])`` in batches, and with one
   executemany ``conn.execute(insert(t), [...])`` (rows/s);
4. 16 concurrent tasks doing point selects over a pool of 8 connections (total ops/s);
5. ``conn.stream()`` (server-side cursor) over ``--stream-rows`` rows (rows/s), with the peak
   RSS delta sampled during the timed passes and a tracemalloc peak from a separate pass.

Correctness checks: utf8mb4 emoji round-trip, DATETIME(6) microseconds, cancellation of
``SELECT SLEEP(2)`` by ``asyncio.timeout(0.2)``, error arguments of a duplicate key (and of
MariaDB's max_statement_time), and the install footprint and import time of each driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import random
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

DRIVERS = ("asyncmy", "aiomysql")
# distribution name -> importable module, for the footprint check
DISTRIBUTIONS = {"asyncmy": "asyncmy", "aiomysql": "aiomysql", "PyMySQL": "pymysql"}

POOL_SIZE = 8
CONCURRENT_TASKS = 16
STREAM_PARTITION = 1000
EMOJI = "asqla \U0001f40d \U0001f469\u200d\U0001f4bb \U0001d11e \u00f1 \u2713 \U0001f680"
MICROSECOND_VALUES = (
    dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
    dt.datetime(1999, 12, 31, 0, 0, 0, 1),
    dt.datetime(2038, 1, 19, 3, 14, 8, 500000),
)
BODY = ("lorem ipsum dolor sit amet, consectetur adipiscing elit; gr\u00fc\u00dfe " * 8)[:200]
BASE_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)

metadata = MetaData()


def _columns() -> list[Column[Any]]:
    return [
        Column("name", String(64), nullable=False),
        Column("created", DATETIME(fsp=6), nullable=False),
        Column("amount", Numeric(12, 2), nullable=False),
        Column("body", Text, nullable=False),
        Column("note", String(64), nullable=True),
    ]


table_kw: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
rows_t = Table(
    "bench_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    *_columns(),
    **table_kw,
)
insert_t = Table(
    "bench_insert",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_columns(),
    **table_kw,
)
check_t = Table(
    "bench_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("label", String(64), nullable=True),
    Column("at", DATETIME(fsp=6), nullable=True),
    **table_kw,
)


def make_row(i: int) -> dict[str, Any]:
    return {
        "name": f"name-{i:08d}",
        "created": BASE_TIME + dt.timedelta(seconds=i, microseconds=(i * 7919) % 1_000_000),
        "amount": Decimal(f"{i % 1_000_000}.{i % 100:02d}"),
        "body": BODY[: 80 + i % 120],
        "note": None if i % 2 == 0 else f"note {i}",
    }


def rss_bytes() -> int:
    """Current resident set size (Linux: /proc/self/statm; elsewhere: peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


# --------------------------------------------------------------------------- output


try:
    from rich.console import Console
    from rich.table import Table as RichTable

    _console: Any = Console()
    if not _console.is_terminal:
        _console = Console(width=180)
except ImportError:  # pragma: no cover - plain-text fallback
    _console = None


def show_table(title: str, headers: list[str], rows: list[list[str]], right: int = 1) -> None:
    """Print a table; columns from index ``right`` on are right-aligned."""
    if _console is not None:
        table = RichTable(title=title, title_justify="left")
        for i, h in enumerate(headers):
            table.add_column(h, justify="right" if i >= right else "left", overflow="fold")
        for row in rows:
            table.add_row(*row)
        _console.print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def say(message: str) -> None:
    if _console is not None:
        _console.print(message, highlight=False, markup=False)
    else:
        print(message)


# --------------------------------------------------------------------------- footprint


@dataclass
class Footprint:
    dist: str
    version: str
    wheel: str
    tag: str
    extensions: int
    ext_kib: float
    size_kib: float
    requires: list[str]
    loaded_from: str


def footprint(dist_name: str) -> Footprint:
    dist = importlib.metadata.distribution(dist_name)
    wheel_meta = dist.read_text("WHEEL") or ""
    purelib = "Root-Is-Purelib: true" in wheel_meta
    tags = [ln.split(":", 1)[1].strip() for ln in wheel_meta.splitlines() if ln.startswith("Tag:")]
    files = dist.files or []
    size = sum(f.size or 0 for f in files)
    exts = [f for f in files if str(f).endswith((".so", ".pyd"))]
    ext_size = sum(f.size or 0 for f in exts)
    requires = [r for r in (dist.requires or []) if "extra ==" not in r]
    module = DISTRIBUTIONS[dist_name]
    probe = f"{module}.connection" if module != "pymysql" else "pymysql.connections"
    spec = importlib.util.find_spec(probe)
    origin = os.path.splitext(spec.origin)[1] if spec and spec.origin else "?"
    return Footprint(
        dist=dist_name,
        version=dist.version,
        wheel="pure Python" if purelib else "compiled",
        tag=tags[0] if tags else "?",
        extensions=len(exts),
        ext_kib=ext_size / 1024,
        size_kib=size / 1024,
        requires=requires,
        loaded_from=origin,
    )


IMPORT_PRELUDES = {
    # bare interpreter: the driver pays for asyncio, importlib.metadata, ... itself
    "bare": "",
    # what the driver adds to a process that already imported SQLAlchemy's asyncio layer
    "after_sqlalchemy": "import importlib.metadata, sqlalchemy.ext.asyncio; ",
}


def import_times(repeats: int) -> dict[str, dict[str, list[float]]]:
    """Import time of each driver in fresh interpreters, interleaved, in milliseconds."""
    code = "{pre}import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"
    out: dict[str, dict[str, list[float]]] = {p: {d: [] for d in DRIVERS} for p in IMPORT_PRELUDES}
    for r in range(repeats + 1):  # the first run of each warms the .pyc and page caches
        order = DRIVERS if r % 2 == 0 else DRIVERS[::-1]
        for prelude, pre in IMPORT_PRELUDES.items():
            for d in order:
                res = subprocess.run(
                    [sys.executable, "-c", code.format(pre=pre, m=d)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                if r:
                    out[prelude][d].append(float(res.stdout.strip()) * 1000)
    return out


# --------------------------------------------------------------------------- benchmark


@dataclass
class Driver:
    name: str
    engine: AsyncEngine
    rss_deltas: list[int] = field(default_factory=list)
    cursor_classes: set[str] = field(default_factory=set)


@dataclass
class Bench:
    rows: int
    stream_rows: int
    batch: int
    seconds: float
    keys: list[int]


async def timed_passes(seconds: float, once: Callable[[], Awaitable[tuple[int, float]]]) -> float:
    """Repeat ``once`` (returning units done and timed seconds) until ``seconds`` of timed
    work have accumulated (at least one pass); return units per second."""
    units, elapsed = 0, 0.0
    while True:
        gc.collect()
        u, e = await once()
        units += u
        elapsed += e
        if elapsed >= seconds:
            return units / elapsed


def point_stmt() -> Any:
    return select(rows_t).where(rows_t.c.id == bindparam("k"))


async def case_point(b: Bench, d: Driver, seconds: float) -> float:
    stmt = point_stmt()
    keys, n = b.keys, 0
    gc.collect()
    async with d.engine.connect() as conn:
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(50):
                k = keys[n % len(keys)]
                row = (await conn.execute(stmt, {"k": k})).one()
                if row.id != k:
                    raise RuntimeError(f"{d.name}: asked for id {k}, got {row.id}")
                n += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
    return n / elapsed


async def case_fetch(b: Bench, d: Driver, seconds: float) -> float:
    stmt = (
        select(
            rows_t.c.id,
            rows_t.c.name,
            rows_t.c.created,
            rows_t.c.amount,
            rows_t.c.body,
            rows_t.c.note,
        )
        .where(rows_t.c.id <= b.rows)
        .order_by(rows_t.c.id)
    )

    async def once() -> tuple[int, float]:
        t0 = time.perf_counter()
        async with AsyncSession(d.engine) as session:
            result = (await session.execute(stmt)).all()
        elapsed = time.perf_counter() - t0
        if len(result) != b.rows or result[-1].id != b.rows:
            raise RuntimeError(f"{d.name}: fetched {len(result)} rows, expected {b.rows}")
        return len(result), elapsed

    return await timed_passes(seconds, once)


async def _insert_case(
    b: Bench, d: Driver, seconds: float, payload: list[dict[str, Any]], executemany: bool
) -> float:
    async def once() -> tuple[int, float]:
        async with d.engine.begin() as conn:
            await conn.execute(text("TRUNCATE TABLE bench_insert"))
        t0 = time.perf_counter()
        async with d.engine.begin() as conn:
            if executemany:
                await conn.execute(insert(insert_t), payload)
            else:
                for i in range(0, len(payload), b.batch):
                    await conn.execute(insert(insert_t).values(payload[i : i + b.batch]))
        elapsed = time.perf_counter() - t0
        async with d.engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(insert_t))).scalar_one()
        if count != len(payload):
            raise RuntimeError(f"{d.name}: inserted {count} rows, expected {len(payload)}")
        return len(payload), elapsed

    return await timed_passes(seconds, once)


async def case_concurrent(b: Bench, d: Driver, seconds: float) -> float:
    stmt = point_stmt()
    keys = b.keys
    gc.collect()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(index: int) -> int:
        n, i = 0, index * 997
        while time.perf_counter() < deadline:
            k = keys[i % len(keys)]
            async with d.engine.connect() as conn:
                row = (await conn.execute(stmt, {"k": k})).one()
            if row.id != k:
                raise RuntimeError(f"{d.name}: asked for id {k}, got {row.id}")
            n += 1
            i += 1
        return n

    counts = await asyncio.gather(*(worker(i) for i in range(CONCURRENT_TASKS)))
    elapsed = time.perf_counter() - start
    return sum(counts) / elapsed


def stream_stmt(b: Bench) -> Any:
    return select(rows_t).where(rows_t.c.id <= b.stream_rows).order_by(rows_t.c.id)


async def stream_all(b: Bench, d: Driver, sample_rss: bool) -> tuple[int, int]:
    """Stream the rows; return (rows, peak RSS growth in bytes over the pre-query RSS)."""
    base = peak = rss_bytes() if sample_rss else 0
    n = 0
    async with d.engine.connect() as conn:
        result = await conn.stream(stream_stmt(b))
        async for partition in result.partitions(STREAM_PARTITION):
            n += len(partition)
            if sample_rss:
                peak = max(peak, rss_bytes())
    if n != b.stream_rows:
        raise RuntimeError(f"{d.name}: streamed {n} rows, expected {b.stream_rows}")
    return n, peak - base


async def case_stream(b: Bench, d: Driver, seconds: float) -> float:
    async def once() -> tuple[int, float]:
        t0 = time.perf_counter()
        n, delta = await stream_all(b, d, sample_rss=True)
        elapsed = time.perf_counter() - t0
        d.rss_deltas.append(delta)
        return n, elapsed

    return await timed_passes(seconds, once)


async def buffered_all(b: Bench, d: Driver) -> None:
    async with d.engine.connect() as conn:
        rows = (await conn.execute(stream_stmt(b))).all()
    if len(rows) != b.stream_rows:
        raise RuntimeError(f"{d.name}: fetched {len(rows)} rows, expected {b.stream_rows}")


async def tracemalloc_peak(fn: Callable[[], Awaitable[Any]]) -> int:
    """Peak of traced Python allocations during ``fn()``, over the allocations before it."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- correctness


@dataclass
class Check:
    ok: bool | None  # None: informational / skipped
    detail: str


def mark(ok: bool | None) -> str:
    return {True: "OK", False: "FAIL", None: "info"}[ok]


async def check_emoji(url: URL, d: str, base_id: int) -> dict[str, Check]:
    out: dict[str, Check] = {}
    variants = {
        "(a) utf8mb4 emoji, URL ?charset=utf8mb4": url,
        "(a) utf8mb4 emoji, URL without charset": url.difference_update_query(["charset"]),
    }
    for offset, (label, variant) in enumerate(variants.items()):
        engine = create_async_engine(variant, poolclass=NullPool)
        row_id = base_id + offset
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(check_t).values(id=row_id, label=EMOJI))
            async with engine.connect() as conn:
                back = (
                    await conn.execute(select(check_t.c.label).where(check_t.c.id == row_id))
                ).scalar_one()
                echoed = (await conn.execute(select(bindparam("e", EMOJI)))).scalar_one()
                cs = (await conn.execute(text("SELECT @@character_set_connection"))).scalar_one()
            ok = back == EMOJI and echoed == EMOJI
            out[label] = Check(ok, f"stored+read back {'equal' if ok else repr(back)}; conn={cs}")
        except Exception as exc:
            out[label] = Check(False, f"{type(exc).__name__}: {exc}"[:160])
        finally:
            await engine.dispose()
    return out


async def check_microseconds(engine: AsyncEngine, base_id: int) -> Check:
    ids = [base_id + i for i in range(len(MICROSECOND_VALUES))]
    async with engine.begin() as conn:
        await conn.execute(
            insert(check_t),
            [{"id": i, "at": v} for i, v in zip(ids, MICROSECOND_VALUES, strict=True)],
        )
    async with engine.connect() as conn:
        back = (
            await conn.execute(select(check_t.c.at).where(check_t.c.id.in_(ids)).order_by("id"))
        ).scalars()
        back_list = list(back)
        # the bound parameter must carry the microseconds too, or the equality finds nothing
        found = 0
        for i, v in zip(ids, MICROSECOND_VALUES, strict=True):
            hit = await conn.execute(
                select(check_t.c.id).where(check_t.c.at == v, check_t.c.id == i)
            )
            found += hit.first() is not None
    ok = back_list == list(MICROSECOND_VALUES) and found == len(ids)
    detail = (
        f"read back {'equal' if back_list == list(MICROSECOND_VALUES) else back_list}; "
        f"WHERE at = :param matched {found}/{len(ids)}"
    )
    return Check(ok, detail)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:80]}")


async def _processlist_row(monitor: AsyncEngine, conn_id: int) -> tuple[Any, ...] | None:
    async with monitor.connect() as conn:
        for row in await conn.execute(text("SHOW FULL PROCESSLIST")):
            if int(row[0]) == conn_id:
                return tuple(row)
    return None


async def check_cancel(url: URL, monitor: AsyncEngine) -> dict[str, Check]:
    """Cancel ``SELECT SLEEP(2)`` after 0.2 s with asyncio.timeout on a pool of one."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=5)
    pool_events: list[str] = []

    def listener(name: str) -> Callable[..., None]:
        def fn(*args: Any) -> None:
            if name == "invalidate" and len(args) > 2 and args[2] is not None:
                pool_events.append(f"invalidate({type(args[2]).__name__})")
            else:
                pool_events.append(name)

        return fn

    for name in ("checkin", "invalidate", "soft_invalidate", "close", "close_detached", "reset"):
        event.listen(engine.sync_engine, name, listener(name))

    capture = _Capture()
    sa_logger = logging.getLogger("sqlalchemy")
    sa_logger.addHandler(capture)
    out: dict[str, Check] = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with engine.connect() as conn:
                old_id = int((await conn.execute(text("SELECT CONNECTION_ID()"))).scalar_one())
            pool_events.clear()

            t0 = time.perf_counter()
            outcome = "no exception: the query was not cancelled"
            try:
                async with asyncio.timeout(0.2):
                    async with engine.connect() as conn:
                        await conn.execute(text("SELECT SLEEP(2)"))
            except TimeoutError:
                outcome = "TimeoutError"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"[:120]
            raised_after = time.perf_counter() - t0
            cancel_events = list(pool_events)

            snapshot = await _processlist_row(monitor, old_id)
            snapshot_at = time.perf_counter() - t0

            # can the pool (size 1) serve the next query, and is the answer the right one?
            t1 = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    async with engine.connect() as conn:
                        new_id, value = (
                            await conn.execute(text("SELECT CONNECTION_ID(), 42"))
                        ).one()
                next_query = Check(
                    int(value) == 42,
                    f"SELECT 42 -> {value} in {(time.perf_counter() - t1) * 1000:.1f} ms on "
                    f"{'the same' if int(new_id) == old_id else 'a new'} server connection",
                )
            except BaseException as exc:
                next_query = Check(False, f"{type(exc).__name__}: {exc}"[:120])

            # how long does the server keep the cancelled session?
            gone_at: float | None = None
            while time.perf_counter() - t0 < 6:
                if await _processlist_row(monitor, old_id) is None:
                    gone_at = time.perf_counter() - t0
                    break
                await asyncio.sleep(0.05)
            checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]

        out["(c) cancel: exception seen by caller"] = Check(
            outcome == "TimeoutError", f"{outcome} after {raised_after * 1000:.0f} ms"
        )
        out["(c) cancel: pool events"] = Check(
            any(e.startswith("invalidate") for e in cancel_events),
            " -> ".join(cancel_events) or "none",
        )
        out["(c) cancel: pool serves next query"] = next_query
        out["(c) cancel: pool checked-out after"] = Check(checked_out == 0, str(checked_out))
        if snapshot is None:
            linger = f"gone by {snapshot_at * 1000:.0f} ms"
        else:
            linger = (
                f"at {snapshot_at * 1000:.0f} ms: Command={snapshot[4]} State={snapshot[6]!s} "
                f"Info={snapshot[7]!s}; gone after "
                + (f"{gone_at * 1000:.0f} ms" if gone_at is not None else "> 6 s")
            )
        out["(c) cancel: SHOW PROCESSLIST"] = Check(None, linger)
        noise = [*capture.records, *(f"{w.category.__name__}: {w.message}" for w in caught)]
        out["(c) cancel: warnings/log errors"] = Check(not noise, "; ".join(noise) or "none")
    finally:
        sa_logger.removeHandler(capture)
        await engine.dispose()
    return out


async def check_errors(engine: AsyncEngine, base_id: int, mariadb: bool) -> dict[str, Check]:
    out: dict[str, Check] = {}
    async with engine.begin() as conn:
        await conn.execute(insert(check_t).values(id=base_id, label="first"))
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(check_t).values(id=base_id, label="second"))
        out["(d) duplicate key: exc.orig.args[0]"] = Check(False, "no IntegrityError raised")
    except IntegrityError as exc:
        orig: Any = exc.orig
        cls = f"{type(orig).__module__}.{type(orig).__qualname__}"
        out["(d) duplicate key: exc.orig.args[0]"] = Check(
            orig.args[0] == 1062 and type(orig.args[0]) is int,
            f"{orig.args[0]!r} ({type(orig.args[0]).__name__}); {cls}; args[1]={orig.args[1]!r}",
        )
    if not mariadb:
        out["(d) max_statement_time: args[0]"] = Check(None, "skipped (not MariaDB)")
        return out
    async with engine.connect() as conn:
        try:
            await conn.execute(text("SET STATEMENT max_statement_time=0.1 FOR SELECT SLEEP(1)"))
            out["(d) max_statement_time: args[0]"] = Check(False, "no error raised")
        except DBAPIError as exc:
            orig = exc.orig
            out["(d) max_statement_time: args[0]"] = Check(
                orig.args[0] == 1969,
                f"{orig.args[0]!r}; {type(exc).__name__}/{type(orig).__name__}; "
                f"invalidated={exc.connection_invalidated}",
            )
        await conn.rollback()
        value = (await conn.execute(text("SELECT 7"))).scalar_one()
        out["(d) max_statement_time: conn usable after"] = Check(value == 7, f"SELECT 7 -> {value}")
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=10_000, help="rows for fetch/insert cases")
    p.add_argument("--stream-rows", type=int, default=100_000, help="rows for the stream case")
    p.add_argument("--batch", type=int, default=1_000, help="rows per insert().values() batch")
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per case/driver")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument("--import-repeats", type=int, default=5, help="fresh-interpreter imports")
    p.add_argument(
        "--server",
        default=os.environ.get("ASQLA_BENCH_MYSQL_SERVER", "root@127.0.0.1:3306"),
        help="user[:password]@host[:port] of a MySQL/MariaDB server",
    )
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = p.parse_args(argv)
    if args.rows < 1 or args.stream_rows < 1 or args.batch < 1 or args.rounds < 1:
        p.error("--rows, --stream-rows, --batch and --rounds must be positive")
    return args


def driver_url(server: URL, driver: str, database: str | None) -> URL:
    return server.set(drivername=f"mysql+{driver}", database=database, query={"charset": "utf8mb4"})


async def seed(engine: AsyncEngine, total: int) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    step = 5_000
    for start in range(1, total + 1, step):
        batch = [{"id": i, **make_row(i)} for i in range(start, min(start + step, total + 1))]
        async with engine.begin() as conn:
            await conn.execute(insert(rows_t), batch)


CASES: list[tuple[str, str, str]] = [
    # (key, label, unit)
    ("point", "1. point select by PK, 1 connection", "ops/s"),
    ("fetch", "2. fetch {rows:,} rows x 6 cols, session .all()", "rows/s"),
    ("insert_values", "3a. insert {rows:,} rows, values() batches of {batch:,}", "rows/s"),
    ("insert_many", "3b. insert {rows:,} rows, executemany", "rows/s"),
    ("concurrent", "4. 16 tasks point select, pool of 8", "ops/s"),
    ("stream", "5. stream() {stream_rows:,} rows, server-side cursor", "rows/s"),
]


async def run_case(key: str, b: Bench, d: Driver, seconds: float, payload: Any) -> float:
    if key == "point":
        return await case_point(b, d, seconds)
    if key == "fetch":
        return await case_fetch(b, d, seconds)
    if key == "insert_values":
        return await _insert_case(b, d, seconds, payload, executemany=False)
    if key == "insert_many":
        return await _insert_case(b, d, seconds, payload, executemany=True)
    if key == "concurrent":
        return await case_concurrent(b, d, seconds)
    if key == "stream":
        return await case_stream(b, d, seconds)
    raise ValueError(key)


async def amain(args: argparse.Namespace, report: dict[str, Any]) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError):
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

    server = make_url(f"mysql://{args.server}")
    database = f"asqla_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(driver_url(server, "asyncmy", None), poolclass=NullPool)
    drivers: dict[str, Driver] = {}
    created = False
    try:
        async with admin.connect() as conn:
            version = (await conn.execute(text("SELECT VERSION()"))).scalar_one()
            await conn.execute(
                text(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
            created = True
        mariadb = "mariadb" in str(version).lower()
        say(f"database {database} on {server.host}:{server.port or 3306}, server {version}")
        report["server"] = version
        report["database"] = database

        for name in DRIVERS:
            engine = create_async_engine(
                driver_url(server, name, database), pool_size=POOL_SIZE, max_overflow=0
            )
            drivers[name] = Driver(name, engine)

            @event.listens_for(engine.sync_engine, "before_cursor_execute")
            def _cursor_class(
                conn: Any,
                cursor: Any,
                stmt: Any,
                params: Any,
                context: Any,
                many: bool,
                _d: Driver = drivers[name],
            ) -> None:
                if context is not None and context.execution_options.get("stream_results"):
                    _d.cursor_classes.add(type(getattr(cursor, "_cursor", cursor)).__name__)

        total = max(args.rows, args.stream_rows)
        t_seed = time.perf_counter()
        await seed(drivers["asyncmy"].engine, total)
        say(f"seeded {total:,} rows in {time.perf_counter() - t_seed:.1f} s")

        # ---- correctness
        checks: dict[str, dict[str, Check]] = {}
        for offset, name in enumerate(DRIVERS):
            d = drivers[name]
            url = driver_url(server, name, database)
            base = 1000 * (offset + 1)
            res: dict[str, Check] = {}
            res.update(await check_emoji(url, name, base))
            res["(b) DATETIME(6) microseconds"] = await check_microseconds(d.engine, base + 10)
            res.update(await check_cancel(url, d.engine))
            res.update(await check_errors(d.engine, base + 20, mariadb))
            for label, c in res.items():
                checks.setdefault(label, {})[name] = c
        report["checks"] = {
            label: {n: {"ok": c.ok, "detail": c.detail} for n, c in per.items()}
            for label, per in checks.items()
        }

        # ---- benchmark
        rng = random.Random(20240229)
        bench = Bench(
            rows=args.rows,
            stream_rows=args.stream_rows,
            batch=args.batch,
            seconds=args.seconds,
            keys=[rng.randint(1, total) for _ in range(4096)],
        )
        payload = [make_row(i) for i in range(1, args.rows + 1)]
        t_bench = time.perf_counter()
        for key, _label, _unit in CASES:  # warm-up: statement cache, pool, first pages
            for name in DRIVERS:
                await run_case(key, bench, drivers[name], min(0.2, args.seconds), payload)
        for d in drivers.values():
            d.rss_deltas.clear()
        results: dict[str, dict[str, list[float]]] = {
            k: {n: [] for n in DRIVERS} for k, *_ in CASES
        }
        for r in range(args.rounds):
            order = DRIVERS if r % 2 == 0 else DRIVERS[::-1]
            for key, _label, _unit in CASES:
                for name in order:
                    value = await run_case(key, bench, drivers[name], args.seconds, payload)
                    results[key][name].append(value)
            say(f"round {r + 1}/{args.rounds} done ({time.perf_counter() - t_bench:.0f} s)")
        tm_peaks: dict[str, dict[str, int]] = {}
        for name in DRIVERS:
            d = drivers[name]
            tm_peaks[name] = {
                "stream": await tracemalloc_peak(lambda d=d: stream_all(bench, d, False)),
                "buffered": await tracemalloc_peak(lambda d=d: buffered_all(bench, d)),
            }
        report["results"] = results
        report["stream_rss_delta_bytes"] = {n: d.rss_deltas for n, d in drivers.items()}
        report["stream_tracemalloc_peak_bytes"] = tm_peaks

        print_results(args, results, drivers, tm_peaks)
        print_checks(checks)
    finally:
        for d in drivers.values():
            await d.engine.dispose()
        if created:
            async with admin.connect() as conn:
                await conn.execute(text("SET SESSION lock_wait_timeout = 30"))
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            say(f"dropped database {database}")
        await admin.dispose()


def fmt_num(v: float) -> str:
    return f"{v:,.0f}"


def print_results(
    args: argparse.Namespace,
    results: dict[str, dict[str, list[float]]],
    drivers: dict[str, Driver],
    tm_peaks: dict[str, dict[str, int]],
) -> None:
    a, b = DRIVERS
    summary: list[list[str]] = []
    detail: list[list[str]] = []
    fmt = {"rows": args.rows, "batch": args.batch, "stream_rows": args.stream_rows}
    for key, label, unit in CASES:
        va, vb = results[key][a], results[key][b]
        ma, mb = statistics.median(va), statistics.median(vb)
        paired = [x / y for x, y in zip(va, vb, strict=True)]
        summary.append(
            [
                label.format(**fmt),
                unit,
                fmt_num(ma),
                fmt_num(mb),
                f"{ma / mb:.2f}",
                f"{min(paired):.2f}-{max(paired):.2f}",
            ]
        )
        for name in DRIVERS:
            detail.append([key, name, *(fmt_num(v) for v in results[key][name])])
    show_table(
        f"Median of {args.rounds} interleaved rounds, {args.seconds:g} s per case and driver",
        ["case", "unit", f"{a} (median)", f"{b} (median)", f"{a}/{b}", "per-round ratio"],
        summary,
        right=2,
    )
    show_table(
        "Per-round values",
        ["case", "driver", *(f"r{i + 1}" for i in range(args.rounds))],
        detail,
        right=2,
    )
    mib = 1024 * 1024
    show_table(
        f"stream() of {args.stream_rows:,} rows: memory",
        [
            "driver",
            "DBAPI cursor",
            "peak RSS delta, median (max)",
            "tracemalloc peak, stream()",
            "tracemalloc peak, buffered .all() (reference)",
        ],
        [
            [
                name,
                ",".join(sorted(d.cursor_classes)) or "?",
                f"{statistics.median(d.rss_deltas) / mib:.2f} MiB "
                f"({max(d.rss_deltas) / mib:.2f} MiB) over {len(d.rss_deltas)} passes",
                f"{tm_peaks[name]['stream'] / mib:.2f} MiB",
                f"{tm_peaks[name]['buffered'] / mib:.2f} MiB",
            ]
            for name, d in drivers.items()
        ],
        right=2,
    )


def print_checks(checks: dict[str, dict[str, Check]]) -> None:
    rows = []
    for label, per in checks.items():
        rows.append([label, *(f"{mark(per[n].ok)}: {per[n].detail}" for n in DRIVERS if n in per)])
    show_table("Correctness", ["check", *DRIVERS], rows, right=99)


def print_footprint(prints: list[Footprint], imports: dict[str, dict[str, list[float]]]) -> None:
    def ms(prelude: str, dist: str) -> str:
        times = imports[prelude].get(dist)
        return f"{statistics.median(times):.1f} ms" if times else "-"

    rows = []
    for fp in prints:
        rows.append(
            [
                f"{fp.dist} {fp.version}",
                f"{fp.wheel}: {fp.tag}",
                f"{fp.extensions} ({fp.ext_kib:,.0f} KiB)",
                f"{fp.size_kib:,.0f} KiB",
                ", ".join(fp.requires) or "-",
                fp.loaded_from,
                ms("bare", fp.dist),
                ms("after_sqlalchemy", fp.dist),
            ]
        )
    show_table(
        "(e) install footprint and import time (median, fresh interpreter)",
        [
            "distribution",
            "wheel",
            "ext. modules",
            "installed",
            "requires",
            "connection module",
            "import (bare)",
            "import (after SA)",
        ],
        rows,
        right=99,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    say(
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        + ", ".join(f"{d} {importlib.metadata.version(d)}" for d in DISTRIBUTIONS)
        + f"; {os.cpu_count()} CPUs"
    )
    say("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    prints = [footprint(d) for d in DISTRIBUTIONS]
    imports = import_times(args.import_repeats)
    report: dict[str, Any] = {
        "args": vars(args),
        "footprint": [vars(p) for p in prints],
        "import_ms": imports,
    }
    try:
        asyncio.run(amain(args, report))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except asyncio.CancelledError:  # SIGTERM cancels the main task (see amain)
        say("terminated")
        return 143
    print_footprint(prints, imports)
    say(f"total runtime {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
