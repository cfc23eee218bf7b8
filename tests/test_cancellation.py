"""Cancellation safety of ``Database.session()`` and ``read_session()``.

A task may be cancelled at any await: before its first query, during a query,
a flush, COMMIT, the ROLLBACK that follows an error, while waiting for a pooled
connection, and again while the cleanup of the first cancellation runs. Each
test cancels at one such point and then checks what a user would notice:

- the pool got its connection back (``checked_out == 0``) and still serves;
- the server holds no transaction open and runs no statement for us
  (PostgreSQL ``pg_stat_activity``; MariaDB ``PROCESSLIST`` and the InnoDB
  monitor), and after ``dispose()`` no connection of ours is left open on it;
- no cleanup is left running in a task nobody awaits, and no aiosqlite
  connection thread outlives the test;
- the unit of work is all or nothing: its 3 rows are all there or none is.

Precise cancellation points come from hooks that await inside SQLAlchemy's
greenlet (``sqlalchemy.util.await_``), the way a driver awaits its socket.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.util import await_

from asqla import Database

MakeDatabase = Callable[..., Database]


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "cancel_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[int] = mapped_column(index=True)
    n: Mapped[int]


def items(task: int) -> list[Item]:
    return [Item(task=task, n=n) for n in range(3)]


def slow_query(db: Database, seconds: float) -> TextClause:
    """A statement that keeps the server (or SQLite's thread) busy for about ``seconds``."""
    backend = db.engine.dialect.name
    if backend == "postgresql":
        return text(f"SELECT pg_sleep({seconds})")
    if backend == "mysql":
        return text(f"SELECT SLEEP({seconds})")
    rows = int(seconds * 3_000_000)  # about 3M rows a second in a recursive CTE
    return text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        f"WHERE x < {rows}) SELECT max(x) FROM c"
    )


# --- what the server says -----------------------------------------------------------

_PG_BUSY = """
    SELECT pid, state, left(query, 80) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend' AND state IS DISTINCT FROM 'idle'
"""
_PG_SESSIONS = """
    SELECT pid, state FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
"""
_MY_SESSIONS = """
    SELECT ID, COMMAND, STATE, LEFT(INFO, 80) FROM information_schema.PROCESSLIST
    WHERE DB = DATABASE() AND ID <> CONNECTION_ID()
"""


async def _server(observer: Database, *, busy: bool) -> list[Any] | None:
    """Our server sessions: all of them, or (``busy``) those inside a transaction or a statement.

    ``None`` for SQLite, which has no server to ask.
    """
    backend = observer.engine.dialect.name
    if backend == "postgresql":
        async with observer.read_session() as session:
            return list((await session.execute(text(_PG_BUSY if busy else _PG_SESSIONS))).all())
    if backend != "mysql":
        return None
    async with observer.read_session() as session:
        sessions = (await session.execute(text(_MY_SESSIONS))).all()
        status = (await session.execute(text("SHOW ENGINE INNODB STATUS"))).one()[2]
    # Open transactions come from the InnoDB monitor, not INNODB_TRX: InnoDB
    # refreshes the INFORMATION_SCHEMA cache behind INNODB_TRX only once it has
    # not been read for 0.1 s (trx0i_s.cc, can_cache_be_updated), so a poll, or
    # any other client polling it, keeps it stale for ever.
    active = {
        int(thread)
        for block in status.split("---TRANSACTION ")[1:]
        if "ACTIVE" in block.partition("\n")[0]
        for thread in re.findall(r"(?:MySQL|MariaDB) thread id (\d+)", block)[:1]
    }
    if not busy:
        return list(sessions)
    return [
        (*row, "in transaction" if row[0] in active else None)
        for row in sessions
        if row[1] != "Sleep" or row[0] in active
    ]


async def _settle(observer: Database, *, connections: int, timeout: float = 10.0) -> None:
    """Wait until the server shows no busy session and at most ``connections`` of ours."""
    deadline = time.monotonic() + timeout
    while True:
        busy = await _server(observer, busy=True)
        sessions = await _server(observer, busy=False)
        if busy is None or sessions is None or (not busy and len(sessions) <= connections):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"after {timeout}s the server still has sessions of ours that are running a "
                f"statement or inside a transaction: {busy}; open connections: {len(sessions)} "
                f"(expected at most {connections})"
            )
        await asyncio.sleep(0.05)


async def counts(db: Database) -> Counter[int]:
    """Rows per task number."""
    async with db.read_session() as session:
        rows = await session.execute(select(Item.task, func.count()).group_by(Item.task))
        return Counter({task: number for task, number in rows})


async def assert_released(db: Database, observer: Database | None) -> None:
    """The pool has every connection back, serves again, and the server is idle."""
    status = db.status()
    assert (status.checked_out, status.waiters) == (0, 0), status
    await _no_task_left_behind()
    if observer is not None:
        await _settle(observer, connections=status.pool_size + status.overflow)
    # Every pooled connection at once: none was lost, none is unusable.
    async with asyncio.timeout(10):
        await asyncio.gather(*(_select_one(db) for _ in range(max(1, status.pool_size))))
    assert db.status().checked_out == 0
    if observer is not None:
        await db.dispose()
        await _settle(observer, connections=0)


async def _no_task_left_behind(timeout: float = 5.0) -> None:
    """No cleanup is still running, or stuck, in a task nobody awaits."""
    deadline = time.monotonic() + timeout
    while others := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
        if time.monotonic() > deadline:
            pytest.fail(f"tasks left pending after the cancellation: {others}")
        await asyncio.sleep(0.02)


async def _select_one(db: Database) -> None:
    async with db.session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar() == 1


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _no_sqlite_connection_left_open() -> AsyncIterator[None]:
    # Runs after make_db has disposed of every pool. Each aiosqlite connection
    # has a thread that stops once the connection is closed: one still running
    # is a connection that was never closed (and, when it does stop, it posts
    # to this loop, which must still be open: "Event loop is closed").
    yield
    deadline = time.monotonic() + 5
    while threads := [
        t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")
    ]:
        if time.monotonic() > deadline:
            pytest.fail(f"aiosqlite connections were never closed: {threads}")
        await asyncio.sleep(0.02)


@pytest.fixture
def observer(make_db: MakeDatabase, backend: str) -> Database | None:
    """A pool-less Database that watches the server from outside the pool under test."""
    return make_db(preset="serverless") if backend != "sqlite" else None


@pytest.fixture
async def db(make_db: MakeDatabase) -> Database:
    database = make_db(pool_size=2, max_overflow=0, pool_timeout=10)
    await database.create_all(Base.metadata)
    return database


def hook(db: Database, name: str, fn: Callable[..., Any]) -> None:
    """Listen for ``name`` once: the first event runs ``fn``, later ones are ignored."""
    fired = False

    def once(*args: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            fn(*args)

    event.listen(db.engine.sync_engine, name, once)


def stall(reached: asyncio.Event, seconds: float = 30.0) -> None:
    """Inside SQLAlchemy's greenlet: signal ``reached``, then await like a slow driver."""
    reached.set()
    await_(asyncio.sleep(seconds))


def slow_cleanup(db: Database) -> asyncio.Event:
    """Make the first connection close (invalidation) or ROLLBACK take 0.2 s.

    Returns an event set when that cleanup starts, for a second cancellation
    to land in it. As SQLAlchemy's asyncio ``terminate()`` does when its
    graceful close is cancelled, the connection is still closed (or rolled
    back) before the cancellation propagates.
    """
    cleaning = asyncio.Event()
    dialect: Any = db.engine.sync_engine.dialect
    for name in ("do_terminate", "do_rollback"):
        original = getattr(dialect, name)

        def slow(dbapi_connection: Any, original: Any = original) -> None:
            if cleaning.is_set():
                return original(dbapi_connection)
            cleaning.set()
            try:
                await_(asyncio.sleep(0.2))
            finally:
                original(dbapi_connection)

        setattr(dialect, name, slow)
    return cleaning


async def cancel(task: asyncio.Task[Any], *, again: asyncio.Event | None = None) -> None:
    """Cancel ``task`` (and again once ``again`` is set); check that it ends cancelled."""
    assert task.cancel(), "the task ended before it could be cancelled"
    if again is not None:
        async with asyncio.timeout(5):
            await again.wait()
        assert task.cancel(), "the task ended before it could be cancelled again"
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


TWICE = pytest.mark.parametrize(
    "twice", [pytest.param(False, id="once"), pytest.param(True, id="twice")]
)


# --- cancellation at precise points ---------------------------------------------------------


async def test_cancel_before_the_first_query(db: Database, observer: Database | None) -> None:
    entered = asyncio.Event()

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(1))
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(unit())
    await entered.wait()
    await cancel(task)
    assert await counts(db) == {}
    await assert_released(db, observer)


@TWICE
@pytest.mark.parametrize(
    "reader", [pytest.param(False, id="session"), pytest.param(True, id="read")]
)
async def test_cancel_during_a_query(
    db: Database, observer: Database | None, twice: bool, reader: bool
) -> None:
    statement = slow_query(db, 1.5)
    running = asyncio.Event()
    event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *a: running.set() if sql == statement.text else None,
    )
    cleaning = slow_cleanup(db) if twice else None
    finished = False

    async def unit() -> None:
        nonlocal finished
        context = db.read_session() if reader else db.session()
        async with context as session:
            if not reader:
                session.add_all(items(1))
                await session.flush()
            await session.execute(statement)
            finished = True

    task = asyncio.create_task(unit())
    await running.wait()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await cancel(task, again=cleaning)
    assert not finished
    # The cancelled task does not wait for the statement to run its course
    # (1.3 s were left): the server is told to stop, SQLite is interrupted.
    assert time.monotonic() - started < 1.0
    assert await counts(db) == {}
    await assert_released(db, observer)


@TWICE
async def test_cancel_during_flush(db: Database, observer: Database | None, twice: bool) -> None:
    # The INSERT has reached the server (its rows are in the open transaction)
    # when the cancellation lands, before the flush has finished.
    inserted = asyncio.Event()
    hook(db, "after_cursor_execute", lambda *a: stall(inserted))
    cleaning = slow_cleanup(db) if twice else None

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(1))
            await session.flush()

    task = asyncio.create_task(unit())
    await inserted.wait()
    await cancel(task, again=cleaning)
    assert await counts(db) == {}
    await assert_released(db, observer)


@TWICE
async def test_cancel_while_idle_in_a_transaction(
    db: Database, observer: Database | None, twice: bool
) -> None:
    # Cancelled outside any database call, with a flushed, uncommitted write:
    # the connection is sound, so it is rolled back (the second cancellation
    # lands during that ROLLBACK) and goes back to the pool, not thrown away.
    flushed = asyncio.Event()
    cleaning = slow_cleanup(db)
    invalidated: list[Any] = []
    event.listen(db.engine.sync_engine, "invalidate", lambda *a: invalidated.append(a))

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(1))
            await session.flush()
            flushed.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(unit())
    await flushed.wait()
    await cancel(task, again=cleaning if twice else None)
    assert cleaning.is_set()
    assert invalidated == [], "a sound connection was thrown away"
    assert await counts(db) == {}
    await assert_released(db, observer)


@TWICE
async def test_cancel_during_the_rollback_after_an_error(
    db: Database, observer: Database | None, twice: bool
) -> None:
    cleaning = slow_cleanup(db)
    invalidated: list[Any] = []
    event.listen(db.engine.sync_engine, "invalidate", lambda *a: invalidated.append(a))
    interrupted: list[BaseException | None] = []

    async def unit() -> None:
        try:
            async with db.session() as session:
                session.add_all(items(1))
                await session.flush()
                raise RuntimeError("boom")
        except asyncio.CancelledError as exc:
            interrupted.append(exc.__context__)
            raise

    task = asyncio.create_task(unit())
    async with asyncio.timeout(5):
        await cleaning.wait()
    assert task.cancel()
    if twice:
        await asyncio.sleep(0.05)
        assert task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancellation wins; the error whose cleanup it interrupted stays
    # attached. The ROLLBACK was not cut short (the connection was kept).
    assert isinstance(interrupted[0], RuntimeError)
    assert invalidated == []
    assert await counts(db) == {}
    await assert_released(db, observer)


# --- COMMIT ------------------------------------------------------------------------------


def wrap_do_commit(db: Database, replacement: Callable[[Any, Callable[[Any], None]], None]) -> None:
    """Run the first COMMIT through ``replacement(dbapi_connection, original)``."""
    dialect: Any = db.engine.sync_engine.dialect
    original = dialect.do_commit
    fired = False

    def do_commit(dbapi_connection: Any) -> None:
        nonlocal fired
        if fired:
            return original(dbapi_connection)
        fired = True
        replacement(dbapi_connection, original)

    dialect.do_commit = do_commit


async def arm_commit_in_flight(db: Database, reached: asyncio.Event) -> None:
    """Make the first COMMIT take a while after it has left the client."""
    backend = db.engine.dialect.name
    if backend == "postgresql":
        # A deferred constraint trigger runs inside COMMIT, on the server.
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(
                "CREATE FUNCTION cancel_item_slow() RETURNS trigger LANGUAGE plpgsql AS "
                "'BEGIN PERFORM pg_sleep(1); RETURN NULL; END'"
            )
            await connection.exec_driver_sql(
                "CREATE CONSTRAINT TRIGGER cancel_item_slow AFTER INSERT ON cancel_item "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.n = 0) "
                "EXECUTE FUNCTION cancel_item_slow()"
            )
        hook(db, "commit", lambda conn: reached.set())
    elif backend == "mysql":
        # COMMIT is sent and its reply left unread: the server commits, the
        # client never hears it, and the connection still owes a read.
        def send_commit_then_wait(dbapi_connection: Any, original: Any) -> None:
            driver = dbapi_connection.driver_connection
            await_(driver._execute_command(3, "COMMIT"))  # 3: COM_QUERY
            stall(reached)
            await_(driver._read_ok_packet())

        wrap_do_commit(db, send_commit_then_wait)
    else:
        # COMMIT is queued on the aiosqlite connection's thread, which is busy.
        def queue_slow_commit(dbapi_connection: Any, original: Any) -> None:
            driver = dbapi_connection.driver_connection
            raw = driver._conn
            reached.set()
            await_(driver._execute(lambda: (time.sleep(0.5), raw.commit())))

        wrap_do_commit(db, queue_slow_commit)


@TWICE
@pytest.mark.parametrize("phase", ["before", "in_flight", "after"])
async def test_cancel_during_commit(
    db: Database, observer: Database | None, phase: str, twice: bool
) -> None:
    reached = asyncio.Event()
    if phase == "before":
        # ConnectionEvents.commit fires right before the DBAPI commit().
        hook(db, "commit", lambda conn: stall(reached))
    elif phase == "after":
        # The server has acknowledged COMMIT; the task is cancelled before it
        # has heard about it.
        def commit_then_wait(dbapi_connection: Any, original: Any) -> None:
            original(dbapi_connection)
            stall(reached)

        wrap_do_commit(db, commit_then_wait)
    else:
        await arm_commit_in_flight(db, reached)
    cleaning = slow_cleanup(db) if twice else None

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(1))

    task = asyncio.create_task(unit())
    await reached.wait()
    await asyncio.sleep(0.1)
    await cancel(task, again=cleaning)
    rows = (await counts(db))[1]
    assert rows in (0, 3), f"partial commit: {rows} of 3 rows"
    if phase == "before":
        assert rows == 0
    elif phase == "after" or db.engine.dialect.name != "postgresql":
        # COMMIT reached the database: it stands, though the caller was cancelled.
        assert rows == 3
    await assert_released(db, observer)


@pytest.mark.backends("sqlite")
async def test_cancel_twice_while_sqlalchemy_closes_the_connection(
    db: Database, observer: Database | None
) -> None:
    # Cancelled while aiosqlite's thread runs COMMIT, SQLAlchemy invalidates
    # the connection and waits for the thread to close it. A second
    # cancellation must not cut that short: SQLAlchemy would then leave the
    # connection open (soft-invalidated, for the next checkout to close and
    # wait for) or, cut inside terminate(), force-close it while aiosqlite's
    # close() waits for ever on a thread that has stopped.
    reached = asyncio.Event()
    await arm_commit_in_flight(db, reached)
    drivers: list[Any] = []
    event.listen(
        db.engine.sync_engine,
        "commit",
        lambda conn: drivers.append(conn.connection.driver_connection),
    )

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(1))

    task = asyncio.create_task(unit())
    await reached.wait()
    assert task.cancel()
    await asyncio.sleep(0.1)  # COMMIT is still running (0.5 s); cleanup waits for it
    assert task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert drivers[0]._connection is None, "the cancelled task left its connection open"
    assert (await counts(db))[1] == 3
    await assert_released(db, observer)


@pytest.mark.backends("postgresql", "mysql")
async def test_the_server_check_sees_an_open_transaction(
    db: Database, observer: Database | None
) -> None:
    # The checks above would pass vacuously if the server views saw nothing.
    assert observer is not None
    async with db.session() as session:
        session.add_all(items(1))
        await session.flush()
        busy = await _server(observer, busy=True)
        assert busy is not None and len(busy) == 1, busy
    await _settle(observer, connections=db.status().pool_size)


# --- waiting for a connection ------------------------------------------------------------


@TWICE
async def test_cancel_while_waiting_for_a_pooled_connection(
    make_db: MakeDatabase, observer: Database | None, twice: bool
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=30)
    await db.create_all(Base.metadata)
    release = asyncio.Event()

    async def hold() -> None:
        async with db.session() as session:
            session.add_all(items(1))
            await session.flush()
            await release.wait()

    async def wait() -> None:
        async with db.session() as session:
            session.add_all(items(2))
            await session.flush()

    holder = asyncio.create_task(hold())
    while db.status().checked_out < 1:
        await asyncio.sleep(0.01)
    waiter = asyncio.create_task(wait())
    while db.status().waiters < 1:
        await asyncio.sleep(0.01)
    waiter.cancel()
    if twice:
        await asyncio.sleep(0)  # the first cancellation is being handled
        waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert db.status().waiters == 0
    release.set()
    await holder
    assert await counts(db) == {1: 3}
    await assert_released(db, observer)


async def test_cancel_as_the_pooled_connection_is_handed_over(
    make_db: MakeDatabase, observer: Database | None
) -> None:
    # The waiter is cancelled in the loop iteration in which the holder
    # returns the connection, just before the waiter wakes up to take it:
    # whoever ends up with it, the connection must not vanish with the
    # cancelled waiter.
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=30)
    await db.create_all(Base.metadata)
    release = asyncio.Event()
    waiter: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()

    def on_checkin(*args: Any) -> None:
        if waiter is not None and release.is_set():
            loop.call_soon(waiter.cancel)  # runs before the waiter's wake-up

    event.listen(db.engine.sync_engine, "checkin", on_checkin)

    async def hold() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await release.wait()

    async def wait() -> None:
        async with db.session() as session:
            session.add_all(items(2))

    holder = asyncio.create_task(hold())
    while db.status().checked_out < 1:
        await asyncio.sleep(0.01)
    waiter = asyncio.create_task(wait())
    while db.status().waiters < 1:
        await asyncio.sleep(0.01)
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    waiter = None
    assert await counts(db) == {}
    await assert_released(db, observer)


# --- SQLite in memory: a pool of one, kept alive by an anchor connection ----------------------


@TWICE
@pytest.mark.backends("sqlite")
async def test_in_memory_database_survives_invalidation(make_db: MakeDatabase, twice: bool) -> None:
    db = make_db(url="sqlite+aiosqlite://")
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add_all(items(1))
    statement = slow_query(db, 1.0)
    cleaning = slow_cleanup(db) if twice else None

    async def unit() -> None:
        async with db.session() as session:
            session.add_all(items(2))
            await session.flush()
            await session.execute(statement)

    task = asyncio.create_task(unit())
    await asyncio.sleep(0.2)
    await cancel(task, again=cleaning)
    # The pool's one connection was invalidated; the database lived on.
    assert await counts(db) == {1: 3}
    await assert_released(db, None)


# --- the storm -----------------------------------------------------------------------------


async def storm(db: Database, *, tasks: int = 200, seed: int = 1234) -> Counter[str]:
    """Run ``tasks`` units of work and cancel half of them at random points.

    Each cancelled unit is cancelled a random 0-3 ms after it enters a phase
    picked for it (waiting for a connection, a query, the flush, idle, the
    commit), and a third of them again shortly after, while the first
    cancellation is being handled. Tied to phases rather than to the clock,
    the cancellations land inside the units however fast the machine runs
    them. Checks the outcome and returns where the cancellations landed, so
    that the caller can check that the storm cut database calls short.
    """
    rng = random.Random(seed)
    statement = slow_query(db, 0.01)
    phase: dict[int, str] = {}
    loop = asyncio.get_running_loop()
    landed: Counter[str] = Counter()
    accepted: set[int] = set()

    def cancel_unit(number: int, task: asyncio.Task[None]) -> None:
        if task.cancel():
            accepted.add(number)
            landed[phase.get(number, "not started")] += 1

    plans = {
        n: (rng.random() < 0.3, random.Random(rng.random())) for n in range(tasks)
    }  # (runs the slow query, its own random numbers)
    targets: dict[int, str] = {}
    for number in rng.sample(range(tasks), tasks // 2):
        queries = plans[number][0]
        targets[number] = rng.choice(
            ["waiting", "query", "flush", "idle", "commit"]
            if queries
            else ["waiting", "flush", "idle", "commit"]
        )

    def enter(number: int, name: str) -> None:
        phase[number] = name
        if targets.get(number) != name:
            return
        task = asyncio.current_task()
        assert task is not None
        plan = plans[number][1]
        delay = plan.uniform(0, 0.003)
        loop.call_later(delay, cancel_unit, number, task)
        if plan.random() < 0.3:  # and again, while the first one is being handled
            loop.call_later(delay + plan.uniform(0, 0.02), cancel_unit, number, task)

    async def unit(number: int) -> None:
        queries, plan = plans[number]
        enter(number, "waiting")
        async with db.session() as session:
            session.add_all(items(number))
            if queries:
                enter(number, "query")
                await session.execute(statement)
            enter(number, "flush")
            await session.flush()
            enter(number, "idle")
            await asyncio.sleep(plan.uniform(0, 0.005))
            enter(number, "commit")
        phase[number] = "done"

    running = {n: asyncio.create_task(unit(n)) for n in range(tasks)}

    async with asyncio.timeout(60):
        await asyncio.wait(running.values())
    await asyncio.sleep(0.05)  # let the last scheduled cancellations run (no-ops)

    errors = {n: t.exception() for n, t in running.items() if not t.cancelled() and t.exception()}
    assert not errors, f"tasks failed with errors other than their cancellation: {errors}"
    swallowed = sorted(n for n in accepted if not running[n].cancelled())
    assert not swallowed, f"tasks {swallowed} swallowed their cancellation"
    completed = {n for n, t in running.items() if not t.cancelled()}
    assert len(completed) >= tasks // 2
    assert len(accepted) >= tasks // 4, f"only {len(accepted)} cancellations landed"

    rows = await counts(db)
    partial = {n: c for n, c in rows.items() if c not in (0, 3)}
    assert not partial, f"partial commits (task: rows): {partial}"
    missing = sorted(n for n in completed if rows[n] != 3)
    assert not missing, f"tasks {missing} completed but their rows are missing"
    return landed


async def test_cancellation_storm(make_db: MakeDatabase, observer: Database | None) -> None:
    db = make_db(pool_size=5, max_overflow=0, pool_timeout=30)
    await db.create_all(Base.metadata)
    landed = await storm(db)
    # The storm must cut database calls short (the first one includes the
    # wait for a pooled connection), not only tasks that were idle.
    assert landed["query"] + landed["flush"] + landed["commit"] >= 10, landed
    await assert_released(db, observer)


@pytest.mark.backends("sqlite")
async def test_cancellation_storm_in_memory(make_db: MakeDatabase) -> None:
    db = make_db(url="sqlite+aiosqlite://")
    await db.create_all(Base.metadata)
    await storm(db)
    await assert_released(db, None)


# --- MariaDB/MySQL: the server stops a statement whose caller gave up ----------------------------

_RUNNING = (
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
    "WHERE ID <> CONNECTION_ID() AND INFO LIKE CONCAT('%', :marker, '%')"
)


async def running_statements(observer: Database, marker: str) -> int:
    async with observer.read_session() as session:
        return int(await session.scalar(text(_RUNNING), {"marker": marker}) or 0)


async def wait_until(condition: Callable[[], Any], *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.backends("mysql")
async def test_a_cancelled_statement_is_stopped_on_the_server(make_db: MakeDatabase) -> None:
    # Closing the connection alone leaves SLEEP(30) running on the server until
    # max_statement_time (command_timeout + 1 s: 61 s by default): asqla sends
    # KILL QUERY for it. (A statement past the command timeout gets the same,
    # but the server's own limit follows 1 s later anyway: no test can tell.)
    db = make_db()
    observer = make_db()
    marker = f"asqla_kill_{random.randrange(10**9)}"

    async def unit() -> None:
        async with db.session() as session:
            await session.execute(text(f"SELECT SLEEP(30) AS {marker}"))

    task = asyncio.create_task(unit())
    assert await wait_until(lambda: running_statements(observer, marker), seconds=5)
    await cancel(task)

    async def stopped() -> bool:
        return await running_statements(observer, marker) == 0

    assert await wait_until(stopped, seconds=10), "the statement still runs on the server"
    assert db.status().checked_out == 0
