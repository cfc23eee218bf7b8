"""The paths that write a bulk load's rows, a batch at a time.

`RowPlan` (in `_rows`) turns the input rows into column values; each batch
is then written through the fastest path the driver has:

- PostgreSQL with asyncpg: binary ``COPY`` (`copy_rows()`);
- MySQL/MariaDB: multi-row ``INSERT`` statements rendered with the driver's
  own escaping and cut to fit the server's ``max_allowed_packet``
  (`insert_rendered()`);
- anything else, or a column neither of those can write (a type with a SQL
  ``bind_expression``, a SQL-expression default): SQLAlchemy's
  ``executemany`` (`execute_many()`);
- rows asked back: ``INSERT ... RETURNING`` through SQLAlchemy's
  insertmanyvalues (`insert_returning()`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from typing import Any, Final, TypeAlias

from sqlalchemy import bindparam, insert, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.types import (
    ARRAY,
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Time,
    TypeDecorator,
    TypeEngine,
    Uuid,
)
from sqlalchemy.util import await_

from ..exceptions import AsqlaError, InvalidRowError
from ..model.types import UTCDateTime
from ._rows import Columns, RowPlan, Target, refused_value

__all__ = [
    "Bind",
    "Processors",
    "bind_processors",
    "copy_rows",
    "execute_many",
    "insert_rendered",
    "insert_returning",
    "raw_path_blocker",
]


@dataclass(frozen=True, slots=True)
class Bind:
    """How the values of one column become what the driver takes."""

    position: int  # in RowPlan.columns
    processor: Callable[[Any], Any]  # SQLAlchemy's bind processor, for one value
    convert: Callable[[Sequence[Any]], Sequence[Any]]  # the same, for a whole column


Processors: TypeAlias = list[Bind]
"""The columns whose values need converting, each resolved once per load;
the others go to the driver as they are."""

# Types whose bind-processed values asyncpg's binary COPY codecs and the
# MySQL drivers' literal escaping both take as they take them in an INSERT.
# Anything else (a UserDefinedType, PostGIS, INET...) goes through
# SQLAlchemy's executemany, which is always right.
_RAW_SAFE_TYPES: Final = (
    Integer, Numeric, String, Boolean, DateTime, Date, Time, Interval, Uuid, JSON, ARRAY,
    LargeBinary,
)  # fmt: skip
# Bytes are rendered as _binary'...' literals that are not valid UTF-8 text.
_NOT_RENDERABLE: Final = (LargeBinary,)
# Space kept free below max_allowed_packet: the packet header and command
# byte, and anything the server adds when it logs or rewrites the statement.
_PACKET_MARGIN_FRACTION: Final = 0.1
_PACKET_KEY: Final = "asqla_max_allowed_packet"


def bind_processors(plan: RowPlan, dialect: Dialect) -> Processors:
    """The SQLAlchemy bind processors of the columns that have one, by position."""
    found: Processors = []
    for position, column in enumerate(plan.columns):
        column_type = column.type.dialect_impl(dialect)
        processor = column_type.bind_processor(dialect)
        if processor is None:
            continue
        convert: Callable[[Sequence[Any]], Sequence[Any]] = partial(_each, processor)
        if (
            isinstance(column_type, TypeDecorator)
            and column_type.impl_instance.bind_processor(dialect) is None
        ):
            # What SQLAlchemy's wrapper calls, less one Python call per value.
            processor = partial(column_type.process_bind_param, dialect=dialect)
            convert = partial(_each, processor)
            if isinstance(column_type, UTCDateTime):
                convert = partial(column_type._process_bind_column, dialect=dialect)
        found.append(Bind(position, processor, convert))
    return found


def _each(processor: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    return list(map(processor, values))


def raw_path_blocker(plan: RowPlan, dialect: Dialect, *, rendered: bool) -> str | None:
    """Why COPY (or, ``rendered``, a driver-escaped INSERT) cannot write ``plan``'s rows."""
    if plan.needs_sql_defaults:
        return "a column left out has a SQL-expression default"
    for column in plan.columns:
        if not _raw_safe(column.type.dialect_impl(dialect), rendered=rendered):
            return f"column {column.name} has the type {column.type!r}"
    return None


def _raw_safe(column_type: TypeEngine[Any], *, rendered: bool) -> bool:
    probe = bindparam("probe", type_=column_type)
    while True:
        # A bind expression wraps the parameter in SQL (lower(?), ST_GeomFromText(?)):
        # only a statement SQLAlchemy compiles applies it.
        if column_type.bind_expression(probe) is not None:
            return False
        if not isinstance(column_type, TypeDecorator):
            break
        column_type = column_type.impl_instance
    if isinstance(column_type, ARRAY):
        return not rendered and _raw_safe(column_type.item_type, rendered=rendered)
    if rendered and isinstance(column_type, _NOT_RENDERABLE):
        return False
    return isinstance(column_type, _RAW_SAFE_TYPES)


def _processed(
    plan: RowPlan, columns: Columns, processors: Processors, start: int
) -> Iterator[tuple[Any, ...]]:
    """Rows of driver-ready values: each column through its bind processor, then zipped."""
    columns = list(columns)
    for bind in processors:
        values = columns[bind.position]
        try:
            columns[bind.position] = bind.convert(values)
        except Exception as exc:
            raise refused_value(plan, values, bind.position, bind.processor, start) from exc
    # Lazily: each row tuple lives only until the driver has encoded it.
    return zip(*columns, strict=True)


async def copy_rows(
    session: AsyncSession,
    plan: RowPlan,
    slices: Iterable[Sequence[object]],
    start: int,
    processors: Processors,
) -> int:
    """COPY rows into the table through asyncpg, in the session's transaction.

    ``slices`` yields the input rows a few at a time; each is converted only
    when asyncpg asks for more. asyncpg sends every 512 KiB it has encoded,
    so the server stores one part while Python converts the next (on another
    core), and one COPY can take any number of rows in bounded memory.
    Returns the number of rows copied.
    """
    import asyncpg  # type: ignore[import-untyped]  # only on this path; asyncpg ships no types

    table = plan.target.table
    names = [column.name for column in plan.columns]
    statement = f"COPY {table.fullname} ({', '.join(names)}) FROM STDIN (FORMAT binary)"
    copied = 0
    # The rows of the slice being copied; None while the slice is being converted.
    rows: Iterator[tuple[Any, ...]] | None = iter(())

    def converted(part: Sequence[object]) -> Iterator[tuple[Any, ...]]:
        nonlocal copied, rows
        rows = None
        first = start + copied
        rows = _processed(plan, plan.columns_of(part, first), processors, first)
        copied += len(part)
        return rows

    # No Python between asyncpg and the rows but a call per slice of them.
    records = chain.from_iterable(map(converted, slices))

    def copy(sync_session: Session) -> None:
        # The raw connection under the session's own, so that the COPY joins
        # the session's transaction and the unit of work's ROLLBACK undoes it.
        connection = sync_session.connection(bind_arguments=plan.target.bind_arguments)
        driver: Any = connection.connection.driver_connection
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement.
            connection.exec_driver_sql("SELECT 1")
        try:
            await_(
                driver.copy_records_to_table(
                    table.name, records=records, columns=names, schema_name=table.schema
                )
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            # Wrapped like SQLAlchemy wraps a driver error, so that the
            # session's guard translates it (SQLSTATE 23505 -> UniqueViolationError).
            raise sa_exc.DBAPIError(statement, None, exc) from exc
        except InvalidRowError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            # asyncpg's binary codecs raise these, unwrapped, for a value of the
            # wrong type ("abc" for an integer column); the COPY has been aborted.
            if rows is None:
                raise  # from converting a slice (a Python default), not from asyncpg
            # asyncpg takes one row at a time and fails on the last one it took,
            # which is in the current slice: count what is left of it.
            current = start + copied - 1 - sum(1 for _ in rows)
            raise InvalidRowError(
                f"Row {current} has a value that COPY cannot encode for the columns "
                f"{names} of {table.name}: {exc}. Give each column a value of its type.",
                index=current,
            ) from exc

    await session.run_sync(copy)
    return copied


async def max_allowed_packet(session: AsyncSession, target: Target) -> int:
    """The server's ``max_allowed_packet``, read once per connection."""
    connection = await session.connection(bind_arguments=target.bind_arguments)
    cached = connection.info.get(_PACKET_KEY)
    if cached is None:
        query = text("SELECT @@max_allowed_packet")
        cached = int(await session.scalar(query, bind_arguments=target.bind_arguments) or 0)
        connection.info[_PACKET_KEY] = cached
    return int(cached)


async def insert_rendered(
    session: AsyncSession,
    plan: RowPlan,
    batch: Sequence[object],
    start: int,
    processors: Processors,
) -> None:
    """INSERT the batch in multi-row statements, each under ``max_allowed_packet``.

    Values are rendered by the driver's own ``literal()``, which is what its
    ``executemany`` does with them, and measured in bytes as they will be
    sent (the connection speaks UTF-8). A statement ends before it would pass
    the server's limit less a margin.
    """
    packet = await max_allowed_packet(session, plan.target)
    budget = int(packet * (1 - _PACKET_MARGIN_FRACTION))
    dialect = session.get_bind(**plan.target.bind_arguments).dialect
    preparer = dialect.identifier_preparer
    table = plan.target.table
    prefix = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(column) for column in plan.columns)}) VALUES "
    )
    records = _processed(plan, plan.columns_of(batch, start), processors, start)

    def insert_all(sync_session: Session) -> None:
        connection = sync_session.connection(bind_arguments=plan.target.bind_arguments)
        driver: Any = connection.connection.driver_connection
        literal = driver.literal
        parts: list[str] = []
        size = len(prefix)
        for offset, record in enumerate(records):
            try:
                value = f"({','.join(map(literal, record))})"
            except (TypeError, ValueError) as exc:  # the driver cannot render a value
                raise InvalidRowError(
                    f"Row {start + offset} has a value the driver cannot write into "
                    f"{table.name}: {exc}. Give each column a value of its type.",
                    index=start + offset,
                ) from exc
            length = len(value) if value.isascii() else len(value.encode("utf-8"))
            if len(prefix) + length > budget:
                raise InvalidRowError(
                    f"Row {start + offset} takes {length:,} bytes as SQL, more than the "
                    f"{budget:,} that fit in the server's max_allowed_packet of {packet:,}. "
                    "Raise max_allowed_packet on the server, or store the large value apart.",
                    index=start + offset,
                )
            if parts and size + 1 + length > budget:
                _execute(connection, prefix + ",".join(parts))
                parts, size = [], len(prefix)
            parts.append(value)
            size += length + 1
        if parts:
            _execute(connection, prefix + ",".join(parts))

    await session.run_sync(insert_all)


def _execute(connection: Any, statement: str) -> None:
    # no_parameters: the driver must not apply %-formatting to the values.
    connection.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _dicts(keys: Sequence[str], columns: Columns) -> list[dict[str, Any]]:
    # map() rather than a comprehension: a third faster, without a Python frame per row.
    return list(map(dict, map(zip, repeat(keys), zip(*columns, strict=True))))


async def execute_many(
    session: AsyncSession, plan: RowPlan, batch: Sequence[object], start: int
) -> None:
    """INSERT the batch with one SQLAlchemy ``executemany``."""
    columns = plan.columns_of(batch, start)
    keys = [column.key for column in plan.columns]
    async with _naming_refused_values(session, plan, columns, start):
        await session.execute(insert(plan.target.table), _dicts(keys, columns))


async def insert_returning(
    session: AsyncSession, plan: RowPlan, batch: Sequence[object], start: int
) -> list[Any]:
    """INSERT the batch and return its rows, in input order, as objects or ``Row``s."""
    columns = plan.columns_of(batch, start)
    model = plan.target.model
    async with _naming_refused_values(session, plan, columns, start):
        if model is not None:
            statement: Any = insert(model).returning(model, sort_by_parameter_order=True)
            params = _dicts(plan.keys, columns)
            return list((await session.scalars(statement, params)).all())
        table = plan.target.table
        statement = insert(table).returning(*table.columns, sort_by_parameter_order=True)
        params = _dicts([column.key for column in plan.columns], columns)
        return list((await session.execute(statement, params)).all())


@asynccontextmanager
async def _naming_refused_values(
    session: AsyncSession, plan: RowPlan, columns: Columns, start: int
) -> AsyncIterator[None]:
    """Turn a value SQLAlchemy's bind processing refused into an error naming its row.

    A processor's error (``UTCDateTime`` refusing a naive datetime) reaches
    us as a ``StatementError`` that is not a database error, translated or
    not; the rows are run through the processors again to find the value.
    """
    try:
        yield
    except (AsqlaError, sa_exc.StatementError) as exc:
        cause = exc if isinstance(exc, sa_exc.StatementError) else exc.__cause__
        if not isinstance(cause, sa_exc.StatementError) or isinstance(cause, sa_exc.DBAPIError):
            raise
        dialect = session.get_bind(**plan.target.bind_arguments).dialect
        for bind in bind_processors(plan, dialect):
            values = columns[bind.position]
            try:
                list(map(bind.processor, values))
            except Exception:
                raise refused_value(plan, values, bind.position, bind.processor, start) from exc
        raise
