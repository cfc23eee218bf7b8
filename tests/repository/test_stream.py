"""stream(): every row through a server-side cursor, and nothing left open when the reader stops."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, String, func, insert, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database, SessionUsageError
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey, SoftDelete
from asqla.repository._stream import Stream, stream

ROWS = 2345


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Item(BigIntPrimaryKey, SoftDelete, Model):
    __tablename__ = "item"
    name: Mapped[str] = mapped_column(String(50))


async def fill(db: Database, rows: int = ROWS) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        await session.execute(insert(Item), [{"name": f"item {i}"} for i in range(rows)])


async def open_portals(session: Any) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM pg_cursors WHERE name <> ''")) or 0)


async def test_yields_every_row_as_objects(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        items = [
            item async for item in stream(session, select(Item).order_by(Item.id), batch_size=100)
        ]
    assert len(items) == ROWS
    assert all(isinstance(item, Item) for item in items)
    assert [item.name for item in items] == [f"item {i}" for i in range(ROWS)]
    assert db.status().checked_out == 0


async def test_yields_rows_for_anything_but_one_entity(db: Database) -> None:
    await fill(db, rows=10)
    async with db.session() as session:
        rows = [row async for row in stream(session, select(Item.id, Item.name).order_by(Item.id))]
        raw = [row async for row in stream(session, text("SELECT name FROM item ORDER BY id"))]
    assert all(isinstance(row, Row) for row in rows + raw)
    assert (
        [row.name for row in rows] == [row.name for row in raw] == [f"item {i}" for i in range(10)]
    )


async def test_soft_deleted_rows_stay_hidden(db: Database) -> None:
    await fill(db, rows=10)
    async with db.session() as session:
        first = await session.get(Item, 1)
        assert first is not None
        first.soft_delete()
    async with db.session() as session:
        names = [item.name async for item in stream(session, select(Item))]
    assert len(names) == 9 and "item 0" not in names


async def test_stopping_early_releases_the_connection(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        async for item in stream(session, select(Item), batch_size=50):
            if item.id == 10:
                break
    assert db.status().checked_out == 0
    # The pooled connection is clean: the abandoned result was closed before COMMIT.
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == ROWS


async def test_stopping_early_inside_async_with_closes_at_once(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        async with stream(session, select(Item), batch_size=50) as items:
            async for item in items:
                if item.id == 10:
                    break
        # Closed here, not at the end of the transaction: the session reads on.
        assert await session.scalar(select(func.count()).select_from(Item)) == ROWS
        assert [item async for item in items] == []
    assert db.status().checked_out == 0


@pytest.mark.backends("postgresql")
async def test_postgresql_reads_through_a_portal_and_closes_it(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        items = stream(session, select(Item), batch_size=100)
        await anext(items)
        assert await open_portals(session) == 1  # a server-side cursor, not a buffered result
        await items.aclose()
        assert await open_portals(session) == 0
        async for _ in stream(session, select(Item), batch_size=1000):
            pass  # read to the end: closed on exhaustion
        assert await open_portals(session) == 0


@pytest.mark.backends("postgresql")
async def test_postgresql_no_cursor_left_after_an_abandoned_stream(make_db: Any) -> None:
    db: Database = make_db(pool_size=1, max_overflow=0)
    await fill(db)
    async with db.session() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        async for _ in stream(session, select(Item), batch_size=10):
            break
    assert db.status().checked_out == 0
    async with db.session() as session:
        assert await session.scalar(text("SELECT pg_backend_pid()")) == pid  # same connection
        assert await open_portals(session) == 0


@pytest.mark.backends("postgresql")
async def test_postgresql_read_session_needs_a_snapshot(db: Database) -> None:
    await fill(db, rows=5)
    async with db.read_session() as session:
        with pytest.raises(SessionUsageError, match=r"read_session\(snapshot=True\)"):
            await anext(stream(session, select(Item)))
    async with db.read_session(snapshot=True) as session:
        assert len([item async for item in stream(session, select(Item))]) == 5
    assert db.status().checked_out == 0


async def test_read_session_streams(db: Database) -> None:
    await fill(db, rows=5)
    async with db.read_session(snapshot=True) as session:
        assert len([item async for item in stream(session, select(Item))]) == 5


async def test_ending_the_transaction_closes_an_open_stream(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        items = stream(session, select(Item), batch_size=100)
        await anext(items)
        await session.commit()
        with pytest.raises(SessionUsageError, match="closed because its transaction ended"):
            async for _ in items:
                pass
    assert db.status().checked_out == 0


@pytest.mark.backends("mysql")
async def test_mysql_another_statement_closes_an_open_stream(db: Database) -> None:
    await fill(db)
    async with db.session() as session:
        items = stream(session, select(Item), batch_size=100)
        await anext(items)
        # asyncmy would warn "Previous unbuffered result was left incomplete"
        # (an error under this suite's filterwarnings) without the close first.
        assert await session.scalar(select(func.count()).select_from(Item)) == ROWS
        with pytest.raises(SessionUsageError, match="another statement ran on its connection"):
            await anext(items)


@pytest.mark.backends("sqlite", "postgresql")
async def test_other_statements_can_run_while_streaming(db: Database) -> None:
    await fill(db, rows=300)
    async with db.session() as session:
        seen = 0
        async for _ in stream(session, select(Item), batch_size=100):
            seen += 1
            if seen % 100 == 0:
                assert await session.scalar(select(func.count()).select_from(Item)) == 300
    assert seen == 300


async def test_stream_is_its_own_iterator_and_checks_batch_size(db: Database) -> None:
    await fill(db, rows=3)
    async with db.session() as session:
        items = stream(session, select(Item))
        assert isinstance(items, Stream)
        assert aiter(items) is items
        await items.aclose()
        assert [item async for item in items] == []
    with pytest.raises(ValueError, match=r"stream\(batch_size=...\) must be a positive int"):
        stream(session, select(Item), batch_size=0)
