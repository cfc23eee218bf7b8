"""The user's line, found through greenlets, asqla's call tasks, plain SQLAlchemy and sync code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import create_engine, insert, select
from sqlalchemy.ext.asyncio import AsyncSession as PlainAsyncSession
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from asqla import Database
from asqla.doctor import doctor

from .conftest import USERS, Model, Post, User, here, ids, line_of, only


async def test_plain_sqlalchemy_sessions_are_watched_too(seeded: Database) -> None:
    factory = async_sessionmaker(seeded.engine, class_=PlainAsyncSession)
    async with factory() as session, doctor() as report:
        origin = here()
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        for user in users:
            await user.awaitable_attrs.posts

    finding = only(report.findings, "n_plus_one")
    assert (finding.location, finding.origin) == (location, origin)


async def test_core_statements_on_a_connection(seeded: Database) -> None:
    posts = Post.__table__
    async with seeded.engine.connect() as connection, doctor() as report:
        location = line_of(2)
        for user_id in ids():
            await connection.execute(select(posts).where(posts.c.user_id == user_id))

    finding = only(report.findings, "explicit_n_plus_one")
    assert finding.location == location
    assert finding.fix == "select(doc_post).where(doc_post.c.user_id.in_(ids))"


async def test_tasks_started_in_the_block_are_watched_with_it(seeded: Database) -> None:
    async def fetch(user_id: int) -> None:
        async with seeded.session() as session:
            location.append(line_of(1))
            await session.get(User, user_id)

    location: list[str] = []
    async with doctor() as report:
        await asyncio.gather(*(fetch(user_id) for user_id in ids()))

    finding = only(report.findings, "explicit_n_plus_one")
    assert (finding.count, finding.location) == (USERS, location[0])


def test_sync_code_is_watched_too(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    Model.metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(insert(User), [{"id": n, "name": f"user {n}"} for n in ids()])
        session.commit()
    with Session(engine) as session, doctor() as report:
        origin = here()
        users = session.scalars(select(User)).all()
        location = here()
        titles = [post.title for user in users for post in user.posts]
    engine.dispose()

    assert titles == []
    finding = only(report.findings, "n_plus_one")
    assert (finding.location, finding.origin, finding.count) == (location, origin, USERS)


async def test_read_sessions_are_watched_too(seeded: Database) -> None:
    async with seeded.read_session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        for user in users:
            await user.awaitable_attrs.posts

    assert only(report.findings, "n_plus_one").location == location
