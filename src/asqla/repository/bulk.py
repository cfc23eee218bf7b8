"""Bulk loads and streaming reads: many rows in or out, never all in memory.

- `bulk_insert()` writes rows from a list, a generator or an async
  iterable in batches, through the fastest path the driver has: binary
  ``COPY`` on PostgreSQL (asyncpg), multi-row ``INSERT`` statements sized to
  the server's ``max_allowed_packet`` on MySQL/MariaDB, ``executemany``
  elsewhere, and ``INSERT ... RETURNING`` when the rows are wanted back.
- `stream()` reads the rows of a statement through a server-side cursor,
  ``batch_size`` at a time.

Both work inside the session's transaction and never commit: the unit of
work does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar, overload

from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_, greenlet_spawn

from .._translate import is_translatable, translate
from ..exceptions import SessionUsageError
from ..transactions import savepoint
from ._copy import (
    InvalidRowError,
    RowPlan,
    Target,
    as_mapping,
    copy_rows,
    execute_many,
    insert_rendered,
    insert_returning,
    raw_path_blocker,
)

__all__ = [
    "COPY_BATCH_SIZE",
    "DEFAULT_BATCH_SIZE",
    "InvalidRowError",
    "Progress",
    "Rows",
    "Stream",
    "bulk_insert",
    "stream",
]

logger = logging.getLogger("asqla.bulk")

M = TypeVar("M")
T = TypeVar("T")

DEFAULT_BATCH_SIZE: Final = 10_000
"""Rows read and written at a time when ``batch_size`` is not given: one
``executemany``, one ``INSERT ... RETURNING`` batch, one set of multi-row
``INSERT`` statements on MySQL/MariaDB, or one ``COPY`` from an async iterable."""

COPY_BATCH_SIZE: Final = 100_000
"""Rows per ``COPY`` from a (synchronous) iterable when ``batch_size`` is not
given. The rows stream into the COPY as it goes, so memory holds only
`_SLICE` of them; fewer, larger COPYs spare the server a restart each."""

_SLICE: Final = 1_000

Progress: TypeAlias = Callable[[int], object]
"""Called with the number of rows written so far, after each batch."""

Rows: TypeAlias = "Iterable[Mapping[str, Any] | M] | AsyncIterable[Mapping[str, Any] | M]"

_Writer: TypeAlias = Callable[[int], Awaitable[tuple[int, list[Any]]]]


@overload
async def bulk_insert(
    session: AsyncSession,
    target: type[M],
    rows: Rows[M],
    *,
    returning: Literal[True],
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> list[M]: ...
@overload
async def bulk_insert(
    session: AsyncSession,
    target: Table,
    rows: Rows[Mapping[str, Any]],
    *,
    returning: Literal[True],
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> list[Row[Any]]: ...
@overload
async def bulk_insert(
    session: AsyncSession,
    target: type[Any] | Table,
    rows: Rows[Any],
    *,
    returning: Literal[False] = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> int: ...
async def bulk_insert(
    session: AsyncSession,
    target: type[Any] | Table,
    rows: Rows[Any],
    *,
    returning: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> int | list[Any]:
    """Insert many rows, in batches, inside the session's transaction.

    ``rows`` may be any iterable or async iterable of dicts (any mapping) or
    model instances; it is read as the load goes, so a generator of ten
    million rows never sits in memory whole. Dict keys are attribute names for a
    model and column keys for a ``Table``. Python-side defaults are applied
    (``UUIDPrimaryKey``'s UUIDv7, ``default=``, a ``Versioned`` model's first
    version); server defaults (``Timestamps``) and autoincrement keys are
    left to the database. Every row writes the same columns, fixed by the
    first one.

    The whole load is all-or-nothing: it runs in a SAVEPOINT, so a bad row or
    a constraint violation in any batch undoes every batch before it and
    leaves the outer transaction usable. Nothing is committed: the unit of
    work does that, and its rollback undoes the load (``COPY`` included).

    Paths, chosen per call:

    - PostgreSQL with asyncpg: binary ``COPY`` (``copy_records_to_table``) on
      the session's own connection and transaction;
    - MySQL/MariaDB: multi-row ``INSERT`` statements, each under the server's
      ``max_allowed_packet`` (read once per connection) less 10%;
    - otherwise (SQLite, or a column those paths cannot write, such as a type
      with a SQL bind expression): SQLAlchemy's ``executemany``;
    - ``returning=True``: ``INSERT ... RETURNING`` through SQLAlchemy's
      insertmanyvalues, on every backend with RETURNING (PostgreSQL, SQLite,
      MariaDB 10.5+).

    Args:
        session: The session whose transaction the rows join.
        target: A mapped class, or a ``Table``.
        rows: Dicts or instances of ``target``, from an iterable or an async iterable.
        returning: Return the inserted rows: objects for a model (in the
            session, with server defaults and keys loaded), ``Row``s for a
            ``Table``, in input order. They are held in memory.
        batch_size: Rows per statement, and between two ``progress`` calls.
            Defaults to `COPY_BATCH_SIZE` for a COPY from an iterable
            (which streams its rows in, a thousand at a time), and to
            `DEFAULT_BATCH_SIZE` otherwise, where a batch is read into
            memory before it is written.
        progress: Called with the running count of rows written after each batch.

    Returns:
        The number of rows inserted, or with ``returning=True`` the rows.

    Raises:
        InvalidRowError: A row has a key that is not a column, lacks a value
            for a NOT NULL column without a default, or is not a row at all;
            the message names the row's index and the column.
        SessionUsageError: ``session`` is a read-only session, or
            ``returning=True`` on a database without ``INSERT ... RETURNING``.

    Example:
        >>> async with db.session() as session:  # doctest: +SKIP
        ...     count = await bulk_insert(session, Event, read_events(), progress=print)
    """
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"bulk_insert(batch_size=...) must be a positive int, got {batch_size!r}.")
    if getattr(session, "_asqla_read_only", False):
        raise SessionUsageError(
            "bulk_insert() would write through a ReadSession, which never commits. "
            "Use the Session dependency (or db.session()) for writes."
        )
    spec = Target.of(target)
    source = _Source(rows)
    first = await source.take(1)
    if not first:
        return [] if returning else 0
    plan = RowPlan(spec, as_mapping(spec, first[0], 0))
    source.push_back(first)
    write = _writer(session, plan, source, returning=returning, batch_size=batch_size)
    written = 0
    returned: list[Any] = []
    async with savepoint(session):
        while True:
            count, out = await write(written)
            if not count:
                break
            returned.extend(out)
            written += count
            if progress is not None:
                progress(written)
    return returned if returning else written


class _Source:
    """The rows to insert, read on demand from an iterable or an async iterable."""

    def __init__(self, rows: Rows[Any]) -> None:
        self._async: AsyncIterator[Any] | None = None
        self._sync: Iterator[Any] | None = None
        if isinstance(rows, AsyncIterable):
            self._async = aiter(rows)
        elif isinstance(rows, Mapping) or not isinstance(rows, Iterable):
            raise TypeError(
                f"bulk_insert() takes an iterable or async iterable of rows, not "
                f"{type(rows).__name__}. Wrap a single row in a list: [row]."
            )
        else:
            self._sync = iter(rows)
        self._pending: list[Any] = []

    @property
    def is_async(self) -> bool:
        return self._async is not None

    def push_back(self, rows: list[Any]) -> None:
        self._pending = rows + self._pending

    def take_now(self, count: int) -> list[Any]:
        """Up to ``count`` rows from a synchronous iterable."""
        taken, self._pending = self._pending[:count], self._pending[count:]
        assert self._sync is not None  # only called for synchronous sources
        taken.extend(itertools.islice(self._sync, count - len(taken)))
        return taken

    async def take(self, count: int) -> list[Any]:
        """Up to ``count`` rows; fewer only at the end of the input."""
        if self._async is None:
            return self.take_now(count)
        taken, self._pending = self._pending[:count], self._pending[count:]
        async for row in self._async:
            taken.append(row)
            if len(taken) >= count:
                break
        return taken


def _writer(
    session: AsyncSession,
    plan: RowPlan,
    source: _Source,
    *,
    returning: bool,
    batch_size: int | None,
) -> _Writer:
    """The function that writes the next batch: ``start -> (rows written, rows returned)``."""
    dialect = session.get_bind(**plan.target.bind_arguments).dialect
    size = batch_size or DEFAULT_BATCH_SIZE
    if returning:
        if not dialect.insert_executemany_returning:
            raise SessionUsageError(
                f"bulk_insert(returning=True) needs INSERT ... RETURNING, which {dialect.name} "
                f"{_version(dialect)} does not have. Use returning=False, or "
                "session.add_all() and flush() to get generated keys back."
            )

        async def returning_writer(start: int) -> tuple[int, list[Any]]:
            batch = await source.take(size)
            return len(batch), (
                await insert_returning(session, plan, batch, start) if batch else []
            )

        return returning_writer
    blocker = None
    if dialect.driver == "asyncpg":
        blocker = raw_path_blocker(plan, dialect, rendered=False)
        if blocker is None:
            return _copy_writer(session, plan, source, batch_size)
    elif dialect.name in ("mysql", "mariadb") and dialect.driver in ("asyncmy", "aiomysql"):
        blocker = raw_path_blocker(plan, dialect, rendered=True)
        if blocker is None:
            processors = plan.processors(dialect)

            async def rendered_writer(start: int) -> tuple[int, list[Any]]:
                batch = await source.take(size)
                if batch:
                    await insert_rendered(session, plan, batch, start, processors)
                return len(batch), []

            return rendered_writer
    if blocker is not None:
        logger.debug("bulk_insert(%s): executemany, because %s", plan.target.label, blocker)

    async def many_writer(start: int) -> tuple[int, list[Any]]:
        batch = await source.take(size)
        if batch:
            await execute_many(session, plan, batch, start)
        return len(batch), []

    return many_writer


def _copy_writer(
    session: AsyncSession, plan: RowPlan, source: _Source, batch_size: int | None
) -> _Writer:
    processors = plan.processors(session.get_bind(**plan.target.bind_arguments).dialect)
    if source.is_async:
        # An async source is read before the COPY starts, so that its pace
        # does not count against the command timeout of the COPY.
        size = batch_size or DEFAULT_BATCH_SIZE

        async def copy_read_batch(start: int) -> tuple[int, list[Any]]:
            batch = await source.take(size)
            if not batch:
                return 0, []
            parts = (batch[i : i + _SLICE] for i in range(0, len(batch), _SLICE))
            return await copy_rows(session, plan, parts, start, processors), []

        return copy_read_batch
    size = batch_size or COPY_BATCH_SIZE

    async def copy_streamed(start: int) -> tuple[int, list[Any]]:
        first = source.take_now(min(_SLICE, size))
        if not first:
            return 0, []

        def parts() -> Iterator[list[Any]]:
            # Read from the input as the COPY goes: a slice in memory at a time.
            yield first
            taken = len(first)
            while taken < size and (part := source.take_now(min(_SLICE, size - taken))):
                taken += len(part)
                yield part

        return await copy_rows(session, plan, parts(), start, processors), []

    return copy_streamed


def _version(dialect: Any) -> str:
    version = getattr(dialect, "server_version_info", None) or ()
    return ".".join(str(part) for part in version)


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
