"""Statements run once per row (explicit, count), duplicates, and page walks."""

from __future__ import annotations

from sqlalchemy import func, select

from asqla import Database
from asqla.doctor import doctor

from .conftest import USERS, Comment, Post, User, here, ids, kinds, line_of, only


async def test_a_select_per_row_gets_the_batched_rewrite(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        for user in users:
            await session.scalars(select(Post).where(Post.user_id == user.id))

    finding = only(report.findings, "explicit_n_plus_one")
    assert (finding.count, finding.location) == (USERS, location)
    assert finding.fix == "select(Post).where(Post.user_id.in_(ids))"
    assert finding.statement is not None and "doc_post" in finding.statement
    assert kinds(report.findings) == ["explicit_n_plus_one"]


async def test_session_get_per_id_gets_the_batched_rewrite(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        for user_id in ids():
            await session.get(User, user_id)

    finding = only(report.findings, "explicit_n_plus_one")
    assert finding.count == USERS
    assert finding.fix == "select(User).where(User.id.in_(ids))"


async def test_write_only_select_per_row_gets_the_batched_rewrite(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        for user in users:
            assert len((await session.scalars(user.notes.select())).all()) == 2

    finding = only(report.findings, "explicit_n_plus_one")
    assert finding.count == USERS
    assert finding.fix == "select(Note).where(Note.user_id.in_(ids))"


async def test_a_count_per_row_gets_the_grouped_count(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        for user in users:
            count = select(func.count()).select_from(Post).where(Post.user_id == user.id)
            assert await session.scalar(count) == 3

    finding = only(report.findings, "count_n_plus_one")
    assert finding.count == USERS
    assert finding.fix == (
        "select(Post.user_id, func.count()).where(Post.user_id.in_(ids)).group_by(Post.user_id)"
    )
    assert kinds(report.findings) == ["count_n_plus_one"]


async def test_a_helper_called_from_two_lines_is_not_a_loop(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:

        async def posts_of(user_id: int) -> None:
            await session.scalars(select(Post).where(Post.user_id == user_id))

        await posts_of(1)
        await posts_of(2)

    assert report.findings == ()


async def test_a_helper_called_in_a_loop_is_one(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:

        async def posts_of(user_id: int) -> None:
            location.append(line_of(1))
            await session.scalars(select(Post).where(Post.user_id == user_id))

        location: list[str] = []
        for user_id in ids():
            await posts_of(user_id)

    finding = only(report.findings, "explicit_n_plus_one")
    assert finding.location == location[0]


async def test_the_same_statement_and_parameters_twice_is_a_duplicate(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        first = here()
        await session.scalar(select(Comment).where(Comment.id == 1))
        again = here()
        await session.scalar(select(Comment).where(Comment.id == 1))

    finding = only(report.findings, "duplicate_query")
    assert (finding.count, finding.origin, finding.location) == (2, first, again)


async def test_the_same_statement_with_other_parameters_is_not_a_duplicate(
    seeded: Database,
) -> None:
    async with seeded.session() as session, doctor() as report:
        await session.scalar(select(Comment).where(Comment.id == 1))
        await session.scalar(select(Comment).where(Comment.id == 2))

    assert report.findings == ()


async def test_a_keyset_walk_is_pagination_not_n_plus_one(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        last, pages = 0, 0
        while True:
            page = select(Post).where(Post.id > last).order_by(Post.id).limit(5)
            posts = (await session.scalars(page)).all()
            if not posts:
                break
            last, pages = posts[-1].id, pages + 1

    finding = only(report.findings, "pagination_loop")
    assert finding.severity == "info"
    assert finding.count == pages + 1
    assert kinds(report.findings) == ["pagination_loop"]


async def test_an_offset_walk_is_pagination_not_n_plus_one(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        offset = 0
        while posts := (
            await session.scalars(select(Post).order_by(Post.id).limit(5).offset(offset))
        ).all():
            offset += len(posts)

    assert kinds(report.findings) == ["pagination_loop"]
    assert report.findings[0].severity == "info"


async def test_a_limited_select_per_row_is_still_n_plus_one(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        for user_id in ids():
            latest = select(Post).where(Post.user_id == user_id).order_by(Post.id.desc()).limit(2)
            await session.scalars(latest)

    finding = only(report.findings, "explicit_n_plus_one")
    assert finding.fix == "select(Post).where(Post.user_id.in_(ids))"
