"""The query doctor's overhead on a request-like unit of 20 statements, off against on.

Run from the repository root::

    .venv/bin/python benchmarks/doctor_overhead.py [--units N] [--rounds R] [--no-postgresql]

The unit is what one API request does: open ``db.session()``, run 20 statements
(a query with ``selectinload`` = 2, a count per loaded user = 6, ten ``session.get`` by
primary key, one INSERT through a flush, one UPDATE) and commit. It runs ``--units``
times in a row per timed batch, with the doctor off (no scope: no event listener
installed) and on (``doctor(mode="log")`` around each unit, its findings logged to a
``NullHandler``). Batches are short and interleaved (off/on in odd rounds, on/off in even
rounds, after an untimed warm-up), so that the load of a shared machine hits both alike. The
table shows the median time per request, wall clock and CPU time of this process (the doctor's
work is CPU; on a busy machine wall time is mostly noise), and the median and quartiles of the
per-round ratios on/off.

"off, before any scope" is measured in three batches before the doctor is ever switched on:
SQLAlchemy keeps an ``Engine._has_events`` flag set once listeners were added, which costs a
few attribute checks per statement afterwards even with every listener removed.

Backends: SQLite (a file in a temporary directory) always; PostgreSQL at
``--postgresql URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``) if it
answers, in a database ``asqla_bench_<random>`` that is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy
from sqlalchemy import ForeignKey, MetaData, String, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncAttrs, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from asqla import Database
from asqla.doctor import doctor

USERS, POSTS_PER_USER = 50, 10


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData()


class User(Model):
    __tablename__ = "bench_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list[Post]] = relationship(order_by="Post.id")


class Post(Model):
    __tablename__ = "bench_post"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("bench_user.id"), index=True)
    title: Mapped[str] = mapped_column(String(50))


class Comment(Model):
    __tablename__ = "bench_comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("bench_post.id"), index=True)
    body: Mapped[str] = mapped_column(String(50))


async def request(db: Database, number: int) -> int:
    """One request-like unit: 20 statements and a COMMIT. Returns the statements' count."""
    async with db.session() as session:
        users = (
            await session.scalars(
                select(User).options(selectinload(User.posts)).order_by(User.id).limit(6)
            )
        ).all()  # 2 statements
        for user in users:  # 6
            count = (
                select(func.count())
                .select_from(Comment)
                .where(Comment.post_id.in_([post.id for post in user.posts]))
            )
            await session.scalar(count)
        first = 100 + (number * 10) % (USERS * POSTS_PER_USER - 120)
        for post_id in range(first, first + 10):  # 10: not in the identity map
            await session.get(Post, post_id)
        session.add(Comment(post_id=first, body="benchmark"))
        await session.flush()  # 1
        await session.execute(update(Post).where(Post.id == first).values(title="seen"))  # 1
    return 20


async def seed(db: Database) -> None:
    await db.drop_all(Model.metadata)
    await db.create_all(Model.metadata)
    async with db.session() as session:
        await session.execute(
            insert(User), [{"id": u, "name": f"u{u}"} for u in range(1, USERS + 1)]
        )
        posts = [
            {"id": (u - 1) * POSTS_PER_USER + p, "user_id": u, "title": "t"}
            for u in range(1, USERS + 1)
            for p in range(1, POSTS_PER_USER + 1)
        ]
        await session.execute(insert(Post), posts)


Sample = tuple[float, float]
"""Seconds per request: wall clock, and CPU time of this process (the doctor's work is CPU)."""


async def batch(db: Database, units: int, *, watched: bool) -> Sample:
    """Run ``units`` requests; return the mean wall and CPU seconds per request."""
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(units):
        if watched:
            async with doctor(mode="log"):
                await request(db, number)
        else:
            await request(db, number)
    return (time.perf_counter() - wall) / units, (time.process_time() - cpu) / units


async def measure(db: Database, units: int, rounds: int) -> dict[str, list[Sample]]:
    await seed(db)
    times: dict[str, list[Sample]] = {"off, before any scope": [], "off": [], "on": []}
    await batch(db, units, watched=False)  # warm-up: pool, statement caches
    for _ in range(3):
        times["off, before any scope"].append(await batch(db, units, watched=False))
    await batch(db, units, watched=True)  # warm-up with the doctor
    for number in range(rounds):
        order = (False, True) if number % 2 == 0 else (True, False)
        for watched in order:
            times["on" if watched else "off"].append(await batch(db, units, watched=watched))
        if (number + 1) % 10 == 0:
            print(f"  round {number + 1}/{rounds} done", file=sys.stderr)
    return times


def report(backend: str, times: dict[str, list[Sample]]) -> None:
    print(f"\n{backend}: per request of 20 statements, {len(times['on'])} interleaved rounds")
    print(f"  {'':<24}{'wall, median':>14}{'CPU, median':>14}")
    for name, samples in times.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(f"  {name:<24}{wall * 1000:11.3f} ms{cpu * 1000:11.3f} ms")
    for index, clock in enumerate(("wall", "CPU")):
        off = [s[index] for s in times["off"]]
        on = [s[index] for s in times["on"]]
        ratios = sorted(b / a for a, b in zip(off, on, strict=True))
        quartiles = statistics.quantiles(ratios, n=4)
        added = statistics.median(on) - statistics.median(off)
        print(
            f"  {clock:<5} on/off: median of per-round ratios {statistics.median(ratios):.3f} "
            f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}); "
            f"{added * 1e6 / 20:.0f} us added per statement"
        )


async def with_postgresql(url: str, run: Callable[[str], Awaitable[None]]) -> bool:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    name = f"asqla_bench_{secrets.token_hex(4)}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable: skip, and say so
        print(f"\npostgresql: skipped ({type(exc).__name__}: {exc})")
        await admin.dispose()
        return False
    try:
        await run(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    return True


async def main(args: argparse.Namespace) -> None:
    logger = logging.getLogger("asqla.doctor")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    print(
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}; "
        f"{args.units} requests per batch, {args.rounds} rounds"
    )

    async def run(url: str) -> None:
        db = Database(url)
        try:
            report(make_url(url).get_backend_name(), await measure(db, args.units, args.rounds))
        finally:
            await db.dispose()

    with tempfile.TemporaryDirectory() as directory:
        await run(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
    if args.postgresql:
        await with_postgresql(args.postgresql, run)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=20, help="requests per timed batch")
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds")
    parser.add_argument(
        "--postgresql",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="server to create the benchmark database on",
    )
    parser.add_argument("--no-postgresql", dest="postgresql", action="store_const", const="")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
