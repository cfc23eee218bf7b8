"""``db.transaction()`` (isolation level, read-only) and ``savepoint()`` on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import String, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import (
    ConfigurationError,
    ConflictError,
    Database,
    DatabaseError,
    SerializationFailureError,
    SessionUsageError,
    UniqueViolationError,
)
from asqla._translate import translate
from asqla.transactions import Savepoint, savepoint

MakeDatabase = Callable[..., Database]
RunAdmin = Callable[[str, str], Awaitable[None]]


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40), unique=True)


async def names(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(Item.name).order_by(Item.id)))


# --- isolation level -------------------------------------------------------------------------

# The level that differs from each server's default, and what a second read
# of a row changed meanwhile by another transaction returns under it.
OTHER_LEVEL = {
    "postgresql": ("REPEATABLE READ", "before"),  # default READ COMMITTED
    "mysql": ("READ COMMITTED", "after"),  # default REPEATABLE READ
}


async def reread(db: Database, level: str | None) -> str:
    """Read item 1, let another transaction rename it, read it again: which name is seen?"""
    async with db.transaction(isolation_level=level) as session:
        await session.scalar(select(Item.name).where(Item.id == 1))
        await asyncio.sleep(0)
        async with db.session() as other:
            item = await other.get_one(Item, 1)
            item.name = "after" if item.name == "before" else "before"
            renamed_to = item.name
        seen = await session.scalar(select(Item.name).where(Item.id == 1))
    return "after" if seen == renamed_to else "before"


@pytest.mark.backends("postgresql", "mysql")
async def test_isolation_level_applies_to_this_transaction_only(
    make_db: MakeDatabase, backend: str
) -> None:
    # Two connections, so that `other` never waits for the one being checked.
    db = make_db(pool_size=2, max_overflow=0)
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Item(id=1, name="before"))
    level, expected = OTHER_LEVEL[backend]
    default = "after" if expected == "before" else "before"

    assert await reread(db, level) == expected
    # The same pooled connections run the next transaction at the server's default.
    assert await reread(db, None) == default
    assert await reread(db, None) == default


@pytest.mark.backends("postgresql")
async def test_postgresql_reports_the_level_and_access_mode(db: Database) -> None:
    async with db.transaction(isolation_level="serializable", read_only=True) as session:
        level = await session.scalar(text("SHOW transaction_isolation"))
        read_only = await session.scalar(text("SHOW transaction_read_only"))
    assert (level, read_only) == ("serializable", "on")
    async with db.session() as session:
        level = await session.scalar(text("SHOW transaction_isolation"))
        read_only = await session.scalar(text("SHOW transaction_read_only"))
    assert (level, read_only) == ("read committed", "off")


@pytest.mark.parametrize(
    "spelling", ["SERIALIZABLE", "serializable", "Repeatable_Read", "read committed"]
)
async def test_isolation_level_spellings_are_accepted(db: Database, spelling: str) -> None:
    await db.create_all(Base.metadata)
    async with db.transaction(isolation_level=spelling) as session:
        session.add(Item(id=1, name="a"))
    assert await names(db) == ["a"]


@pytest.mark.parametrize(
    ("level", "message"),
    [
        pytest.param(
            "SNAPSHOT",
            r"Unknown isolation_level 'SNAPSHOT'\. Choose one of READ UNCOMMITTED, "
            r"READ COMMITTED, REPEATABLE READ, SERIALIZABLE\.",
            id="unknown",
        ),
        pytest.param(
            "autocommit",
            r"isolation_level='AUTOCOMMIT' runs each statement on its own, which is not a "
            r"transaction\. Use db\.read_session\(\)",
            id="autocommit",
        ),
    ],
)
async def test_bad_isolation_level_is_a_configuration_error(
    db: Database, level: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        async with db.transaction(isolation_level=level):
            pytest.fail("the block must not run")
    assert db.status().checked_out == 0


# --- read only --------------------------------------------------------------------------------


async def test_read_only_refuses_orm_writes(db: Database) -> None:
    await db.create_all(Base.metadata)
    with pytest.raises(SessionUsageError, match=r"AsyncSession\.flush\(\) would write"):
        async with db.transaction(read_only=True) as session:
            session.add(Item(id=1, name="a"))
            await session.flush()
    assert await names(db) == []


@pytest.mark.backends("postgresql", "mysql")
async def test_read_only_is_enforced_by_the_server(db: Database) -> None:
    await db.create_all(Base.metadata)
    with pytest.raises(DatabaseError, match=r"(?i)read.only transaction"):
        async with db.transaction(read_only=True) as session:
            # Past the session's own guard (which refuses text() writes too),
            # straight on the connection: the server must refuse it as well.
            connection = await session.connection()
            try:
                await connection.execute(text("INSERT INTO item (id, name) VALUES (1, 'a')"))
            except Exception as exc:
                raise translate(exc) from exc
    async with db.transaction(read_only=True) as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 0
    # The next transaction on the connection may write again.
    async with db.session() as session:
        await session.execute(text("INSERT INTO item (id, name) VALUES (1, 'a')"))
    assert await names(db) == ["a"]


@pytest.mark.backends("sqlite")
async def test_sqlite_read_only_does_not_take_the_write_lock(make_db: MakeDatabase) -> None:
    db = make_db(sqlite_busy_timeout=0.2)
    await db.create_all(Base.metadata)
    async with db.transaction(read_only=True) as reader:
        assert await reader.scalar(select(func.count()).select_from(Item)) == 0
        # A transaction holding the write lock (BEGIN IMMEDIATE) would make
        # this writer fail with "database is locked" after the busy timeout.
        async with db.session() as writer:
            writer.add(Item(id=1, name="a"))
    assert await names(db) == ["a"]


# --- savepoints -------------------------------------------------------------------------------


async def test_error_in_savepoint_rolls_back_only_the_savepoint(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.transaction() as session:
        session.add(Item(id=1, name="kept"))
        with pytest.raises(RuntimeError, match="boom"):
            async with savepoint(session) as sp:
                session.add(Item(id=2, name="undone"))
                await session.flush()
                raise RuntimeError("boom")
        assert sp.rolled_back and sp.error is None
        session.add(Item(id=3, name="after"))
    assert await names(db) == ["kept", "after"]


async def test_savepoint_releases_on_success(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.transaction() as session:
        async with savepoint(session) as sp:
            session.add(Item(id=1, name="a"))
        assert not sp.rolled_back
        # Released: the row is flushed and visible to the outer transaction.
        assert await session.scalar(select(Item.name).where(Item.id == 1)) == "a"
    assert await names(db) == ["a"]


async def test_savepoint_suppresses_listed_errors(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Item(id=1, name="taken"))
    async with db.transaction() as session:
        for id_, name in [(2, "taken"), (3, "free")]:
            async with savepoint(session, suppress=(UniqueViolationError,)) as sp:
                session.add(Item(id=id_, name=name))
            if name == "taken":
                assert sp.rolled_back
                assert isinstance(sp.error, UniqueViolationError)
            else:
                assert (sp.rolled_back, sp.error) == (False, None)
    assert await names(db) == ["taken", "free"]


async def test_savepoint_does_not_suppress_unlisted_errors(db: Database) -> None:
    await db.create_all(Base.metadata)
    with pytest.raises(UniqueViolationError):
        async with db.transaction() as session:
            session.add(Item(id=1, name="a"))
            async with savepoint(session, suppress=(KeyError,)):
                session.add(Item(id=2, name="a"))
    assert await names(db) == []


async def test_nested_savepoints(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.transaction() as session, savepoint(session):
        session.add(Item(id=1, name="outer"))
        async with savepoint(session, suppress=(LookupError,)) as inner:
            session.add(Item(id=2, name="inner"))
            await session.flush()
            raise KeyError("inner only")
        assert isinstance(inner.error, KeyError)
        session.add(Item(id=3, name="outer again"))
    assert await names(db) == ["outer", "outer again"]


async def test_savepoint_never_suppresses_a_serialization_failure(db: Database) -> None:
    """Only rerunning the whole transaction repairs one, so it must reach the retry loop."""
    await db.create_all(Base.metadata)
    with pytest.raises(SerializationFailureError, match="lost the race"):
        async with db.transaction() as session:
            session.add(Item(id=1, name="a"))
            async with savepoint(session, suppress=(ConflictError,)):
                raise SerializationFailureError("lost the race")
    assert await names(db) == []


async def test_savepoint_can_be_used_repeatedly(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.transaction() as session:
        outcomes: list[Savepoint] = []
        for id_ in range(1, 6):
            async with savepoint(session, suppress=(UniqueViolationError,)) as sp:
                await session.execute(insert(Item).values(id=id_, name=f"n{id_ % 2}"))
            outcomes.append(sp)
    assert [sp.rolled_back for sp in outcomes] == [False, False, True, True, True]
    assert await names(db) == ["n1", "n0"]


@pytest.mark.parametrize(
    "suppress",
    [
        pytest.param((asyncio.CancelledError,), id="cancelled"),
        pytest.param((BaseException,), id="base-exception"),
        pytest.param(("UniqueViolationError",), id="string"),
    ],
)
async def test_savepoint_suppress_takes_exception_classes(
    db: Database, suppress: tuple[Any, ...]
) -> None:
    async with db.transaction() as session:
        with pytest.raises(ConfigurationError, match=r"savepoint\(suppress=...\) takes Exception"):
            async with savepoint(session, suppress=suppress):
                pytest.fail("the block must not run")
