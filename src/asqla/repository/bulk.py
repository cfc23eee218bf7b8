"""Bulk loads: many rows in, in batches, never all in memory.

`bulk_insert()` writes rows from a list, a generator or an async iterable
in batches, through the fastest path the driver has: binary ``COPY`` on
PostgreSQL (asyncpg), multi-row ``INSERT`` statements sized to the server's
``max_allowed_packet`` on MySQL/MariaDB, ``executemany`` elsewhere, and
``INSERT ... RETURNING`` when the rows are wanted back. It works inside the
session's transaction and never commits: the unit of work does.
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
from typing import Any, Final, Literal, TypeAlias, TypeVar, overload

from sqlalchemy import Table
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ..exceptions import InvalidRowError, SessionUsageError
from ..transactions import savepoint
from ._copy import (
    bind_processors,
    copy_rows,
    execute_many,
    insert_rendered,
    insert_returning,
    raw_path_blocker,
)
from ._rows import RowPlan, Target, as_mapping

__all__ = [
    "COPY_BATCH_SIZE",
    "DEFAULT_BATCH_SIZE",
    "InvalidRowError",
    "Progress",
    "Rows",
    "bulk_insert",
]

logger = logging.getLogger("asqla.bulk")

M = TypeVar("M")

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
            processors = bind_processors(plan, dialect)

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
    processors = bind_processors(plan, session.get_bind(**plan.target.bind_arguments).dialect)
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
