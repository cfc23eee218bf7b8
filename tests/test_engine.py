"""create_engine on real servers: pool presets and per-dialect tuning."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from asqla import (
    Database,
    DatabaseSettings,
    DatabaseUnavailableError,
    QueryTimeoutError,
    _dialects,
    create_engine,
)
from asqla._dialects import _fit_recycle_to_wait_timeout

MakeDatabase = Callable[..., Database]

# A statement that runs far longer than any timeout below, per backend. The
# SQLite one counts to 300 million: a minute here, and several seconds on any
# machine, so "returned before it would have finished" stays a real claim.
LONG_STATEMENT = {
    "postgresql": "SELECT pg_sleep(5)",
    "mysql": "SELECT SLEEP(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 300000000) SELECT max(x) FROM c",
}


async def scalar(db: Database, sql: str) -> Any:
    async with db.session() as session:
        return (await session.execute(text(sql))).scalar_one()


@pytest.fixture
async def observer(make_db: MakeDatabase) -> AsyncIterator[AsyncConnection]:
    """One connection to the test database, to look at the others from the server's side."""
    db = make_db(preset="serverless")
    async with db.engine.connect() as connection:
        yield connection


async def other_connections(observer: AsyncConnection) -> list[tuple[Any, ...]]:
    """The server's view of every other connection to the test database: (id, state)."""
    if observer.dialect.name == "postgresql":
        sql = (
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    else:
        sql = (
            "SELECT ID, COMMAND FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
        )
    rows = (await observer.exec_driver_sql(sql)).all()
    await observer.rollback()  # no snapshot held between two looks
    return [tuple(row) for row in rows]


async def wait_for(
    observer: AsyncConnection,
    done: Callable[[list[tuple[Any, ...]]], bool],
    *,
    within: float,
) -> list[tuple[Any, ...]]:
    """Poll the server's view until ``done`` holds or ``within`` seconds pass; return the view."""
    deadline = time.monotonic() + within
    while True:
        rows = await other_connections(observer)
        if done(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


# -- presets -----------------------------------------------------------------

# The numbers documented in asqla/presets.py, written out rather than read
# from PRESETS, so that a changed preset fails here.
POOLED = {
    # preset: (pool_size, max_overflow, pool_timeout, pool_recycle, pre_ping)
    "web": (10, 10, 10.0, 1800.0, True),
    "worker": (5, 0, 60.0, 1800.0, True),
    "pgbouncer": (5, 5, 10.0, 600.0, True),
}


@pytest.mark.parametrize("preset", sorted(POOLED))
async def test_pooled_presets_build_the_documented_pool(
    backend: str, database_url: str, preset: str
) -> None:
    engine = create_engine(DatabaseSettings(url=database_url, preset=preset))  # type: ignore[arg-type]
    try:
        pool: Any = engine.pool
        assert type(pool) is AsyncAdaptedQueuePool
        size, overflow, timeout, recycle, pre_ping = POOLED[preset]
        assert pool.size() == size
        assert pool._max_overflow == overflow
        assert pool.timeout() == timeout
        assert pool._recycle == recycle
        # SQLite has no server to drop a connection: no ping, unless asked for.
        assert pool._pre_ping is (pre_ping and backend != "sqlite")
    finally:
        await engine.dispose()


async def test_sqlite_pings_only_when_asked_to(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    asked = create_engine(DatabaseSettings(url=url, pool_pre_ping=True))
    default = create_engine(DatabaseSettings(url=url))
    try:
        assert cast(Any, asked.pool)._pre_ping is True
        assert cast(Any, default.pool)._pre_ping is False
    finally:
        await asked.dispose()
        await default.dispose()


async def test_serverless_preset_has_no_pool(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url, preset="serverless"))
    try:
        assert type(engine.pool) is NullPool
    finally:
        await engine.dispose()


async def test_settings_override_the_preset_pool(make_db: MakeDatabase) -> None:
    db = make_db(preset="worker", pool_size=3, pool_timeout=1.5, pool_recycle=100)
    pool: Any = db.engine.pool
    assert (pool.size(), pool._max_overflow, pool.timeout(), pool._recycle) == (3, 0, 1.5, 100)
    assert await scalar(db, "SELECT 1") == 1


@pytest.mark.backends("postgresql", "mysql")
async def test_serverless_leaves_no_connection_open(
    make_db: MakeDatabase, observer: AsyncConnection
) -> None:
    db = make_db(preset="serverless")
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        assert len(await other_connections(observer)) == 1  # the session's, seen by the server
    rows = await wait_for(observer, lambda rows: not rows, within=2)
    assert rows == []
    assert db.status().checked_out == 0


@pytest.mark.backends("postgresql", "mysql")
async def test_pooled_preset_keeps_its_connection_open(
    make_db: MakeDatabase, observer: AsyncConnection
) -> None:
    # The control for the test above: the same check does see a pooled connection.
    db = make_db(preset="web")
    await scalar(db, "SELECT 1")
    assert len(await other_connections(observer)) == 1


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize(
    ("preset", "survivors"),
    [
        pytest.param("web", True, id="web-caches"),
        pytest.param("pgbouncer", False, id="pgbouncer-does-not"),
    ],
)
async def test_pgbouncer_preset_keeps_no_prepared_statement(
    make_db: MakeDatabase, preset: str, survivors: bool
) -> None:
    """PgBouncer in transaction mode may hand the next transaction to another
    server connection, where a cached prepared statement does not exist."""
    db = make_db(preset=preset)
    async with db.session() as session:
        for n in range(3):
            await session.execute(text("SELECT CAST(:n AS int) + 1"), {"n": n})
            await session.execute(text("SELECT 1 WHERE 1 = :n"), {"n": n})
        # The statement reading the view is itself prepared while it runs.
        names = (
            (
                await session.execute(
                    text(
                        "SELECT name FROM pg_prepared_statements "
                        "WHERE statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert bool(names) is survivors, names


# -- SQLite ------------------------------------------------------------------


@pytest.mark.backends("sqlite")
async def test_sqlite_file_is_tuned_on_connect(make_db: MakeDatabase) -> None:
    db = make_db(sqlite_busy_timeout=2.5)
    async with db.session() as session:
        pragma = {
            name: (await session.execute(text(f"PRAGMA {name}"))).scalar_one()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 2500,
        "foreign_keys": 1,
        "synchronous": 1,
    }  # 1 = NORMAL


async def _counter(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await session.execute(text("INSERT INTO counter VALUES (1, 0)"))


async def _increment(db: Database, *, bind: Any = None) -> None:
    session_factory = db.session() if bind is None else db.sessionmaker(bind=bind)
    async with session_factory as session:
        n = (await session.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
        await asyncio.sleep(0.05)  # every other writer reads in the meantime
        await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
        await session.commit()


@pytest.mark.backends("sqlite")
async def test_sqlite_concurrent_writers_wait_for_each_other(make_db: MakeDatabase) -> None:
    """Ten read-modify-write transactions at once all succeed, one after the other.

    asqla begins every write session with ``BEGIN IMMEDIATE``, which takes the
    write lock before the first read: the others wait for it (up to
    ``busy_timeout``), and each reads the value the previous one wrote.

    Without it, as plain SQLAlchemy and sqlite3 do, the transaction begins
    DEFERRED: all ten read ``n = 0`` under a shared snapshot, the first writer
    commits, and every other one fails at once, without waiting::

        sqlite3.OperationalError: database is locked

    (SQLITE_BUSY_SNAPSHOT: a snapshot cannot be upgraded to a write once
    another writer has committed after it; see
    test_sqlite_deferred_writers_fail_without_begin_immediate below.)
    """
    db = make_db()
    await _counter(db)
    await asyncio.gather(*(_increment(db) for _ in range(10)))
    assert await scalar(db, "SELECT n FROM counter WHERE id = 1") == 10


@pytest.mark.backends("sqlite")
async def test_sqlite_deferred_writers_fail_without_begin_immediate(
    make_db: MakeDatabase,
) -> None:
    # The control for the test above: the same work in DEFERRED transactions.
    db = make_db()
    await _counter(db)
    deferred = db.engine.execution_options(**{_dialects.SQLITE_BEGIN_OPTION: "DEFERRED"})
    results = await asyncio.gather(
        *(_increment(db, bind=deferred) for _ in range(10)), return_exceptions=True
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    assert failures
    for failure in failures:
        assert isinstance(failure, DatabaseUnavailableError)
        assert "database is locked" in str(failure)
    assert await scalar(db, "SELECT n FROM counter WHERE id = 1") == 10 - len(failures)


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://"])
async def test_sqlite_memory_database_is_shared_by_sessions(
    make_db: MakeDatabase, url: str
) -> None:
    db = make_db(url=url)
    assert db.settings.display_url == "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    async with db.session() as session:
        await session.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
    async with db.session() as session:
        await session.execute(text("INSERT INTO note (body) VALUES ('kept')"))
    async with db.read_session() as session:
        assert (await session.execute(text("SELECT body FROM note"))).scalars().all() == ["kept"]
    # Foreign keys are on in memory too.
    assert await scalar(db, "PRAGMA foreign_keys") == 1


@pytest.mark.backends("sqlite")
async def test_sqlite_memory_databases_are_separate(make_db: MakeDatabase) -> None:
    first, second = make_db(url="sqlite:///:memory:"), make_db(url="sqlite:///:memory:")
    async with first.session() as session:
        await session.execute(text("CREATE TABLE only_in_first (id INTEGER PRIMARY KEY)"))
    sql = "SELECT count(*) FROM sqlite_master WHERE name = 'only_in_first'"
    assert (await scalar(first, sql), await scalar(second, sql)) == (1, 0)


@pytest.mark.backends("sqlite")
async def test_sqlite_memory_sequential_sessions_do_not_deadlock(make_db: MakeDatabase) -> None:
    db = make_db(url="sqlite:///:memory:", pool_timeout=2)
    async with db.session() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    # Every way a session can end hands the one connection back to the next.
    async with asyncio.timeout(20):
        for n in range(10):
            async with db.session() as session:
                await session.execute(text("INSERT INTO t (id) VALUES (:n)"), {"n": n})
            with pytest.raises(RuntimeError, match="rolled back"):
                async with db.session() as session:
                    await session.execute(text("INSERT INTO t (id) VALUES (:n)"), {"n": 100 + n})
                    raise RuntimeError("rolled back")
            async with db.read_session() as session:
                await session.execute(text("SELECT count(*) FROM t"))
            async with db.read_session(snapshot=True) as session:
                await session.execute(text("SELECT count(*) FROM t"))
    assert await scalar(db, "SELECT count(*) FROM t") == 10
    assert db.status().checked_out == 0


@pytest.mark.backends("sqlite")
async def test_sqlite_memory_database_survives_its_pooled_connections(
    make_db: MakeDatabase,
) -> None:
    db = make_db(url="sqlite:///:memory:")
    async with db.session() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    # The pooled connection is closed; the table survives while the engine lives.
    await db.engine.dispose()
    assert await scalar(db, "SELECT count(*) FROM t") == 0


# -- MySQL / MariaDB ---------------------------------------------------------


@pytest.mark.backends("mysql")
async def test_mysql_session_is_strict_utf8mb4_and_utc(make_db: MakeDatabase) -> None:
    db = make_db()
    async with db.session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT @@session.sql_mode, @@session.character_set_connection, "
                    "@@session.character_set_client, @@session.character_set_results, "
                    "@@session.time_zone"
                )
            )
        ).one()
    sql_mode, connection_charset, client_charset, results_charset, time_zone = row
    assert "STRICT_ALL_TABLES" in sql_mode.split(",")
    assert (connection_charset, client_charset, results_charset) == ("utf8mb4",) * 3
    assert time_zone == "+00:00"


@pytest.mark.backends("mysql")
async def test_mysql_four_byte_characters_round_trip(make_db: MakeDatabase) -> None:
    db = make_db()
    text_in = "snake 🐍 and 𝄞"
    async with db.session() as session:
        await session.execute(text("CREATE TABLE note (id INT PRIMARY KEY, body VARCHAR(40))"))
        await session.execute(text("INSERT INTO note VALUES (1, :body)"), {"body": text_in})
    async with db.session() as session:
        body = (await session.execute(text("SELECT body FROM note"))).scalar_one()
        length = (await session.execute(text("SELECT CHAR_LENGTH(body) FROM note"))).scalar_one()
    assert body == text_in
    assert length == len(text_in)


@pytest.mark.backends("mysql")
async def test_mysql_strict_mode_rejects_instead_of_truncating(make_db: MakeDatabase) -> None:
    db = make_db()
    async with db.session() as session:
        await session.execute(text("CREATE TABLE note (id INT PRIMARY KEY, body VARCHAR(3))"))
    with pytest.raises(Exception, match="Data too long for column 'body'"):
        async with db.session() as session:
            await session.execute(text("INSERT INTO note VALUES (1, 'toolong')"))
    assert await scalar(db, "SELECT count(*) FROM note") == 0


@pytest.mark.backends("mysql")
async def test_mysql_pool_recycle_is_lowered_below_wait_timeout(make_db: MakeDatabase) -> None:
    db = make_db(pool_recycle=10**7)
    assert db.engine.pool._recycle == 10**7  # type: ignore[attr-defined]
    wait_timeout = await scalar(db, "SELECT @@session.wait_timeout")
    recycle = db.engine.pool._recycle  # type: ignore[attr-defined]
    assert 0 < recycle <= wait_timeout - min(60, wait_timeout // 2)


@pytest.mark.backends("mysql")
async def test_mysql_shorter_pool_recycle_is_kept(make_db: MakeDatabase) -> None:
    db = make_db(pool_recycle=100)
    await scalar(db, "SELECT 1")
    assert db.engine.pool._recycle == 100  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("wait_timeout", "recycle", "expected"),
    [
        pytest.param(28800, 10**7, 28740, id="default-server-huge-recycle"),
        pytest.param(28800, 1800, 1800, id="shorter-recycle-kept"),
        pytest.param(28800, -1, 28740, id="no-recycle-gets-one"),
        pytest.param(300, 1800, 240, id="short-wait-timeout"),
        pytest.param(30, 1800, 15, id="very-short-wait-timeout"),
        pytest.param(1, 1800, 1, id="one-second"),
    ],
)
@pytest.mark.backends("sqlite")  # pure pool arithmetic; one run is enough
async def test_fit_recycle_to_wait_timeout(
    database_url: str, wait_timeout: int, recycle: int, expected: int
) -> None:
    settings = DatabaseSettings(url=database_url, pool_recycle=recycle)
    engine = create_engine(settings)
    try:
        _fit_recycle_to_wait_timeout(engine.sync_engine, settings.engine_preset, wait_timeout)
        assert engine.pool._recycle == expected  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


# -- PostgreSQL --------------------------------------------------------------


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("preset", ["web", "pgbouncer"])
async def test_postgresql_session_settings_reach_the_server(
    make_db: MakeDatabase, preset: str
) -> None:
    db = make_db(
        preset=preset,
        application_name="billing-api",
        statement_timeout=1.5,
        idle_in_transaction_timeout=30,
    )
    async with db.session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_setting('application_name'), "
                    "current_setting('statement_timeout'), "
                    "current_setting('idle_in_transaction_session_timeout')"
                )
            )
        ).one()
    assert tuple(row) == ("billing-api", "1500ms", "30s")


@pytest.mark.backends("postgresql")
async def test_postgresql_defaults_leave_server_timeouts_alone(make_db: MakeDatabase) -> None:
    db = make_db()
    assert await scalar(db, "SELECT current_setting('application_name')") == "asqla"
    assert await scalar(db, "SHOW statement_timeout") == "0"


@pytest.mark.backends("postgresql")
async def test_postgresql_idle_in_transaction_timeout_ends_the_session(
    make_db: MakeDatabase,
) -> None:
    db = make_db(idle_in_transaction_timeout=0.2)
    with pytest.raises(DatabaseUnavailableError):
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(1)  # the server ends the idle transaction meanwhile
            await session.execute(text("SELECT 1"))
    assert db.status().checked_out == 0
    assert await scalar(db, "SELECT 1") == 1


# -- timeouts ----------------------------------------------------------------

SERVER_SLEEP = {"postgresql": "SELECT pg_sleep(5)", "mysql": "SELECT SLEEP(5)"}


@pytest.mark.backends("postgresql", "mysql")
async def test_statement_timeout_raises_query_timeout(make_db: MakeDatabase, backend: str) -> None:
    db = make_db(statement_timeout=0.5)
    started = time.monotonic()
    async with db.session() as session:
        with pytest.raises(QueryTimeoutError, match="ASQLA_STATEMENT_TIMEOUT") as info:
            await session.execute(text(SERVER_SLEEP[backend]))
        elapsed = time.monotonic() - started
        # The server stopped it, not the client: the cause is the database's error.
        assert "statement timeout" in str(info.value) or "max_statement_time" in str(info.value)
        # The session is usable again after a rollback.
        await session.rollback()
        assert (await session.execute(text("SELECT 2"))).scalar_one() == 2
    assert elapsed < 2.5  # returned well before the 5 s sleep would have
    assert db.status().checked_out == 0
    assert await scalar(db, "SELECT 3") == 3


@pytest.mark.parametrize("where", ["session", "engine"])
async def test_command_timeout_raises_query_timeout_and_frees_the_connection(
    make_db: MakeDatabase, backend: str, where: str
) -> None:
    """The session's own timeout, and the driver-level one under a bare engine."""
    db = make_db(command_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError, match="ASQLA_COMMAND_TIMEOUT"):
        if where == "session":
            async with db.session() as session:
                await session.execute(text(LONG_STATEMENT[backend]))
        else:
            from asqla._translate import translate

            try:
                async with db.engine.connect() as connection:
                    await connection.exec_driver_sql(LONG_STATEMENT[backend])
            except Exception as exc:
                raise translate(exc) from exc
    assert time.monotonic() - started < 2.5  # well before the statement would finish
    assert db.status().checked_out == 0
    assert await scalar(db, "SELECT 1") == 1


@pytest.mark.backends("sqlite")
async def test_sqlite_command_timeout_releases_the_write_lock(
    make_db: MakeDatabase, database_url: str
) -> None:
    """A timed-out write session must not keep the file's write lock.

    Closing the discarded connection is not enough while the cut-off cursor is
    still referenced (here by the traceback ``info`` keeps): SQLite keeps such
    a connection, and its transaction, alive until that cursor is collected.
    """
    db = make_db(command_timeout=0.5)
    with pytest.raises(QueryTimeoutError) as info:
        async with db.session() as session:  # BEGIN IMMEDIATE: it holds the write lock
            await session.execute(text(LONG_STATEMENT["sqlite"]))
    other = sqlite3.connect(make_url(database_url).database or "", timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" at once if still held
        other.rollback()
    finally:
        other.close()
    assert info.value.__traceback__ is not None  # the cursor was referenced all along


@pytest.mark.backends("sqlite")
async def test_sqlite_cancelled_statement_is_interrupted(
    make_db: MakeDatabase, database_url: str
) -> None:
    """Cancelling a task stops its statement, although aiosqlite runs it in a thread.

    With the default 60 s command timeout, nothing else would stop it: the
    cancelled task would wait for the statement to end before its connection
    is released, and the write lock would stay taken all that time.
    """
    db = make_db()
    started = asyncio.Event()

    async def long_write_session() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
            started.set()
            await session.execute(text(LONG_STATEMENT["sqlite"]))

    task = asyncio.create_task(long_write_session())
    await started.wait()
    await asyncio.sleep(0.2)  # the statement is running in aiosqlite's thread now
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 2.5  # not the minute the statement needs
    assert db.status().checked_out == 0
    other = sqlite3.connect(make_url(database_url).database or "", timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock is free again
        other.rollback()
    finally:
        other.close()
    assert await scalar(db, "SELECT 1") == 1


@pytest.mark.backends("sqlite")
async def test_sqlite_cancelled_statement_on_a_bare_engine_is_interrupted(
    database_url: str,
) -> None:
    # The same guarantee without Database: create_engine is public on its own.
    engine = create_engine(database_url)
    started = asyncio.Event()

    async def long_write() -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock
            started.set()
            await connection.exec_driver_sql(LONG_STATEMENT["sqlite"])

    try:
        task = asyncio.create_task(long_write())
        await started.wait()
        await asyncio.sleep(0.2)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - cancelled_at < 2.5  # not the minute the statement needs
        other = sqlite3.connect(make_url(database_url).database or "", timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock is free again
            other.rollback()
        finally:
            other.close()
    finally:
        await engine.dispose()


@pytest.mark.backends("postgresql", "mysql")
async def test_command_timeout_leaves_nothing_running_on_the_server(
    make_db: MakeDatabase, observer: AsyncConnection, backend: str
) -> None:
    db = make_db(command_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        async with db.session() as session:
            await session.execute(text(SERVER_SLEEP[backend]))

    def busy(row: tuple[Any, ...]) -> bool:
        # PostgreSQL: the state; MariaDB: the command ("Query" while running).
        return row[1] in ("active", "idle in transaction", "Query")

    rows = await wait_for(observer, lambda rows: not any(map(busy, rows)), within=2.5)
    assert not any(map(busy, rows)), rows
    # Seen before the 5 s sleep would have ended on its own.
    assert time.monotonic() - started < 4.5
    assert db.status().checked_out == 0


@pytest.mark.backends("mysql")
async def test_mysql_backstop_does_not_loosen_a_shorter_limit(make_db: MakeDatabase) -> None:
    # command_timeout 60 s would give a 61 s server backstop; 2 s is shorter and wins.
    db = make_db(statement_timeout=2)
    assert float(await scalar(db, "SELECT @@session.max_statement_time")) == 2.0
    db = make_db(command_timeout=10)
    assert float(await scalar(db, "SELECT @@session.max_statement_time")) == 11.0


# -- the password never leaves -----------------------------------------------

PASSWORD = "s3cret-pw"


@pytest.mark.backends("postgresql", "mysql")
async def test_password_is_not_logged_while_creating_and_using_an_engine(
    make_db: MakeDatabase, database_url: str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    if backend == "postgresql":
        # trust authentication: the server accepts the URL with any password
        url = make_url(database_url).set(password=PASSWORD).render_as_string(hide_password=False)
        db = make_db(url=url, echo=True)
        assert await scalar(db, "SELECT 1") == 1
    else:
        # root has no password here, so a URL with one cannot connect: only
        # building the engine and the failed connection attempt are logged.
        url = make_url(database_url).set(password=PASSWORD).render_as_string(hide_password=False)
        db = make_db(url=url, echo=True)
        with pytest.raises(Exception, match="Access denied") as info:
            await scalar(db, "SELECT 1")
        assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(db)
    assert PASSWORD not in repr(db.settings)
    assert PASSWORD not in repr(db.engine)
    assert PASSWORD not in str(db.status())
    messages = [record.getMessage() for record in caplog.records]
    assert any(":***@" in message for message in messages), messages  # the URL was logged
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in repr(record.args)
        assert PASSWORD not in (record.exc_text or "")
