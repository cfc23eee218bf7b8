"""``OuterTransaction``: sessions join one transaction through savepoints; all of it rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from asqla import AsyncSession, Database, SessionUsageError
from asqla.testing import OuterTransaction

metadata = MetaData()
note = Table("note", metadata, Column("id", Integer, primary_key=True), Column("text", String(50)))


@pytest.fixture
async def notes_db(db: Database) -> AsyncIterator[Database]:
    await db.create_all(metadata)
    yield db


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(note)) or 0)


async def test_what_sessions_commit_is_rolled_back_at_the_end(notes_db: Database) -> None:
    async with OuterTransaction(notes_db) as outer:
        session = outer.session()
        await session.execute(insert(note).values(text="a"))
        await session.commit()  # releases its savepoint; the outer transaction stays open
        other = outer.session()
        assert await _count(other) == 1
        await other.execute(insert(note).values(text="b"))
        await other.rollback()  # back to its own savepoint only
        assert await _count(session) == 1
    async with notes_db.session() as after:
        assert await _count(after) == 0


async def test_bind_routes_a_databases_sessions_into_the_transaction(
    notes_db: Database, make_db: Callable[..., Database]
) -> None:
    app_db = make_db()
    engine, new_session = app_db.engine, app_db._new_session
    async with OuterTransaction(notes_db) as outer:
        with outer.bind(app_db):
            async with app_db.session() as session:
                await session.execute(insert(note).values(text="a"))
            async with app_db.read_session() as reader:
                assert await _count(reader) == 1
                # Still a read session: asqla's guard refuses its writes.
                with pytest.raises(SessionUsageError, match="through a ReadSession"):
                    await reader.execute(insert(note).values(text="refused"))
            assert app_db.engine is not engine
        assert app_db.engine is engine
        assert app_db._new_session == new_session
        assert "_new_session" not in vars(app_db)
        assert await _count(outer.session()) == 1
    async with notes_db.session() as after:
        assert await _count(after) == 0


async def test_a_read_session_that_fails_keeps_the_tests_data(notes_db: Database) -> None:
    async with OuterTransaction(notes_db) as outer:
        writer = outer.session()
        await writer.execute(insert(note).values(text="set up by the test"))
        await writer.commit()
        with outer.bind(notes_db), pytest.raises(RuntimeError, match="the request failed"):
            async with notes_db.read_session() as reader:
                assert await _count(reader) == 1
                raise RuntimeError("the request failed")
        assert await _count(writer) == 1


async def test_a_read_session_between_a_writers_savepoint_does_not_undo_it(
    notes_db: Database,
) -> None:
    async with OuterTransaction(notes_db) as outer:
        reader, writer = outer.read_session(), outer.session()
        assert await _count(reader) == 0  # the reader joins first...
        await writer.execute(insert(note).values(text="a"))  # ...the writer's savepoint after
        await writer.commit()
        await reader.close()
        assert await _count(outer.session()) == 1


async def test_connection_outside_the_block_is_an_error(notes_db: Database) -> None:
    outer = OuterTransaction(notes_db)
    with pytest.raises(RuntimeError, match="OuterTransaction is not open"):
        outer.session()
