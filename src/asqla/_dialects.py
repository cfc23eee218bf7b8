"""Per-dialect tuning: driver connect arguments and on-connect session setup."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from sqlalchemy import PrimaryKeyConstraint, event
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.sql.compiler import DDLCompiler

from .presets import EnginePreset
from .settings import DatabaseSettings

logger = logging.getLogger("asqla.engine")

# Execution option read by the SQLite "begin" hook: ReadSession sets it to
# "DEFERRED" so that reads do not take the write lock.
SQLITE_BEGIN_OPTION = "asqla_sqlite_begin"

# Strict mode as MySQL 8 and MariaDB 10.x both accept (NO_AUTO_CREATE_USER was
# removed in MySQL 8.0): bad values are errors, not silent truncation.
_MYSQL_SQL_MODE = (
    "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
    "NO_ENGINE_SUBSTITUTION"
)
# SQLite calls the progress handler every this many virtual machine
# instructions: well under a millisecond of work, and cheap next to it.
_SQLITE_PROGRESS_STEPS = 100_000
# Key in the pool record's info dict under which a SQLite connection keeps its
# statement deadline.
_SQLITE_DEADLINE = "asqla_sqlite_deadline"
# Recycle a pooled MySQL connection this many seconds before the server's
# wait_timeout would drop it, so that pool_pre_ping rarely has to.
_WAIT_TIMEOUT_MARGIN = 60
# Seconds after the client's command timeout at which MySQL/MariaDB itself
# stops an abandoned statement (see _mysql_statement_limit).
_SERVER_BACKSTOP_MARGIN = 1.0


def connect_args(url: URL, settings: DatabaseSettings, preset: EnginePreset) -> dict[str, Any]:
    """Return the driver's connect arguments for ``url``."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver == "asyncpg":
        server_settings = {"application_name": settings.application_name}
        if settings.statement_timeout is not None:
            server_settings["statement_timeout"] = _ms(settings.statement_timeout)
        if settings.idle_in_transaction_timeout is not None:
            server_settings["idle_in_transaction_session_timeout"] = _ms(
                settings.idle_in_transaction_timeout
            )
        args: dict[str, Any] = {
            "timeout": preset.connect_timeout,
            "command_timeout": preset.command_timeout,
            "server_settings": server_settings,
        }
        if not preset.prepared_statement_cache:
            # PgBouncer in transaction mode: see SQLAlchemy's asyncpg docs,
            # "Prepared Statement Name with PGBouncer".
            args.update(
                statement_cache_size=0,
                prepared_statement_cache_size=0,
                prepared_statement_name_func=_unique_statement_name,
            )
        return args
    if backend == "postgresql":  # psycopg 3
        options = []
        if settings.statement_timeout is not None:
            options.append(f"-c statement_timeout={_ms(settings.statement_timeout)}")
        if settings.idle_in_transaction_timeout is not None:
            ms = _ms(settings.idle_in_transaction_timeout)
            options.append(f"-c idle_in_transaction_session_timeout={ms}")
        args = {
            "connect_timeout": max(1, round(preset.connect_timeout)),
            "application_name": settings.application_name,
        }
        if options:
            args["options"] = " ".join(options)
        if not preset.prepared_statement_cache:
            args["prepare_threshold"] = None
        return args
    if backend in ("mysql", "mariadb"):
        return {"connect_timeout": max(1, round(preset.connect_timeout)), "charset": "utf8mb4"}
    if backend == "sqlite":
        return {"timeout": settings.sqlite_busy_timeout}
    return {}  # pragma: no cover - parse_database_url admits no other backend


def install(
    engine: Engine, settings: DatabaseSettings, preset: EnginePreset, *, memory: bool
) -> None:
    """Attach the on-connect hooks for ``engine``'s dialect."""
    backend = engine.dialect.name
    if backend == "sqlite":
        _install_sqlite(engine, settings, memory=memory)
        if preset.command_timeout is not None:
            _install_sqlite_deadline(engine, preset.command_timeout)
    elif backend in ("mysql", "mariadb"):
        _install_mysql(engine, settings, preset)


def _install_sqlite(engine: Engine, settings: DatabaseSettings, *, memory: bool) -> None:
    busy_ms = int(settings.sqlite_busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when a transaction
        # begins: pysqlite's implicit BEGIN breaks SAVEPOINT and BEGIN IMMEDIATE
        # (SQLAlchemy docs, "Serializable isolation / Savepoints").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(
        dbapi_connection: Any, record: ConnectionPoolEntry, exception: BaseException | None
    ) -> None:
        # An invalidated connection (after a timeout or a cancellation) may
        # still be running the cut-off statement in aiosqlite's thread, which
        # no cancellation reaches: interrupt it, as nothing will read its result
        # (sqlite3_interrupt is the one call safe from another thread).
        # Then roll back before SQLAlchemy closes the connection. Closing alone
        # does not end its transaction while a cursor of that statement is
        # still referenced, e.g. from the traceback being raised:
        # sqlite3_close_v2() leaves a "zombie" connection that keeps its write
        # lock until that cursor is garbage collected, and every other writer
        # gets "database is locked" meanwhile
        # (https://www.sqlite.org/c3ref/interrupt.html, .../c3ref/close.html).
        try:
            dbapi_connection.run_async(lambda driver: driver.interrupt())
            dbapi_connection.rollback()
        except Exception:  # the connection is being discarded anyway
            logger.debug("asqla: rollback of an invalidated SQLite connection failed")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock up front: a DEFERRED transaction that
        # later tries to write cannot wait for the lock (SQLITE_BUSY at once,
        # "database is locked"), while BEGIN IMMEDIATE waits up to busy_timeout.
        # ReadSession sets the mode to None: no transaction at all, so each
        # read runs on its own (the driver is in autocommit, see above).
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        if mode is not None:
            connection.exec_driver_sql(f"BEGIN {mode}")


class _Deadline:
    """When the running SQLite statement must stop; read from the driver's thread."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def passed(self) -> bool:
        at = self.at
        return at is not None and time.monotonic() > at


def _install_sqlite_deadline(engine: Engine, timeout: float) -> None:
    # aiosqlite runs each statement in its own thread, where cancelling the
    # awaiting task cannot reach it: the statement runs on to the end, holding
    # the connection (and a write transaction's lock), and closing the
    # connection waits behind it. SQLite's progress handler is the driver-level
    # timeout that asyncpg's command_timeout is for PostgreSQL: returning True
    # from it makes the statement fail with SQLITE_INTERRUPT ("interrupted"),
    # see https://www.sqlite.org/c3ref/progress_handler.html.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        deadline = _Deadline()
        record.info[_SQLITE_DEADLINE] = deadline
        dbapi_connection.run_async(
            lambda driver: driver.set_progress_handler(deadline.passed, _SQLITE_PROGRESS_STEPS)
        )

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        deadline = connection.info.get(_SQLITE_DEADLINE)
        if deadline is not None:
            deadline.at = time.monotonic() + timeout

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        deadline = connection.info.get(_SQLITE_DEADLINE)
        if deadline is not None:
            deadline.at = None

    @event.listens_for(engine, "handle_error")
    def _disarm_on_error(context: ExceptionContext) -> None:
        # The statement failed in the driver's thread: disarm, or the deadline
        # would interrupt the ROLLBACK that follows. A cancelled await
        # (CancelledError, not an Exception) leaves the statement running in
        # that thread: keep it armed so that it is interrupted.
        if context.connection is None or not isinstance(context.original_exception, Exception):
            return
        deadline = context.connection.info.get(_SQLITE_DEADLINE)
        if deadline is not None:
            deadline.at = None


def _install_mysql(engine: Engine, settings: DatabaseSettings, preset: EnginePreset) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}'")
            cursor.execute("SET SESSION time_zone = '+00:00'")
            cursor.execute("SELECT VERSION(), @@session.wait_timeout")
            version, wait_timeout = cursor.fetchone()
            mariadb = "mariadb" in str(version).lower()
            # MariaDB's limit covers every statement, in seconds; MySQL's only
            # read-only SELECTs, in milliseconds.
            variable = "max_statement_time" if mariadb else "max_execution_time"
            cursor.execute(f"SELECT @@session.{variable}")
            (current,) = cursor.fetchone()
            current_s = float(current) if mariadb else float(current) / 1000
            limit = _mysql_statement_limit(settings, preset, current_s)
            if limit is not None:
                value = f"{limit:g}" if mariadb else _ms(limit)
                cursor.execute(f"SET SESSION {variable} = {value}")
        finally:
            cursor.close()
        _fit_recycle_to_wait_timeout(engine, preset, int(wait_timeout))

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(
        dbapi_connection: Any, record: ConnectionPoolEntry, exception: BaseException | None
    ) -> None:
        # Invalidated without a driver error: a cancellation or the command
        # timeout cut a call short. Closing the connection does not stop its
        # statement: MariaDB and MySQL notice a client gone only when they
        # next write to it, so a long statement would run on, holding its
        # locks, until max_statement_time. Stop it from another connection.
        # A driver error (the server gone) needs no such thing, and could
        # only make the invalidation wait for a connect timeout.
        if exception is not None and not isinstance(exception, _CUT_SHORT):
            return
        _kill_query(engine, dbapi_connection)


def _mysql_statement_limit(
    settings: DatabaseSettings, preset: EnginePreset, server_limit: float
) -> float | None:
    """Return the server-side statement limit to set, in seconds, or None to keep the server's.

    The command timeout gets a server-side backstop: asyncmy cannot cancel a
    running statement, so a statement abandoned on the client at
    ``command_timeout`` would run on in the server to its end, holding its
    locks. A cut-off call is stopped with ``KILL QUERY`` when its connection is
    invalidated (`_kill_query()`); the backstop covers the cases where that
    cannot be sent. It fires a little after the client's timeout, so that the
    client's QueryTimeoutError comes first. ``statement_timeout``, when set,
    wins if it is shorter; the backstop alone never loosens a limit the server
    already has (0 means none).
    """
    backstop = None
    if preset.command_timeout is not None:
        backstop = preset.command_timeout + _SERVER_BACKSTOP_MARGIN
    if settings.statement_timeout is not None:
        return min(settings.statement_timeout, backstop or settings.statement_timeout)
    if backstop is None or 0 < server_limit <= backstop:
        return None
    return backstop


def _fit_recycle_to_wait_timeout(engine: Engine, preset: EnginePreset, wait_timeout: int) -> None:
    pool = engine.pool
    if isinstance(pool, NullPool):  # nothing is kept open, so nothing to recycle
        return
    recycle = getattr(pool, "_recycle", -1)
    # A margin of a minute, or half of a short wait_timeout.
    limit = max(1, wait_timeout - min(_WAIT_TIMEOUT_MARGIN, wait_timeout // 2))
    if recycle < 0 or recycle > limit:
        # SQLAlchemy reads the recycle time from the pool on every checkout;
        # there is no public setter once the engine exists.
        pool._recycle = limit
        logger.info(
            "asqla: server wait_timeout is %ss; pool_recycle lowered from %s to %ss",
            wait_timeout,
            preset.pool_recycle,
            limit,
        )


@compiles(PrimaryKeyConstraint, "mysql", "mariadb")
def _unnamed_primary_key(constraint: PrimaryKeyConstraint, compiler: DDLCompiler, **kw: Any) -> str:
    """``PRIMARY KEY (...)`` without ``CONSTRAINT <name>`` on MySQL and MariaDB.

    Their primary key is always named PRIMARY. MariaDB answers a named one
    (``pk_<table>``, from the naming convention) with Note 1280 "Name
    'pk_note' ignored for PRIMARY key", which asyncmy logs as a warning for
    every table created. Leaving the name out changes nothing in the schema.
    """
    text = compiler.visit_primary_key_constraint(constraint, **kw)
    if constraint.name is None:
        return text
    name = compiler.preparer.format_constraint(constraint)
    return text.removeprefix(f"CONSTRAINT {name} ") if name is not None else text


_CUT_SHORT = (asyncio.CancelledError, TimeoutError)
# Seconds to connect for the KILL QUERY of a cut-off statement: the server
# answered a moment ago, so more means it is gone and the kill can be dropped.
_KILL_CONNECT_TIMEOUT = 2


def _kill_query(engine: Engine, dbapi_connection: Any) -> None:
    """``KILL QUERY`` the statement ``dbapi_connection`` may still be running.

    Runs in the greenlet of the SQLAlchemy call that invalidates the
    connection (the session's close after a cancellation); anywhere else, as
    when the garbage collector finalizes a connection, it cannot await and
    gives up, and ``max_statement_time`` remains the backstop.
    """
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    try:
        thread_id = int(driver.thread_id())
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams["connect_timeout"] = _KILL_CONNECT_TIMEOUT
        killer = engine.dialect.connect(*cargs, **cparams)
        try:
            cursor = killer.cursor()
            cursor.execute(f"KILL QUERY {thread_id}")
            cursor.close()
        finally:
            killer.close()
    except Exception as exc:  # the statement ends at max_statement_time instead
        logger.debug("asqla: could not stop the statement of a cut-off connection: %r", exc)


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def _unique_statement_name() -> str:
    return f"__asqla_{uuid.uuid4()}__"
