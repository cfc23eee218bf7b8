"""Per-dialect tuning: driver connect arguments and on-connect session setup."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

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
# Recycle a pooled MySQL connection this many seconds before the server's
# wait_timeout would drop it, so that pool_pre_ping rarely has to.
_WAIT_TIMEOUT_MARGIN = 60


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


def _install_mysql(engine: Engine, settings: DatabaseSettings, preset: EnginePreset) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}'")
            cursor.execute("SET SESSION time_zone = '+00:00'")
            cursor.execute("SELECT VERSION(), @@session.wait_timeout")
            version, wait_timeout = cursor.fetchone()
            if settings.statement_timeout is not None:
                if "mariadb" in str(version).lower():
                    cursor.execute(f"SET SESSION max_statement_time = {settings.statement_timeout}")
                else:  # MySQL: SELECT statements only, in milliseconds
                    ms = _ms(settings.statement_timeout)
                    cursor.execute(f"SET SESSION max_execution_time = {ms}")
        finally:
            cursor.close()
        _fit_recycle_to_wait_timeout(engine, preset, int(wait_timeout))


def _fit_recycle_to_wait_timeout(engine: Engine, preset: EnginePreset, wait_timeout: int) -> None:
    pool = engine.pool
    recycle = getattr(pool, "_recycle", -1)
    limit = max(1, wait_timeout - _WAIT_TIMEOUT_MARGIN)
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


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def _unique_statement_name() -> str:
    return f"__asqla_{uuid.uuid4()}__"
