"""``Database``: one object that owns the engine and hands out units of work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from . import _dialects, transactions
from ._session import AsyncSession, shielded
from ._translate import is_translatable, translate
from .engine import close_memory_database, create_engine
from .exceptions import AsqlaError, DatabaseUnavailableError
from .settings import DatabaseSettings

__all__ = ["Database", "DatabaseStatus"]

logger = logging.getLogger("asqla.database")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseStatus:
    """A snapshot of a database's connection pool, for health checks and logs.

    Attributes:
        dialect: SQLAlchemy's dialect name (``"postgresql"``, ``"mysql"``, ``"sqlite"``).
        driver: The driver (``"asyncpg"``, ``"asyncmy"``, ``"aiosqlite"``).
        server_version: The server's version, once a connection has been made.
        url: The URL with its password hidden.
        preset: The engine preset's name.
        pool_size: Connections the pool keeps open (0 without a pool).
        checked_out: Connections in use right now.
        overflow: Connections open beyond ``pool_size`` right now.
        waiters: Checkouts waiting for a free connection right now.
    """

    dialect: str
    driver: str
    server_version: str | None
    url: str
    preset: str
    pool_size: int
    checked_out: int
    overflow: int
    waiters: int


class Database:
    """The engine, its session factory and the units of work built on them.

    Args:
        settings: The settings, a database URL, or ``None`` to read
            `DatabaseSettings` from the environment (``DATABASE_URL``).

    Example:
        >>> db = Database("sqlite:///app.db")
        >>> async with db.session() as session:  # doctest: +SKIP
        ...     session.add(User(name="ada"))
        ... # committed here; rolled back instead if the block raised
    """

    def __init__(self, settings: DatabaseSettings | str | None = None) -> None:
        if settings is None:
            settings = DatabaseSettings()
        elif isinstance(settings, str):
            settings = DatabaseSettings(url=settings)
        self.settings = settings
        self.engine: AsyncEngine = create_engine(settings)
        if self.engine.dialect.driver == "aiosqlite":
            event.listen(self.engine.sync_engine, "handle_error", _reset_interrupted_statement)
        timeout = settings.engine_preset.command_timeout
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._command_timeout = timeout
        self._read_bind = self._read_only_bind(snapshot=False)
        self._snapshot_bind = self._read_only_bind(snapshot=True)

    def __repr__(self) -> str:
        return f"<Database {self.settings.display_url} preset={self.settings.preset!r}>"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a unit of work: commit on success, roll back on error, close always.

        The session is released back to the pool even when the task is
        cancelled, at any point: during a query, during COMMIT, or twice in a
        row. A session interrupted in the middle of a database call is
        invalidated (its connection closed, so the server rolls back) rather
        than returned to the pool in an unknown state.

        Example:
            >>> async with db.session() as session:  # doctest: +SKIP
            ...     session.add(Article(title="Hello"))
        """
        session = self._new_session()
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            await _end(session, exc)
            raise
        else:
            await shielded(session.close())

    def transaction(
        self, *, isolation_level: str | None = None, read_only: bool = False
    ) -> AbstractAsyncContextManager[AsyncSession]:
        """Open a unit of work like `session()`, with its own isolation level and access mode.

        See `asqla.transactions.transaction()`.
        """
        return transactions.transaction(self, isolation_level=isolation_level, read_only=read_only)

    @asynccontextmanager
    async def read_session(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """Open a session for reads that never commits.

        By default each statement runs on its own, without BEGIN and ROLLBACK
        round trips where the backend allows it (PostgreSQL and SQLite): one
        round trip per query, but two queries may see different moments of the
        database. ``snapshot=True`` runs every read inside one read-only
        transaction instead, so that they all see the same moment.

        Writes (``flush`` with pending objects, ``INSERT``/``UPDATE``/``DELETE``
        statements) raise [`SessionUsageError`][asqla.SessionUsageError].
        """
        bind = self._snapshot_bind if snapshot else self._read_bind
        session = self._new_session(bind=bind)
        session._asqla_read_only = True
        try:
            yield session
        except BaseException as exc:
            await _end(session, exc)
            raise
        else:
            await shielded(session.close())

    async def ping(self, *, timeout: float = 5.0) -> float:
        """Run ``SELECT 1`` and return the round trip in seconds.

        Raises:
            DatabaseUnavailableError: The database did not answer within ``timeout``.
        """
        started = time.perf_counter()
        try:
            # The read bind: no BEGIN (IMMEDIATE on SQLite, which would queue the
            # ping behind a writer) and no ROLLBACK round trip.
            read_bind = self._read_only_bind(snapshot=False)
            async with asyncio.timeout(timeout), read_bind.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except TimeoutError as exc:
            raise DatabaseUnavailableError(
                f"The database at {self.settings.display_url} did not answer a ping within "
                f"{timeout}s. Check that the server is up and reachable from this host."
            ) from exc
        except AsqlaError:
            raise
        except Exception as exc:
            if not is_translatable(exc):
                raise
            raise translate(exc) from exc
        return time.perf_counter() - started

    def status(self) -> DatabaseStatus:
        """Return the pool's state now; makes no database call."""
        pool: Any = self.engine.pool
        dialect = self.engine.dialect
        version = getattr(dialect, "server_version_info", None)
        size = pool.size() if hasattr(pool, "size") else 0
        return DatabaseStatus(
            dialect=dialect.name,
            driver=dialect.driver,
            server_version=".".join(str(part) for part in version) if version else None,
            url=self.settings.display_url,
            preset=self.settings.engine_preset.name,
            pool_size=size,
            checked_out=pool.checkedout() if hasattr(pool, "checkedout") else 0,
            overflow=max(0, pool.overflow()) if hasattr(pool, "overflow") else 0,
            waiters=_waiters(pool),
        )

    async def dispose(self) -> None:
        """Close every pooled connection; the database can be used again afterwards."""
        await self.engine.dispose()
        close_memory_database(self.engine)

    async def create_all(self, metadata: MetaData) -> None:
        """Create every table of ``metadata`` that does not exist (for tests and demos)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def drop_all(self, metadata: MetaData) -> None:
        """Drop every table of ``metadata`` that exists (for tests and demos)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)

    def _new_session(self, **kwargs: Any) -> AsyncSession:
        session = self.sessionmaker(**kwargs)
        session._asqla_timeout = self._command_timeout
        return session

    def _read_only_bind(self, *, snapshot: bool) -> AsyncEngine:
        backend = self.engine.dialect.name
        if backend == "sqlite":
            option = "DEFERRED" if snapshot else None
            return self.engine.execution_options(**{_dialects.SQLITE_BEGIN_OPTION: option})
        if backend == "postgresql":
            if snapshot:
                return self.engine.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            return self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # MySQL/MariaDB: switching autocommit on and back costs two round trips
        # per checkout, more than the one ROLLBACK it saves. InnoDB's default
        # REPEATABLE READ makes the implicit transaction a consistent snapshot.
        return self.engine


async def _end(session: AsyncSession, exc: BaseException) -> None:
    """Release ``session``'s connection after ``exc``; the caller re-raises ``exc``.

    A connection whose database call was cut off (``_asqla_interrupted``: a
    cancellation, a KeyboardInterrupt...) is in an unknown protocol state: it
    may still owe the server a reply, or the server may still be running the
    statement. It is invalidated: closed, so that the server rolls back, and
    replaced in the pool. SQLAlchemy 2.1 does the same on its own for
    cancellations that reach a DBAPI call (``Connection._handle_dbapi_exception``
    treats ``util.is_exit_exception()`` as a disconnect), but not for one that
    lands between two calls, e.g. in a ``commit`` event hook or a flush.

    After an error, or a cancellation that landed outside any database call
    (the task was awaiting something else), the connection is sound: ROLLBACK
    and return it to the pool, so that a burst of cancelled requests does not
    turn into a burst of reconnects.

    The whole sequence runs as one shielded task: a second cancellation
    arriving during cleanup waits for it to finish and then propagates (the
    cancellation wins over ``exc``). A failure of the cleanup itself is logged
    and does not replace ``exc``.
    """
    invalidate = session._asqla_interrupted or not isinstance(
        exc, Exception | asyncio.CancelledError
    )
    try:
        await shielded(_release(session, invalidate=invalidate))
    except Exception:
        logger.error(
            "asqla: could not release a session's connection after %s",
            type(exc).__name__,
            exc_info=True,
        )


async def _release(session: AsyncSession, *, invalidate: bool) -> None:
    if not invalidate:
        try:
            await session.rollback()
        except Exception:
            logger.warning("asqla: rollback failed; invalidating the session", exc_info=True)
            invalidate = True
    if invalidate:
        await session.invalidate()
    else:
        await session.close()


def _reset_interrupted_statement(context: ExceptionContext) -> None:
    """Stop and reset an aiosqlite statement whose call was cancelled (a ``handle_error`` hook).

    SQLAlchemy treats a cancellation as a disconnect: it invalidates the
    connection without closing the cursor (``Connection._handle_dbapi_exception``
    skips ``_safe_close_cursor`` when ``is_disconnect``). But aiosqlite runs the
    statement on its own thread, which finishes it regardless, and a statement
    left un-reset (an ``INSERT ... RETURNING`` or ``SELECT`` whose rows were
    never fetched) makes the ``sqlite3`` close a no-op: ``sqlite3_close_v2``
    keeps a connection with unfinalized statements alive as a "zombie", with
    its transaction open and its locks held, until the last statement is
    freed, and the exception's traceback keeps the cursor referenced.
    Meanwhile every writer fails with "database is locked" (a file) or
    "database table is locked" (shared-cache memory).
    Closing the cursor on the driver's thread, before SQLAlchemy closes the
    connection, resets the statement. ``interrupt()`` (thread-safe, SQLite's
    ``sqlite3_interrupt``) first stops a long statement, so that a cancelled
    query stops using the CPU and its connection is released at once.
    """
    cursor: Any = getattr(context.execution_context, "cursor", None)
    if not context.is_disconnect or cursor is None:
        return
    driver = getattr(cursor, "_connection", None)  # SQLAlchemy's adapter -> aiosqlite
    raw = getattr(driver, "_connection", None)  # aiosqlite -> sqlite3, None once closed
    try:
        if raw is not None:
            raw.interrupt()
        cursor.close()
    except Exception:
        logger.debug("asqla: could not reset an interrupted SQLite statement", exc_info=True)


def _waiters(pool: Any) -> int:
    # SQLAlchemy has no public counter of tasks waiting for a connection; read
    # the asyncio.Queue behind AsyncAdaptedQueuePool. tests/test_database.py
    # pins this, so an upgrade that moves it fails loudly rather than lying.
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    getters = getattr(queue, "_getters", None)
    return sum(1 for waiter in getters if not waiter.done()) if getters else 0
