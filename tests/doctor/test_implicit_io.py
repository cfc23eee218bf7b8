"""async_implicit_io (MissingGreenlet, explained) and strict mode (every lazy load refused)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.orm import selectinload

from asqla import Database, SessionUsageError
from asqla.doctor import ImplicitIOError, LazyLoadError, doctor

from .conftest import Post, User, here, kinds, line_of, only


async def test_a_lazy_relationship_read_without_await_names_attribute_line_and_fix(
    seeded: Database,
) -> None:
    async with seeded.session() as session:
        with pytest.raises(ImplicitIOError) as caught:
            async with doctor() as report:
                origin = here()
                users = (await session.scalars(select(User).order_by(User.id))).all()
                location = here()
                users[0].posts  # noqa: B018 - the read is the point

    error = caught.value
    assert isinstance(error, MissingGreenlet)  # `except MissingGreenlet` keeps working
    assert isinstance(error, SessionUsageError)
    assert error.attribute == "User.posts"
    message = str(error)
    assert f"User.posts, a lazy relationship, was read without await at {location}" in message
    assert f".options(selectinload(User.posts)) on the query at {origin}" in message
    assert "`await users[0].awaitable_attrs.posts`" in message
    finding = only(report.findings, "async_implicit_io")
    assert (finding.severity, finding.relationship, finding.location, finding.origin) == (
        "error",
        "User.posts",
        location,
        origin,
    )


async def test_an_expired_attribute_read_without_await_names_the_refresh(
    seeded: Database,
) -> None:
    async with seeded.session() as session:
        user = await session.get_one(User, 1)
        session.expire(user, ["name"])
        with pytest.raises(MissingGreenlet, match=r"User\.name, an expired or deferred attribute"):
            async with doctor():
                user.name  # noqa: B018 - the read is the point

        with pytest.raises(ImplicitIOError) as caught:
            async with doctor():
                user.name  # noqa: B018
    assert "`await session.refresh(user, ['name'])`" in str(caught.value)
    assert "`await user.awaitable_attrs.name`" in str(caught.value)


async def test_the_session_still_works_after_the_refused_load(seeded: Database) -> None:
    async with seeded.session() as session:
        user = await session.get_one(User, 1)
        with pytest.raises(ImplicitIOError):
            async with doctor():
                user.posts  # noqa: B018
        assert len(await user.awaitable_attrs.posts) == 3


@pytest.mark.backends("postgresql", "mysql")  # aiosqlite leaks a coroutine warning here
async def test_other_implicit_io_is_explained_on_the_way_out(seeded: Database) -> None:
    async with seeded.session() as session:
        connection = await session.connection()
        with pytest.raises(ImplicitIOError, match="Database IO was attempted without await at"):
            async with doctor() as report:
                connection.sync_connection.exec_driver_sql("SELECT 1")
    assert kinds(report.findings) == ["async_implicit_io"]


async def test_strict_mode_refuses_a_lazy_load_with_the_fix(seeded: Database) -> None:
    async with seeded.session() as session, doctor.strict():
        origin = here()
        users = (await session.scalars(select(User).order_by(User.id))).all()
        location = line_of(2)
        with pytest.raises(LazyLoadError) as caught:
            await users[0].awaitable_attrs.posts

    assert caught.value.relationship == "User.posts"
    assert str(caught.value) == (
        f"User.posts was about to be lazy-loaded at {location}, and doctor.strict() refuses "
        f"lazy loads. Fix: .options(selectinload(User.posts)) on the query at {origin}; "
        "or, for one object, `await session.refresh(users[0], ['posts'])`."
    )


async def test_strict_mode_allows_eager_loads_refresh_and_the_identity_map(
    seeded: Database,
) -> None:
    async with seeded.session() as session, doctor.strict(mode="raise") as report:
        statement = select(User).options(selectinload(User.posts)).order_by(User.id)
        users = (await session.scalars(statement)).all()
        assert len(users[0].posts) == 3
        post = await session.get_one(Post, 1)
        assert await post.awaitable_attrs.author is users[0]  # no SQL: identity map
        await session.refresh(users[1], ["posts"])
        assert len(users[1].posts) == 3

    assert report.findings == ()


async def test_strict_mode_ends_with_its_block(seeded: Database) -> None:
    async with seeded.session() as session:
        async with doctor.strict():
            user = await session.get_one(User, 1)
        assert len(await user.awaitable_attrs.posts) == 3
