"""Query budgets: assert_max_queries(n), transaction control not counted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from asqla import Database
from asqla.doctor import QueryBudgetExceededError, assert_max_queries

from .conftest import USERS, User, kinds, line_of


async def test_a_block_within_its_budget_passes(seeded: Database) -> None:
    async with seeded.session() as session, assert_max_queries(2) as report:
        users = (await session.scalars(select(User))).all()
        await session.get(User, 1)  # identity map: no statement

    assert len(users) == USERS
    assert report.query_count == 1


async def test_transaction_control_is_not_counted(seeded: Database) -> None:
    async with (
        assert_max_queries(1) as report,
        seeded.session() as session,
        session.begin_nested(),
    ):
        await session.get(User, 1)

    control = [s.sql for s in report.statements if s.transaction_control]
    assert any(sql.startswith("SAVEPOINT") for sql in control)
    assert any(sql.startswith("RELEASE SAVEPOINT") for sql in control)
    assert report.query_count == 1


async def test_going_over_lists_the_statements_and_the_findings(seeded: Database) -> None:
    with pytest.raises(QueryBudgetExceededError) as caught:
        async with seeded.session() as session, assert_max_queries(2):
            users = (await session.scalars(select(User).order_by(User.id))).all()
            location = line_of(2)
            for user in users:
                await user.awaitable_attrs.posts

    error = caught.value
    assert isinstance(error, AssertionError)  # pytest reports it as a failed assertion
    assert (error.limit, len(error.statements)) == (2, 1 + USERS)
    assert kinds(error.findings) == ["n_plus_one"]
    message = str(error)
    assert message.startswith(
        f"{1 + USERS} statements ran, over the budget of 2 (transaction control not counted):\n"
        "  1. SELECT doc_user.id, doc_user.name FROM doc_user ORDER BY doc_user.id  ()"
    )
    assert "  2. SELECT doc_post.id" in message and f"[{location}]" in message
    assert "The doctor found:\n- n_plus_one: N+1: User.posts was loaded" in message
    assert "fix: selectinload(User.posts)" in message


async def test_going_over_without_findings_says_what_to_do(seeded: Database) -> None:
    with pytest.raises(AssertionError, match=r"Batch the reads .* or raise the budget"):
        async with seeded.session() as session, assert_max_queries(0):
            await session.scalar(select(User).where(User.id == 1))


async def test_the_blocks_own_error_wins(seeded: Database) -> None:
    with pytest.raises(KeyError):
        async with seeded.session() as session, assert_max_queries(0):
            await session.scalar(select(User).where(User.id == 1))
            raise KeyError("boom")


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match=r"a limit >= 0, got -1"):
        assert_max_queries(-1)
