"""n_plus_one: a relationship loaded one parent at a time, and the traps that are not one."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload, selectinload

from asqla import Database
from asqla.doctor import doctor

from .conftest import USERS, Post, User, here, kinds, line_of, only


async def test_awaitable_attrs_in_a_loop_names_relationship_lines_and_fix(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        origin = here()
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        for user in users:
            await user.awaitable_attrs.posts

    finding = only(report.findings, "n_plus_one")
    assert finding.relationship == "User.posts"
    assert finding.count == USERS
    assert finding.location == location
    assert finding.origin == origin
    assert finding.fix == "selectinload(User.posts)"
    assert finding.statement is not None and "doc_post" in finding.statement
    assert kinds(report.findings) == ["n_plus_one"]


async def test_refresh_of_a_relationship_per_row_is_one_n_plus_one(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        for user in users:
            await session.refresh(user, ["posts"])

    # The primary key SELECT that refresh() also runs belongs to the same
    # loop: one finding, not an explicit_n_plus_one on top.
    assert kinds(report.findings) == ["n_plus_one"]
    assert report.findings[0].location == location
    assert report.findings[0].fix == "selectinload(User.posts)"


async def test_lazy_loads_inside_run_sync_point_at_the_sync_code(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = here()
        await session.run_sync(lambda _: [len(user.posts) for user in users])

    finding = only(report.findings, "n_plus_one")
    assert finding.relationship == "User.posts"
    assert (finding.location, finding.count) == (location, USERS)


async def test_nested_loops_get_the_chained_fix(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        origin = here()
        users = (await session.scalars(select(User).order_by(User.id))).all()
        for user in users:
            for post in await user.awaitable_attrs.posts:
                await post.awaitable_attrs.comments

    comments = next(f for f in report.findings if f.relationship == "Post.comments")
    assert comments.fix == "selectinload(User.posts).selectinload(Post.comments)"
    assert comments.origin == origin
    assert comments.count == USERS * 3
    posts = next(f for f in report.findings if f.relationship == "User.posts")
    assert posts.fix == "selectinload(User.posts)"


async def test_the_chain_keeps_the_eager_strategy_the_query_already_uses(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        statement = select(User).options(joinedload(User.posts)).order_by(User.id)
        users = (await session.scalars(statement)).unique().all()
        for user in users:
            for post in user.posts:
                await post.awaitable_attrs.comments

    finding = only(report.findings, "n_plus_one")
    assert finding.fix == "joinedload(User.posts).selectinload(Post.comments)"


async def test_many_to_one_gets_joinedload(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        posts = (await session.scalars(select(Post).order_by(Post.id))).all()
        for post in posts:
            await post.awaitable_attrs.author

    finding = only(report.findings, "n_plus_one")
    assert finding.relationship == "Post.author"
    # One query per distinct author: the others are found in the identity map.
    assert finding.count == USERS
    assert finding.fix == "joinedload(Post.author)"


async def test_the_same_relationship_looped_at_two_lines_is_two_findings(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        first = line_of(2)
        for user in users[:2]:
            await user.awaitable_attrs.posts
        second = line_of(2)
        for user in users[2:]:
            await user.awaitable_attrs.posts

    findings = [f for f in report.findings if f.kind == "n_plus_one"]
    assert sorted(f.location or "" for f in findings) == sorted([first, second])
    assert all(f.relationship == "User.posts" for f in findings)


async def test_selectinload_already_used_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        statement = select(User).options(selectinload(User.posts)).order_by(User.id)
        for user in (await session.scalars(statement)).all():
            assert len(user.posts) == 3

    assert report.findings == ()


async def test_joinedload_of_a_collection_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        statement = select(User).options(joinedload(User.posts)).order_by(User.id)
        for user in (await session.scalars(statement)).unique().all():
            assert len(user.posts) == 3

    assert report.findings == ()


async def test_many_to_one_targets_already_in_the_identity_map_are_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User))).all()
        posts = (await session.scalars(select(Post).order_by(Post.id))).all()
        for post in posts:
            assert (await post.awaitable_attrs.author) in users

    assert report.findings == ()
    assert report.query_count == 2


async def test_a_single_parent_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).where(User.id == 1))).all()
        for user in users:
            await user.awaitable_attrs.posts

    assert report.findings == ()


async def test_selectinload_in_three_in_chunks_is_fine(seeded: Database) -> None:
    async with seeded.session() as session:
        await session.execute(
            insert(User), [{"id": 1000 + n, "name": f"many {n}"} for n in range(1200)]
        )
    async with seeded.session() as session, doctor() as report:
        statement = select(User).options(selectinload(User.posts)).where(User.id >= 1000)
        users = (await session.scalars(statement)).all()
        assert len(users) == 1200
        assert all(user.posts == [] for user in users)

    chunks = [s for s in report.statements if "doc_post" in s.sql]
    assert len(chunks) == 3  # SQLAlchemy's selectinload sends 500 keys per IN
    assert report.findings == ()


async def test_only_the_request_that_loops_is_reported(seeded: Database) -> None:
    async def request(loop: bool) -> tuple[str, ...]:
        async with seeded.session() as session, doctor() as report:
            users = (await session.scalars(select(User).order_by(User.id))).all()
            for user in users if loop else users[:1]:
                await user.awaitable_attrs.posts
                await asyncio.sleep(0)  # let the other request run in between
        return tuple(kinds(report.findings))

    looping, quiet = await asyncio.gather(request(loop=True), request(loop=False))
    assert looping == ("n_plus_one",)
    assert quiet == ()
