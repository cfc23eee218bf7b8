from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import ForeignKey, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import (
    ConcurrentSessionUseError,
    Database,
    DatabaseUnavailableError,
    ForeignKeyViolationError,
    PoolTimeoutError,
    SessionUsageError,
    UniqueViolationError,
)


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Player(Base):
    __tablename__ = "player"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))


async def count(db: Database) -> int:
    async with db.session() as session:
        return len((await session.scalars(select(Team))).all())


async def test_session_commits_on_success(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Team(name="red"))
    assert await count(db) == 1


async def test_session_rolls_back_on_error(db: Database) -> None:
    await db.create_all(Base.metadata)
    with pytest.raises(RuntimeError, match="boom"):
        async with db.session() as session:
            session.add(Team(name="red"))
            await session.flush()
            raise RuntimeError("boom")
    assert await count(db) == 0
    assert db.status().checked_out == 0


async def test_objects_stay_loaded_after_commit(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        team = Team(name="red")
        session.add(team)
    # expire_on_commit=False: reading after the unit of work needs no I/O.
    assert team.name == "red"
    assert team.id is not None


async def test_unique_violation_is_translated(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Team(name="red"))
    with pytest.raises(UniqueViolationError, match="unique constraint rejected the write"):
        async with db.session() as session:
            session.add(Team(name="red"))
    assert await count(db) == 1


async def test_foreign_key_violation_is_translated(db: Database) -> None:
    await db.create_all(Base.metadata)
    with pytest.raises(ForeignKeyViolationError, match="foreign key rejected the write"):
        async with db.session() as session:
            session.add(Player(team_id=12345))


async def test_ping_returns_latency(db: Database) -> None:
    latency = await db.ping(timeout=5)
    assert 0 < latency < 5


async def test_ping_unreachable_server_is_unavailable(backend: str, make_db) -> None:
    if backend == "sqlite":
        url = "sqlite:////nonexistent-dir/x/y.db"
    elif backend == "postgresql":
        url = "postgresql://postgres:s3cret@127.0.0.1:1/db"
    else:
        url = "mysql://root:s3cret@127.0.0.1:1/db"
    db = make_db(url=url)
    with pytest.raises(DatabaseUnavailableError) as info:
        await db.ping(timeout=5)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(db)


async def test_status_reports_pool(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        status = db.status()
        assert status.checked_out == 1
    status = db.status()
    assert status.checked_out == 0
    assert status.pool_size == 10
    assert status.server_version
    assert status.dialect in ("sqlite", "postgresql", "mysql")


async def test_pool_exhaustion_raises_pool_timeout(make_db) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=0.5)
    async with db.session() as holder:
        await holder.execute(text("SELECT 1"))
        assert db.status().checked_out == 1
        with pytest.raises(PoolTimeoutError, match="ASQLA_POOL_SIZE"):
            async with asyncio.timeout(5), db.session() as session:
                await session.execute(text("SELECT 1"))
    assert db.status().checked_out == 0


async def test_pool_waiters_are_counted(make_db) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    release = asyncio.Event()

    async def hold() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await release.wait()

    async def wait() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.2)
    waiters = [asyncio.create_task(wait()) for _ in range(3)]
    await asyncio.sleep(0.2)
    assert db.status().waiters == 3
    release.set()
    await asyncio.gather(holder, *waiters)
    assert db.status().waiters == 0


async def test_concurrent_use_of_one_session_raises(db: Database) -> None:
    sleep = {
        "postgresql": "SELECT pg_sleep(0.3)",
        "mysql": "SELECT SLEEP(0.3)",
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<3000000)"
        " SELECT max(x) FROM c",
    }[db.engine.dialect.name]
    async with db.session() as session:
        await session.execute(text("SELECT 1"))  # the session now holds a connection
        first = asyncio.create_task(session.execute(text(sleep)), name="first")
        await asyncio.sleep(0.05)
        with pytest.raises(
            ConcurrentSessionUseError, match=r"is still running AsyncSession\.execute"
        ):
            await asyncio.create_task(session.execute(text("SELECT 1")), name="second")
        await first


async def test_read_session_refuses_writes(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.read_session() as session:
        session.add(Team(name="x"))
        with pytest.raises(SessionUsageError, match="ReadSession"):
            await session.flush()
    assert await count(db) == 0


async def test_read_session_reads(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add(Team(name="red"))
    for snapshot in (False, True):
        async with db.read_session(snapshot=snapshot) as session:
            names = (await session.scalars(select(Team.name))).all()
        assert names == ["red"]
    assert db.status().checked_out == 0
