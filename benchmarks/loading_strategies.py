"""Loading strategies side by side: lazy N+1, selectinload, joinedload, subqueryload.

Run from the repository root::

    .venv/bin/python benchmarks/loading_strategies.py [--rounds R] [--users U] [--posts P]
        [--no-postgresql] [--no-mysql]

Three shapes, each loaded in a fresh session (so that the identity map starts empty):

- **collection**: ``--users`` users (each with a 2 KB ``bio``) and their ``--posts`` posts each;
- **many-to-one**: every post and its author (the users above);
- **nested**: the users, their posts, and each post's 2 comments.

For each shape every strategy loads the same objects, which the script checks. The table shows
the statements sent, the rows the driver returned, and the median time per load over
``--rounds`` rounds in which the strategies take turns in a rotating order (after one untimed
warm-up round). Times are wall clock on this machine, over a local socket: on a network every
statement also pays a round trip, which makes the lazy N+1 rows far worse than here.

Backends: SQLite (a file in a temporary directory) always; PostgreSQL and MariaDB/MySQL when
they answer at ``--postgresql`` / ``--mysql``, in a database ``asqla_bench_<random>`` that is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import ForeignKey, MetaData, String, Text, event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncAttrs, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)

from asqla import AsyncSession, Database


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData()


class User(Model):
    __tablename__ = "bench_load_user"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str] = mapped_column(Text)
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.id")


class Post(Model):
    __tablename__ = "bench_load_post"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("bench_load_user.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    author: Mapped[User] = relationship(back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(order_by="Comment.id")


class Comment(Model):
    __tablename__ = "bench_load_comment"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    post_id: Mapped[int] = mapped_column(ForeignKey("bench_load_post.id"), index=True)
    body: Mapped[str] = mapped_column(String(200))


Load = Callable[[AsyncSession], Awaitable[int]]
"""Load one shape; return a checksum of what was loaded (the same for every strategy)."""


async def users_lazy(session: AsyncSession) -> int:
    total = 0
    for user in (await session.scalars(select(User).order_by(User.id))).all():
        total += len(await user.awaitable_attrs.posts)  # one query per user
    return total


async def _users(session: AsyncSession, option: Any, *, unique: bool = False) -> int:
    result = await session.scalars(select(User).options(option).order_by(User.id))
    users = (result.unique() if unique else result).all()
    return sum(len(user.posts) for user in users)


async def posts_lazy(session: AsyncSession) -> int:
    total = 0
    for post in (await session.scalars(select(Post).order_by(Post.id))).all():
        # One query per distinct author; repeats come from the identity map.
        total += len((await post.awaitable_attrs.author).name)
    return total


async def _posts(session: AsyncSession, option: Any) -> int:
    posts = (await session.scalars(select(Post).options(option).order_by(Post.id))).all()
    return sum(len(post.author.name) for post in posts)


async def nested_lazy(session: AsyncSession) -> int:
    users = (await session.scalars(select(User).order_by(User.id))).all()
    total = 0
    for user in users:
        for post in await user.awaitable_attrs.posts:
            total += len(await post.awaitable_attrs.comments)
    return total


async def _nested(session: AsyncSession, option: Any, *, unique: bool = False) -> int:
    result = await session.scalars(select(User).options(option).order_by(User.id))
    users = (result.unique() if unique else result).all()
    return sum(len(post.comments) for user in users for post in user.posts)


SHAPES: dict[str, dict[str, Load]] = {
    "collection: users + posts": {
        "lazy (N+1)": users_lazy,
        "selectinload": lambda s: _users(s, selectinload(User.posts)),
        "joinedload": lambda s: _users(s, joinedload(User.posts), unique=True),
        "subqueryload": lambda s: _users(s, subqueryload(User.posts)),
    },
    "many-to-one: posts + author": {
        "lazy (N+1)": posts_lazy,
        "selectinload": lambda s: _posts(s, selectinload(Post.author)),
        "joinedload": lambda s: _posts(s, joinedload(Post.author)),
        "subqueryload": lambda s: _posts(s, subqueryload(Post.author)),
    },
    "nested: users + posts + comments": {
        "lazy (N+1)": nested_lazy,
        "selectinload": lambda s: _nested(s, selectinload(User.posts).selectinload(Post.comments)),
        "joinedload": lambda s: _nested(
            s, joinedload(User.posts).joinedload(Post.comments), unique=True
        ),
        "subqueryload": lambda s: _nested(s, subqueryload(User.posts).subqueryload(Post.comments)),
    },
}


async def seed(db: Database, users: int, posts: int) -> None:
    await db.drop_all(Model.metadata)
    await db.create_all(Model.metadata)
    bio = "x" * 2000
    async with db.session() as session:
        await session.execute(
            insert(User), [{"id": u, "name": f"user {u}", "bio": bio} for u in range(1, users + 1)]
        )
        rows = [
            {"id": (u - 1) * posts + p, "user_id": u, "title": f"post {p} of user {u}"}
            for u in range(1, users + 1)
            for p in range(1, posts + 1)
        ]
        await session.execute(insert(Post), rows)
        comments = [
            {"id": (row["id"] - 1) * 2 + c, "post_id": row["id"], "body": "a comment"}
            for row in rows
            for c in (1, 2)
        ]
        await session.execute(insert(Comment), comments)


class Counter:
    """Counts statements, returned rows and their size (the async drivers buffer rows in ``_rows``).

    The size is the length of each value as text: a measure of what travels, not the wire bytes.
    """

    def __init__(self) -> None:
        self.statements = self.rows = self.size = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            rows = list(getattr(cursor, "_rows", None) or ())
            self.statements += 1
            self.rows += len(rows)
            self.size += sum(len(str(value)) for row in rows for value in row)


async def run_once(db: Database, load: Load) -> tuple[float, int]:
    async with db.read_session() as session:
        started = time.perf_counter()
        checksum = await load(session)
        return time.perf_counter() - started, checksum


Row = tuple[int, int, int, float]
"""Statements, rows, size of the values as text, median seconds."""


async def measure(db: Database, rounds: int) -> dict[str, dict[str, Row]]:
    results: dict[str, dict[str, Row]] = {}
    for shape, loads in SHAPES.items():
        counts: dict[str, tuple[int, int, int]] = {}
        checksums = set()
        for name, load in loads.items():  # untimed: count, check, warm up
            counter = Counter()
            event.listen(db.engine.sync_engine, "after_cursor_execute", counter)
            try:
                checksums.add((await run_once(db, load))[1])
            finally:
                event.remove(db.engine.sync_engine, "after_cursor_execute", counter)
            counts[name] = (counter.statements, counter.rows, counter.size)
        assert len(checksums) == 1, f"{shape}: strategies loaded different data {checksums}"
        times: dict[str, list[float]] = {name: [] for name in loads}
        names = list(loads)
        for number in range(rounds):
            rotation = names[number % len(names) :] + names[: number % len(names)]
            for name in rotation:
                times[name].append((await run_once(db, loads[name]))[0])
        results[shape] = {
            name: (*counts[name], statistics.median(samples)) for name, samples in times.items()
        }
        print(f"  {shape}: done", file=sys.stderr)
    return results


def report(backend: str, results: dict[str, dict[str, Row]]) -> None:
    print(f"\n{backend}")
    header = f"{'statements':>11}{'rows':>8}{'data':>10}{'median':>12}{'vs best':>9}"
    print(f"  {'shape / strategy':<36}{header}")
    for shape, rows in results.items():
        print(f"  {shape}")
        best = min(row[3] for row in rows.values())
        for name, (statements, returned, size, elapsed) in rows.items():
            print(
                f"    {name:<34}{statements:>11,}{returned:>8,}{size / 1e6:>7.2f} MB"
                f"{elapsed * 1000:>9.2f} ms{elapsed / best:>8.1f}x"
            )


async def on_server(
    backend: str, url: str, run: Callable[[str], Awaitable[None]], quote: str
) -> None:
    isolation = {"isolation_level": "AUTOCOMMIT"} if backend == "postgresql" else {}
    admin = create_async_engine(url, **isolation)
    name = f"asqla_bench_{secrets.token_hex(4)}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as exc:  # unreachable: skip, and say so
        print(f"\n{backend}: skipped ({type(exc).__name__}: {exc})")
        await admin.dispose()
        return
    try:
        await run(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        await admin.dispose()


async def main(args: argparse.Namespace) -> None:
    print(
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}; "
        f"{args.users} users x {args.posts} posts x 2 comments, 2 KB bio per user; "
        f"median of {args.rounds} rounds"
    )

    async def run(url: str) -> None:
        db = Database(url)
        try:
            await seed(db, args.users, args.posts)
            server = db.engine.dialect.name
            async with db.engine.connect() as connection:
                version = connection.dialect.server_version_info
            label = f"{server} {'.'.join(map(str, version or ()))} ({db.engine.dialect.driver})"
            report(label, await measure(db, args.rounds))
        finally:
            await db.dispose()

    with tempfile.TemporaryDirectory() as directory:
        await run(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
    if args.postgresql:
        await on_server("postgresql", args.postgresql, run, '"')
    if args.mysql:
        await on_server("mysql", args.mysql, run, "`")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per shape")
    parser.add_argument("--users", type=int, default=100, help="users (parents)")
    parser.add_argument("--posts", type=int, default=20, help="posts per user")
    parser.add_argument(
        "--postgresql",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="server to create the benchmark database on",
    )
    parser.add_argument("--no-postgresql", dest="postgresql", action="store_const", const="")
    parser.add_argument(
        "--mysql",
        default="mysql+asyncmy://root@127.0.0.1:3306/",
        help="MariaDB/MySQL server to create the benchmark database on",
    )
    parser.add_argument("--no-mysql", dest="mysql", action="store_const", const="")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
