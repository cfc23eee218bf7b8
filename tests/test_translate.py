"""Error translation through real errors of real databases.

Unique and foreign key violations on insert, an unreachable server under
ping() and pool exhaustion are pinned in test_database.py; statement and
command timeouts in test_engine.py. This file covers the rest of the map.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import CheckConstraint, ForeignKey, String, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import (
    AsqlaError,
    ConflictError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    ForeignKeyViolationError,
    SerializationFailureError,
    UniqueViolationError,
    VersionConflictError,
)
from asqla._translate import is_translatable, translate

MakeDatabase = Callable[..., Database]
PASSWORD = "s3cret-pw"


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40))
    age: Mapped[int | None]
    __table_args__ = (CheckConstraint("age >= 0", name="age_not_negative"),)


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))


class Page(Base):
    __tablename__ = "page"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's spelling


@pytest.fixture
async def db(make_db: MakeDatabase) -> Database:
    db = make_db()
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Author(id=1, name="ada"))
    return db


def _assert_translated(error: AsqlaError) -> None:
    # The original stays attached, as the one place of translation promises.
    assert isinstance(error.__cause__, sa_exc.SQLAlchemyError)


async def test_not_null_violation_is_a_database_error_not_a_conflict(db: Database) -> None:
    with pytest.raises(DatabaseError, match="A NOT NULL or CHECK constraint forbids it") as info:
        async with db.session() as session:
            await session.execute(text("INSERT INTO author (id, name) VALUES (2, NULL)"))
    assert not isinstance(info.value, ConflictError)
    assert "name" in str(info.value)  # the column is named
    _assert_translated(info.value)


async def test_check_violation_is_a_database_error_not_a_conflict(db: Database) -> None:
    with pytest.raises(DatabaseError, match="A NOT NULL or CHECK constraint forbids it") as info:
        async with db.session() as session:
            session.add(Author(id=2, name="bob", age=-1))
    assert not isinstance(info.value, ConflictError)
    assert "age_not_negative" in str(info.value)  # the constraint is named
    _assert_translated(info.value)


async def test_duplicate_primary_key_is_a_unique_violation(db: Database) -> None:
    with pytest.raises(UniqueViolationError, match="unique constraint rejected the write") as info:
        async with db.session() as session:
            await session.execute(text("INSERT INTO author (id, name) VALUES (1, 'again')"))
    _assert_translated(info.value)


async def test_deleting_a_referenced_row_is_a_foreign_key_violation(db: Database) -> None:
    async with db.session() as session:
        session.add(Book(author_id=1))
    with pytest.raises(
        ForeignKeyViolationError, match="other rows still refer to this one"
    ) as info:
        async with db.session() as session:
            await session.execute(text("DELETE FROM author WHERE id = 1"))
    _assert_translated(info.value)
    async with db.session() as session:  # nothing was deleted
        assert (await session.execute(text("SELECT count(*) FROM author"))).scalar_one() == 1


async def test_syntax_error_is_a_database_error(db: Database) -> None:
    with pytest.raises(DatabaseError, match=r"(?i)syntax") as info:
        async with db.session() as session:
            await session.execute(text("SELEC 1"))
    assert not isinstance(info.value, DatabaseUnavailableError | ConflictError)
    _assert_translated(info.value)
    assert db.status().checked_out == 0


async def test_lost_optimistic_lock_is_a_version_conflict(db: Database) -> None:
    async with db.session() as session:
        page = Page(body="draft")
        session.add(page)
    async with db.session() as session:  # someone else saves first
        await session.execute(update(Page).values(body="theirs", version=Page.version + 1))
    with pytest.raises(VersionConflictError, match="Reload the row") as info:
        async with db.session() as session:
            stale = await session.merge(page, load=False)  # still at version 1
            stale.body = "mine"
            await session.flush()
    assert isinstance(info.value, ConflictError)
    async with db.session() as session:
        assert (await session.execute(text("SELECT body FROM page"))).scalar_one() == "theirs"


@pytest.mark.backends("mysql")
async def test_mysql_value_too_long_is_a_database_error(db: Database) -> None:
    # Strict mode (set by asqla) makes this an error instead of a silent truncation.
    with pytest.raises(DatabaseError, match="Data too long for column 'name'") as info:
        async with db.session() as session:
            session.add(Author(id=3, name="x" * 41))
    assert not isinstance(info.value, ConflictError)


@pytest.mark.backends("sqlite")
async def test_sqlite_write_lock_held_elsewhere_is_unavailable(
    make_db: MakeDatabase, database_url: str
) -> None:
    db = make_db(sqlite_busy_timeout=0.2)
    await db.create_all(Base.metadata)
    holder = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(DatabaseUnavailableError, match="database is locked") as info:
            async with db.session() as session:
                session.add(Author(id=9, name="late"))
        _assert_translated(info.value)
    finally:
        holder.rollback()
        holder.close()
    async with db.session() as session:  # and it works once the lock is free
        session.add(Author(id=9, name="late"))


def _refused_url(backend: str) -> str:
    return {
        "postgresql": f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db",
        "mysql": f"mysql://root:{PASSWORD}@127.0.0.1:1/db",
        "sqlite": "sqlite:////nonexistent-directory/sub/app.db",
    }[backend]


async def _let_aiosqlite_threads_finish() -> None:
    # aiosqlite (0.22) stops the worker thread of a failed connect without
    # awaiting it; if the event loop closes first, the thread dies with
    # "Event loop is closed", which pytest reports against the next test.
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


async def test_unreachable_database_in_a_session_is_unavailable(
    make_db: MakeDatabase, backend: str
) -> None:
    db = make_db(url=_refused_url(backend), connect_timeout=2)
    with pytest.raises(
        DatabaseUnavailableError, match=r"(Retry the request|Check that the server)"
    ) as info:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
    await _let_aiosqlite_threads_finish()
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)
    _assert_translated_from_driver(info.value)
    assert db.status().checked_out == 0


async def test_unreachable_database_on_a_bare_engine_is_unavailable(
    make_db: MakeDatabase, backend: str
) -> None:
    db = make_db(url=_refused_url(backend), connect_timeout=2)
    with pytest.raises(Exception) as info:
        async with db.engine.connect():
            pass
    await _let_aiosqlite_threads_finish()
    assert is_translatable(info.value)
    translated = translate(info.value)
    assert isinstance(translated, DatabaseUnavailableError)
    assert PASSWORD not in str(translated)


def _assert_translated_from_driver(error: AsqlaError) -> None:
    # Connection errors come as SQLAlchemy errors or as the driver's OSError.
    assert isinstance(error.__cause__, sa_exc.SQLAlchemyError | OSError)


def test_translate_leaves_asqla_errors_and_knows_its_limits() -> None:
    error = UniqueViolationError("already translated")
    assert translate(error) is error
    assert not is_translatable(ValueError("a bug in user code"))
    assert not is_translatable(KeyError("x"))


async def _deadlock(db: Database, index: int, locked: list[asyncio.Event], nested: bool) -> None:
    """Lock row ``index``, wait until the other task holds its row, then take that one."""
    async with db.session() as session:
        await session.get_one(Author, index + 1, with_for_update=True)
        locked[index].set()
        await locked[1 - index].wait()
        if not nested:
            await session.get_one(Author, 2 - index, with_for_update=True)
            return
        await session.begin_nested()
        try:
            await session.get_one(Author, 2 - index, with_for_update=True)
        except SerializationFailureError:
            await session.rollback()  # ROLLBACK TO SAVEPOINT: 1305 on MariaDB
            raise


@pytest.mark.backends("postgresql", "mysql")
@pytest.mark.parametrize("nested", [False, True], ids=["plain", "in-savepoint"])
async def test_deadlock_is_a_serialization_failure(db: Database, nested: bool) -> None:
    async with db.session() as session:
        session.add(Author(id=2, name="bob"))
    locked = [asyncio.Event(), asyncio.Event()]
    outcomes = await asyncio.gather(
        *(_deadlock(db, i, locked, nested) for i in range(2)), return_exceptions=True
    )
    errors = [o for o in outcomes if o is not None]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], SerializationFailureError)
    assert re.search(
        r"lost a serialization race or a deadlock and was rolled back: .*"
        r"Run the whole transaction again",
        str(errors[0]),
    )
