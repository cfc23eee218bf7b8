"""``Database``: one object that owns the engine and hands out units of work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from . import _dialects
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
            :class:`DatabaseSettings` from the environment (``DATABASE_URL``).

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

    @asynccontextmanager
    async def read_session(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """Open a session for reads that never commits.

        By default each statement runs on its own, without BEGIN and ROLLBACK
        round trips where the backend allows it (PostgreSQL and SQLite): one
        round trip per query, but two queries may see different moments of the
        database. ``snapshot=True`` runs every read inside one read-only
        transaction instead, so that they all see the same moment.

        Writes (``flush`` with pending objects, ``INSERT``/``UPDATE``/``DELETE``
        statements) raise :class:`~asqla.SessionUsageError`.
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
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
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
    """Roll back and close after ``exc``; invalidate if a database call was cut off."""
    if isinstance(exc, Exception) and not session._asqla_interrupted:
        try:
            await shielded(session.rollback())
        except Exception:
            logger.warning("asqla: rollback failed; invalidating the session", exc_info=True)
            await shielded(session.invalidate())
            return
        await shielded(session.close())
    else:
        await shielded(session.invalidate())


def _waiters(pool: Any) -> int:
    # SQLAlchemy has no public counter of tasks waiting for a connection; read
    # the asyncio.Queue behind AsyncAdaptedQueuePool. tests/test_database.py
    # pins this, so an upgrade that moves it fails loudly rather than lying.
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    getters = getattr(queue, "_getters", None)
    return sum(1 for waiter in getters if not waiter.done()) if getters else 0
