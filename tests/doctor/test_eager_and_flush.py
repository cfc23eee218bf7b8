"""unused_eager_load, flush_in_loop and slow_query."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from asqla import Database
from asqla.doctor import DoctorOptions, doctor

from .conftest import USERS, Note, Post, User, here, ids, kinds, line_of, only


async def test_an_eager_load_nothing_reads_is_reported(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        location = here()
        users = (await session.scalars(select(User).options(selectinload(User.posts)))).all()
        names = [user.name for user in users]

    assert len(names) == USERS
    finding = only(report.findings, "unused_eager_load")
    assert (finding.relationship, finding.location) == ("User.posts", location)
    assert finding.fix == "drop selectinload(User.posts)"


async def test_a_read_after_the_block_does_not_count(seeded: Database) -> None:
    async with seeded.session() as session:
        async with doctor() as report:
            statement = select(User).options(joinedload(User.posts))
            users = (await session.scalars(statement)).unique().all()
        assert users[0].posts

    assert kinds(report.findings) == ["unused_eager_load"]


async def test_an_eager_load_that_is_read_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        users = (await session.scalars(select(User).options(selectinload(User.posts)))).all()
        assert users[0].posts

    assert report.findings == ()


async def test_only_the_unread_hop_of_a_chain_is_reported(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        loader = selectinload(User.posts).selectinload(Post.comments)
        users = (await session.scalars(select(User).options(loader))).all()
        assert [post.title for user in users for post in user.posts]

    finding = only(report.findings, "unused_eager_load")
    assert finding.relationship == "Post.comments"
    assert finding.fix == "drop .selectinload(Post.comments)"


async def test_an_eager_load_on_no_rows_is_not_reported(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        statement = select(User).options(selectinload(User.posts)).where(User.id < 0)
        assert (await session.scalars(statement)).all() == []

    assert report.findings == ()


async def test_a_flush_per_row_is_reported(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        location = line_of(3)
        for user_id in ids():
            session.add(Note(id=100 + user_id, user_id=user_id, text="new"))
            await session.flush()

    finding = only(report.findings, "flush_in_loop")
    assert (finding.count, finding.location) == (USERS, location)
    assert finding.fix is not None and "add_all" in finding.fix
    assert finding.statement is not None and "INSERT INTO doc_note" in finding.statement


async def test_one_flush_for_all_rows_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        session.add_all([Note(id=100 + u, user_id=u, text="new") for u in ids()])
        await session.flush()

    assert report.findings == ()


async def test_a_flush_per_batch_of_many_rows_is_fine(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        for batch in range(2):
            notes = [Note(id=1000 + batch * 50 + n, user_id=1, text="x") for n in range(50)]
            session.add_all(notes)
            await session.flush()

    assert report.findings == ()


async def test_an_autoflush_per_row_is_reported_with_no_autoflush(seeded: Database) -> None:
    async with seeded.session() as session, doctor() as report:
        for user_id in ids():
            session.add(Note(id=100 + user_id, user_id=user_id, text="new"))
            await session.scalar(select(User).where(User.id == user_id))

    finding = only(report.findings, "flush_in_loop")
    assert finding.fix is not None and "no_autoflush" in finding.fix


async def test_a_statement_over_the_threshold_is_slow(seeded: Database) -> None:
    options = DoctorOptions(slow_query=0.0)  # every statement takes more than no time
    async with seeded.session() as session, doctor(options=options) as report:
        location = here()
        await session.scalar(select(User).where(User.id == 1))

    finding = only(report.findings, "slow_query")
    assert finding.location == location
    assert finding.detail is not None and "threshold 0 ms" in finding.detail
    assert finding.statement is not None and finding.statement.startswith("SELECT")


async def test_the_slow_query_check_can_be_turned_off(seeded: Database) -> None:
    options = DoctorOptions(slow_query=None)
    async with seeded.session() as session, doctor(options=options) as report:
        await session.scalar(select(User).where(User.id == 1))

    assert report.findings == ()
    assert all(s.duration is not None and s.duration >= 0 for s in report.statements)
