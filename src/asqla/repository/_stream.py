"""Streaming reads: the rows of a statement through a server-side cursor.

`stream()` reads ``batch_size`` rows at a time, so memory stays flat
however many rows there are. It works inside the session's transaction
and never commits: the unit of work does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_, greenlet_spawn

from .._translate import is_translatable, translate
from ..exceptions import SessionUsageError

__all__ = ["Stream", "stream"]

# The logger this code had in bulk.py, which a logging configuration may name.
logger = logging.getLogger("asqla.bulk")

T = TypeVar("T")


def stream(session: AsyncSession, statement: Any, *, batch_size: int = 1000) -> Stream[Any]:
    """Iterate over a statement's rows, fetched ``batch_size`` at a time.

    PostgreSQL (asyncpg) and MySQL/MariaDB (asyncmy) read through a
    server-side cursor, and SQLite steps through the result, so memory stays
    flat however many rows there are. A statement that selects one ORM entity
    (``select(User)``) yields objects; any other yields ``Row``s.

    Close the stream if you may stop early: ``async with stream(...) as
    rows:``, or ``await rows.aclose()``. A stream that was neither exhausted
    nor closed is closed when the transaction ends, before its COMMIT or
    ROLLBACK, and on MySQL/MariaDB also before the next statement on the same
    connection, which the protocol cannot run while a server-side cursor is
    open: the stream then raises [`SessionUsageError`][asqla.SessionUsageError] if it is
    read again.

    On PostgreSQL a server-side cursor lives in a transaction: stream from
    ``db.session()`` or ``db.read_session(snapshot=True)``, not from a plain
    read session, whose statements run in autocommit mode.

    Example:
        >>> async with db.session() as session:  # doctest: +SKIP
        ...     async with stream(session, select(Event)) as events:
        ...         async for event in events:
        ...             export(event)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"stream(batch_size=...) must be a positive int, got {batch_size!r}.")
    return Stream(session, statement, batch_size=batch_size)


class Stream(Generic[T]):
    """The rows of one statement, read ``batch_size`` at a time: what `stream()` returns.

    An async iterator, and an async context manager that closes it.
    """

    def __init__(self, session: AsyncSession, statement: Any, *, batch_size: int) -> None:
        self._session = session
        self._statement = statement
        self._batch_size = batch_size
        self._buffer: list[Any] = []
        self._position = 0
        self._state: Literal["new", "open", "closed"] = "new"
        self._closed_because: str | None = None
        self._rows: Any = None  # the Result (or ScalarResult) being read
        self._connection: Connection | None = None
        self._hooks: list[tuple[str, Callable[..., None]]] = []
        self._portal: Any = None  # PostgreSQL: the asyncpg cursor whose portal to close

    def __repr__(self) -> str:
        return f"<Stream {self._state} batch_size={self._batch_size}>"

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> T:
        if self._position < len(self._buffer):
            row: T = self._buffer[self._position]
            self._position += 1
            return row
        return await self._next_batch()

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the cursor and release what it holds; reading afterwards ends the iteration.

        MySQL/MariaDB read the rest of the result off the connection (the
        protocol has no other way to stop it); PostgreSQL closes the cursor's
        portal at once instead of at the end of the transaction.
        """
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        self._buffer, self._position = [], 0
        connection = self._connection
        for name, hook in self._hooks:
            if connection is not None:
                event.remove(connection, name, hook)
        self._hooks = []
        await self._session.run_sync(lambda _: self._close_cursor(portal=True))

    async def _next_batch(self) -> T:
        if self._state == "new":
            self._state = "open"
            try:
                await self._session.run_sync(self._execute)
            except BaseException:
                self._state = "closed"
                raise
        if self._state == "closed":
            if self._closed_because is not None:
                raise SessionUsageError(
                    f"This stream was closed because {self._closed_because}, before all its "
                    "rows were read. Read the whole stream first, or load the related rows "
                    "in the same statement."
                )
            raise StopAsyncIteration
        try:
            # In this task, not through session.run_sync, whose guard runs each
            # call in a task of its own: asyncmy (0.2.18) has no read flow
            # control, and the extra event-loop turns let it buffer the rest of
            # a server-side cursor's result (16 MiB of buffer and 80 MiB of RSS
            # for 300,000 rows, against 256 KiB; benchmarks/stream.py).
            batch = await greenlet_spawn(self._fetch)
        except Exception as exc:
            # Release the cursor, but let the database's error be the one raised.
            try:
                await self.aclose()
            except Exception:
                logger.debug("asqla: could not close a failed stream", exc_info=True)
            if is_translatable(exc):
                raise translate(exc) from exc
            raise
        except BaseException:
            # Cancelled mid-fetch: the connection is in an unknown state, so the
            # unit of work must discard it rather than roll it back.
            self._state = "closed"
            self._session._asqla_interrupted = True  # type: ignore[attr-defined]
            raise
        if not batch:
            await self.aclose()
            raise StopAsyncIteration
        self._buffer, self._position = batch, 1
        first: T = batch[0]
        return first

    def _execute(self, sync_session: Session) -> None:
        statement = self._statement.execution_options(
            yield_per=self._batch_size, stream_results=True
        )
        connection = sync_session.connection(bind_arguments={"clause": self._statement})
        dialect = connection.dialect
        if dialect.name == "postgresql" and getattr(
            connection.connection.dbapi_connection, "autocommit", False
        ):
            raise SessionUsageError(
                "stream() needs a transaction on PostgreSQL (a server-side cursor lives in "
                "one), and this session runs each statement in autocommit mode. Use "
                "db.read_session(snapshot=True) or db.session() to stream."
            )
        cursors: list[Any] = []

        def capture(conn: Connection, cursor: Any, *args: Any) -> None:
            if not cursors:
                cursors.append(cursor)

        event.listen(connection, "after_cursor_execute", capture)
        try:
            result = sync_session.execute(statement)
        finally:
            event.remove(connection, "after_cursor_execute", capture)
        self._rows = result.scalars() if _one_entity(self._statement) else result
        self._connection = connection
        if dialect.driver == "asyncpg" and cursors:
            # SQLAlchemy's server-side cursor adapter forgets the asyncpg cursor
            # when closed, and never closes its portal (which then stays open
            # until the transaction ends): keep it to close the portal ourselves.
            self._portal = getattr(cursors[0], "_cursor", None)
        self._hooks = [("commit", self._on_transaction_end), ("rollback", self._on_transaction_end)]
        if dialect.name in ("mysql", "mariadb"):
            self._hooks.append(("before_cursor_execute", self._on_statement))
        for name, hook in self._hooks:
            event.listen(connection, name, hook)

    def _fetch(self) -> list[Any]:
        return list(self._rows.fetchmany(self._batch_size))

    def _on_transaction_end(self, connection: Connection) -> None:
        self._closed_by_hook("its transaction ended")

    def _on_statement(self, connection: Connection, *args: Any) -> None:
        self._closed_by_hook(
            "another statement ran on its connection (MySQL and MariaDB cannot run a "
            "statement while a server-side cursor is open)"
        )

    def _closed_by_hook(self, reason: str) -> None:
        # Runs inside SQLAlchemy's commit, rollback or execute: it must not
        # raise, and it cannot remove itself while its event is dispatched.
        if self._state != "open":
            return
        self._state, self._closed_because = "closed", reason
        self._buffer, self._position = [], 0
        try:
            self._close_cursor(portal=False)
        except Exception:
            logger.debug("asqla: could not close an abandoned stream", exc_info=True)

    def _close_cursor(self, *, portal: bool) -> None:
        # asyncpg's Close message for a portal that no longer exists is not an
        # error (PostgreSQL protocol, "Close"), unlike SQL CLOSE, which would
        # abort the transaction. _close_portal is private; test_stream pins it.
        if portal and self._portal is not None and getattr(self._portal, "_portal_name", None):
            cursor, self._portal = self._portal, None
            try:
                await_(cursor._close_portal(None))
            except Exception:
                logger.debug("asqla: could not close a stream's portal", exc_info=True)
        self._rows.close()


def _one_entity(statement: Any) -> bool:
    descriptions = getattr(statement, "column_descriptions", None)
    if not descriptions or len(descriptions) != 1:
        return False
    entity = descriptions[0].get("entity")
    return entity is not None and descriptions[0].get("expr") is entity
