"""Per-test isolation: one outer transaction that every session of the test joins.

SQLAlchemy's recipe "Joining a Session into an External Transaction (such as
for test suites)": the test opens a connection and BEGINs; each session is
bound to that connection with ``join_transaction_mode="create_savepoint"``,
so that its ``commit()`` releases a SAVEPOINT and its ``rollback()`` rolls
back to one, while the outer transaction stays open. At the end of the test
the outer transaction is rolled back: whatever the code under test
committed, the next test starts from the same state.

:meth:`OuterTransaction.bind` points a :class:`~asqla.Database` at the
connection: ``db.session()``, ``db.read_session()`` and the FastAPI
``Session`` / ``ReadSession`` dependencies, whose request unit of work asks
the database for its sessions, then all join the test's transaction. The
request still commits before its response starts, exactly as in
production: that commit releases the request's savepoint.

A read session (``ReadSession``, ``db.read_session()``) joins without a
savepoint of its own and never rolls anything back: it cannot write, and a
savepoint of its own would nest with the write session's in whatever order
the two were first used, so that ending one would undo, or release, the
other's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction
from sqlalchemy.orm import Session

from .._dialects import SQLITE_BEGIN_OPTION
from .._session import AsyncSession, shielded
from ..database import Database
from ..engine import create_engine

__all__ = ["OuterTransaction"]

logger = logging.getLogger("asqla.testing")


class _JoinedReadSession(Session):
    """A session that shares the test's transaction and never ends any part of it."""

    def rollback(self) -> None:
        # Joined with "rollback_only", a rollback would end whatever
        # transaction the connection is in, the test's or a request's
        # savepoint. A read session has nothing of its own to roll back:
        # forgetting its objects is all that ending it means.
        self.close()


class OuterTransaction:
    """A connection and a transaction that are rolled back when the test ends.

    Args:
        database: The database whose engine gives the connection, and whose
            settings (command timeout) the joined sessions use.
        engine: The engine that bound databases use meanwhile for what does
            not go through a session (see :attr:`engine`); default: a new one
            on ``database``'s settings. It is disposed at the end, as
            ``database``'s own engine is not: pass one to reuse it, and its
            dialect's first-connect set-up, from test to test.

    Example:
        >>> async with OuterTransaction(db) as outer:  # doctest: +SKIP
        ...     with outer.bind(db):
        ...         async with db.session() as session:  # commits a SAVEPOINT
        ...             session.add(User(name="ada"))
        ... # rolled back here: the user is gone
    """

    def __init__(self, database: Database, *, engine: AsyncEngine | None = None) -> None:
        self.database = database
        self._given_engine = engine
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None
        self._sessions: list[AsyncSession] = []
        self._side_engine: AsyncEngine | None = None

    @property
    def connection(self) -> AsyncConnection:
        """The test's connection; every joined session runs on it."""
        if self._connection is None:
            raise RuntimeError(
                "OuterTransaction is not open: use it as `async with OuterTransaction(db):`."
            )
        return self._connection

    @property
    def engine(self) -> AsyncEngine:
        """The engine a bound Database uses for what does not go through a session.

        A second engine on the same database and settings: the FastAPI
        lifespan's ``dispose()`` at shutdown must not dispose the pool that the
        test's connection came from, or that connection, returned afterwards,
        would be left to the garbage collector. On SQLite it starts no
        transaction: a second connection to the file (the lifespan's ping, a
        health check) would otherwise ``BEGIN IMMEDIATE`` and wait for the
        write lock that this transaction holds until the test ends.
        """
        if self._side_engine is None:
            engine = self._given_engine or create_engine(self.database.settings)
            if engine.dialect.name == "sqlite":
                engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: None})
            self._side_engine = engine
        return self._side_engine

    async def __aenter__(self) -> OuterTransaction:
        if self._connection is not None:
            raise RuntimeError("this OuterTransaction is already open; create one per test")
        self._connection = await self.database.engine.connect()
        try:
            self._transaction = await self._connection.begin()
        except BaseException:
            await shielded(self._connection.close())
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await shielded(self._end())

    async def _end(self) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        sessions, self._sessions = self._sessions, []
        try:
            # Latest first: a session opened later holds the inner savepoint.
            for session in reversed(sessions):
                try:
                    await session.close()
                except Exception:  # the connection may be gone; the rollback below tells
                    logger.debug("asqla: could not close a test session", exc_info=True)
            if transaction is not None and transaction.is_active:
                await transaction.rollback()
        finally:
            try:
                if connection is not None:
                    await connection.close()
            finally:
                side, self._side_engine = self._side_engine, None
                if side is not None:
                    await side.dispose()

    def session(self) -> AsyncSession:
        """Return a new session that joins the test's transaction through a savepoint."""
        return self._join(read_only=False)

    def read_session(self) -> AsyncSession:
        """Return a new session for reads that joins the test's transaction."""
        return self._join(read_only=True)

    @contextmanager
    def bind(self, database: Database) -> Iterator[None]:
        """Make every session of ``database`` join this transaction, until the block exits.

        ``database.engine`` is also this transaction's engine meanwhile, so
        that a ping, ``status()`` or ``dispose()`` (the FastAPI lifespan's)
        reaches the test database, never the one the application was built for.
        """
        saved = {
            name: database.__dict__[name]
            for name in ("engine", "_new_session")
            if name in database.__dict__
        }
        database.engine = self.engine
        setattr(database, "_new_session", self._new_session)  # noqa: B010 - shadows a method
        try:
            yield
        finally:
            for name in ("engine", "_new_session"):
                if name in saved:
                    setattr(database, name, saved[name])
                else:
                    database.__dict__.pop(name, None)

    def _new_session(self, **kwargs: Any) -> AsyncSession:
        # Database._new_session(bind=...) is how the read sessions ask for
        # their read-only bind; every other caller wants a unit of work.
        return self._join(read_only="bind" in kwargs)

    def _join(self, *, read_only: bool) -> AsyncSession:
        if read_only:
            session = AsyncSession(
                bind=self.connection,
                expire_on_commit=False,
                join_transaction_mode="rollback_only",
                sync_session_class=_JoinedReadSession,
            )
        else:
            session = AsyncSession(
                bind=self.connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            )
        session._asqla_timeout = self.database.settings.engine_preset.command_timeout
        session._asqla_read_only = read_only
        self._sessions.append(session)
        return session
