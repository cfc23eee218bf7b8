"""The rows of a bulk load, and the paths that write them.

A bulk load writes the same columns for every row. `RowPlan` fixes
them from the first row, then turns each row (a mapping or a model
instance) into a tuple of values, with the Python-side column defaults
applied and bad rows refused before anything reaches the database. Each
batch of tuples is then written through the fastest path the driver has:

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

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import eq, is_, itemgetter
from typing import Any, Final, TypeAlias

from sqlalchemy import Column, Table, bindparam, insert, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session
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

__all__ = [
    "Columns",
    "InvalidRowError",
    "Processors",
    "RowPlan",
    "Target",
    "as_mapping",
    "copy_rows",
    "execute_many",
    "insert_rendered",
    "insert_returning",
    "raw_path_blocker",
]

Columns: TypeAlias = list[Sequence[Any]]
"""The values of a batch of rows, one sequence per column of `RowPlan.columns`."""
Processors: TypeAlias = list[tuple[int, Callable[[Any], Any]]]
"""SQLAlchemy bind processors, by column position."""

_ABSENT: Final = object()
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The table a bulk load writes and the keys its rows may use."""

    table: Table
    model: type[Any] | None
    columns: Mapping[str, Column[Any]]  # input key -> column (attribute names for a model)
    relationships: frozenset[str]
    generated: Mapping[str, Callable[[], Any]]  # column key -> version / discriminator value
    label: str

    @property
    def bind_arguments(self) -> dict[str, Any]:
        """What picks the session's bind (engine) for this table."""
        return {"mapper": self.model} if self.model is not None else {"clause": self.table}

    @classmethod
    def of(cls, target: type[Any] | Table) -> Target:
        """Resolve a mapped class or a ``Table``."""
        if isinstance(target, Table):
            return cls(
                table=target,
                model=None,
                columns={column.key: column for column in target.columns},
                relationships=frozenset(),
                generated={},
                label=f"table {target.name!r}",
            )
        mapper = inspect(target, raiseerr=False)
        if not isinstance(mapper, Mapper):
            raise TypeError(
                f"bulk_insert() writes to a mapped class or a Table, not {target!r}. "
                "Pass the model (User) or its table (User.__table__)."
            )
        table = mapper.local_table
        if not isinstance(table, Table) or len(mapper.tables) != 1:
            raise TypeError(
                f"bulk_insert() writes one table, and {mapper.class_.__name__} is mapped to "
                f"{[str(t) for t in mapper.tables]}. Use session.add_all() for models mapped "
                "with joined-table inheritance or to a join."
            )
        columns: dict[str, Column[Any]] = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if isinstance(column, Column) and column.table is table:
                columns[prop.key] = column
        generated: dict[str, Callable[[], Any]] = {}
        version, make_version = mapper.version_id_col, mapper.version_id_generator
        if isinstance(version, Column) and callable(make_version):
            generated[version.key] = lambda: make_version(None)
        discriminator, identity = mapper.polymorphic_on, mapper.polymorphic_identity
        if isinstance(discriminator, Column) and identity is not None:
            generated[discriminator.key] = lambda: identity
        return cls(
            table=table,
            model=mapper.class_,
            columns=columns,
            relationships=frozenset(mapper.relationships.keys()),
            generated=generated,
            label=mapper.class_.__name__,
        )


def as_mapping(target: Target, source: object, index: int) -> Mapping[str, Any]:
    """Return row ``source`` as a mapping of input keys, or raise for what is not a row."""
    if type(source) is dict or isinstance(source, Mapping):
        return source
    model = target.model
    if model is None or not isinstance(source, model):
        expected = f"dicts or {model.__name__} instances" if model else "dicts (mappings)"
        raise InvalidRowError(
            f"Row {index} is {type(source).__name__} {source!r:.80}; bulk_insert() into "
            f"{target.label} takes {expected}.",
            index=index,
        )
    state = vars(source)
    for name in target.relationships.intersection(state):
        if state[name] not in (None, [], set(), {}):
            raise InvalidRowError(
                f"Row {index} sets the relationship {model.__name__}.{name}, but "
                "bulk_insert() writes only columns. Set the foreign key column(s) "
                "instead, or use session.add_all() to save related objects.",
                index=index,
                column=name,
            )
    columns = target.columns
    return {key: value for key, value in state.items() if key in columns}


def _database_fills(column: Column[Any]) -> str | None:
    """Why the database, not Python, fills ``column`` when a row leaves it out."""
    if column.server_default is not None or column.computed is not None:
        return "its server default"
    if column.identity is not None or column is column.table.autoincrement_column:
        return "autoincrement"
    default = column.default
    if default is not None and (default.is_sequence or default.is_clause_element):
        return "its SQL default"
    return None


class _Context:
    """What a context-sensitive column default receives (``context.get_current_parameters()``)."""

    __slots__ = ("current_parameters",)

    def __init__(self, current_parameters: dict[str, Any]) -> None:
        self.current_parameters = current_parameters

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


@dataclass(frozen=True, slots=True)
class _Fill:
    """How Python fills a column a row leaves out."""

    call: Callable[[], Any] | None  # a plain function of nothing, or
    with_context: Callable[[_Context], Any] | None  # a default that reads the row's values


def _python_default(column: Column[Any], target: Target) -> _Fill | None:
    """How Python fills ``column`` when a row leaves it out, if it can."""
    if column.key in target.generated:
        return _Fill(target.generated[column.key], None)
    default: Any = column.default
    if default is None or default.is_sequence or default.is_clause_element:
        return None
    if default.is_scalar:
        value = default.arg
        return _Fill(lambda: value, None)
    # SQLAlchemy wraps a zero-argument default in a one-argument lambda and
    # keeps the original as __wrapped__ (functools.update_wrapper).
    plain = getattr(default.arg, "__wrapped__", None)
    if plain is not None:
        return _Fill(plain, None)
    return _Fill(None, default.arg)


_NONE_FILL: Final = _Fill(lambda: None, None)


def _fill_value(fill: _Fill, params: dict[str, Any]) -> Any:
    if fill.call is not None:
        return fill.call()
    assert fill.with_context is not None  # one of the two is always set
    return fill.with_context(_Context(params))


@dataclass(frozen=True, slots=True)
class _Slot:
    column: Column[Any]
    key: str
    fill: _Fill | None  # None: every row must give a value
    database_fills: str | None  # set for a column the database could fill, given in row 0
    primary_key: bool


class RowPlan:
    """The columns every row of one load writes, fixed by the first row.

    A column is written when the first row gives it, or when Python can fill
    it (a ``default=``, a version counter, a polymorphic identity), or when it
    is nullable; a column the database fills (server default, autoincrement,
    identity, SQL default) is left to the database unless the first row gives
    it. A primary key given as ``None`` counts as not given.
    """

    def __init__(self, target: Target, first: Mapping[str, Any]) -> None:
        self.target = target
        self._check_keys(first, 0, first_row=True)
        given = {key for key, value in first.items() if not self._unset_key(key, value)}
        slots: list[_Slot] = []
        rest: list[_Slot] = []
        self.left_to_database: dict[str, str] = {}  # input key -> reason
        for key, column in self._keyed_columns():
            fill = _python_default(column, target)
            fills = _database_fills(column)
            if fill is None and fills is None and column.nullable:
                fill = _NONE_FILL
            if key in given:
                slots.append(_Slot(column, key, fill, fills, column.primary_key))
            elif fill is not None:
                rest.append(_Slot(column, key, fill, None, column.primary_key))
            elif fills is not None:
                self.left_to_database[key] = fills
            else:
                raise _missing(target, column, key, 0)
        self._slots = (*slots, *rest)
        self.columns: tuple[Column[Any], ...] = tuple(slot.column for slot in self._slots)
        self.keys: tuple[str, ...] = tuple(slot.key for slot in self._slots)
        # Raw paths cannot evaluate a SQL default: the column must be in the INSERT.
        self.needs_sql_defaults = any(
            column.default is not None and column.default.is_clause_element
            for column in target.table.columns
            if column not in self.columns
        )
        self._given_count = len(slots)
        self._getters: list[Callable[[Any], Any]] = [itemgetter(slot.key) for slot in slots]
        # The fast path fills the other columns with plain functions; a default
        # that reads the row's values sends every row down the slow path.
        calls = [slot.fill.call for slot in rest if slot.fill and slot.fill.call]
        self._rest_calls = calls if len(calls) == len(rest) else None
        self._required = [
            position
            for position, slot in enumerate(slots)
            if not slot.column.nullable or slot.primary_key
        ]

    def _keyed_columns(self) -> list[tuple[str, Column[Any]]]:
        by_column = {column: key for key, column in self.target.columns.items()}
        return [(by_column.get(column, column.key), column) for column in self.target.table.columns]

    def _unset_key(self, key: str, value: Any) -> bool:
        return value is None and self.target.columns[key].primary_key

    def columns_of(self, batch: Sequence[object], start: int) -> Columns:
        """Return the values of ``batch`` column by column, in the order of `columns`.

        ``batch[0]`` is row ``start`` of the load, for error messages.

        Raises:
            InvalidRowError: A row is not a row, has a key that is not a
                column, or has no value (or ``None``) for a column that needs one.
        """
        rows: Sequence[Any] = batch
        if set(map(type, rows)) != {dict}:
            rows = [as_mapping(self.target, row, start + i) for i, row in enumerate(rows)]
        # The common batch, dicts with the first row's keys and no None where
        # none may be, is checked and read with map() over whole columns: C
        # loops, and no tuple per row until the writer zips the columns up.
        # Every key found and as many keys as expected: exactly those keys.
        calls = self._rest_calls
        if calls is not None and all(map(eq, map(len, rows), repeat(self._given_count))):
            try:
                given: Columns = [list(map(getter, rows)) for getter in self._getters]
            except KeyError:
                pass  # a row lacks a key: the slow path names it
            else:
                if not any(any(map(is_, given[i], repeat(None))) for i in self._required):
                    return given + [[call() for _ in rows] for call in calls]
        values = [self._values(row, start + offset) for offset, row in enumerate(rows)]
        return list(zip(*values, strict=True)) if values else [() for _ in self.columns]

    def _values(self, row: Mapping[str, Any], index: int) -> tuple[Any, ...]:
        self._check_keys(row, index, first_row=False)
        values: list[Any] = []
        params: dict[str, Any] = {}
        pending: list[tuple[int, _Slot]] = []
        for position, slot in enumerate(self._slots):
            value = row.get(slot.key, _ABSENT)
            if value is None and slot.primary_key:
                value = _ABSENT
            if value is _ABSENT:
                if slot.fill is None:
                    raise self._absent(slot, index)
                pending.append((position, slot))
            elif value is None and not slot.column.nullable:
                raise InvalidRowError(
                    f"Row {index} sets {slot.key!r} to None, but {_where(self.target, slot.column)}"
                    " is NOT NULL. Give it a value"
                    + (", or leave the key out to use its default." if slot.fill else "."),
                    index=index,
                    column=slot.key,
                )
            else:
                params[slot.column.key] = value
            values.append(value)
        for position, slot in pending:
            assert slot.fill is not None  # checked above
            values[position] = params[slot.column.key] = _fill_value(slot.fill, params)
        return tuple(values)

    def _check_keys(self, row: Mapping[str, Any], index: int, *, first_row: bool) -> None:
        target = self.target
        for key in row:
            if key not in target.columns:
                if key in target.relationships:
                    raise InvalidRowError(
                        f"Row {index} sets the relationship {key!r} of {target.label}, but "
                        "bulk_insert() writes only columns. Set the foreign key column(s) "
                        "instead, or use session.add_all() to save related objects.",
                        index=index,
                        column=key,
                    )
                raise InvalidRowError(
                    f"Row {index} has the key {key!r}, which is not a column of "
                    f"{target.label}. Its columns are {sorted(target.columns)}; remove the key "
                    "or fix its spelling.",
                    index=index,
                    column=key,
                )
            if not first_row and key in self.left_to_database:
                if self._unset_key(key, row[key]):
                    continue
                raise InvalidRowError(
                    f"Row {index} sets {key!r}, but row 0 left "
                    f"{_where(target, target.columns[key])} to the database "
                    f"({self.left_to_database[key]}). One bulk load writes the same columns "
                    f"for every row: set {key!r} in every row or in none.",
                    index=index,
                    column=key,
                )

    def _absent(self, slot: _Slot, index: int) -> InvalidRowError:
        if slot.database_fills is not None:
            return InvalidRowError(
                f"Row {index} has no value for {slot.key!r}, which row 0 set; the database "
                f"would fill {_where(self.target, slot.column)} ({slot.database_fills}) "
                f"but one bulk load writes the same columns for every row: set {slot.key!r} "
                "in every row or in none.",
                index=index,
                column=slot.key,
            )
        return _missing(self.target, slot.column, slot.key, index)

    def processors(self, dialect: Dialect) -> Processors:
        """The SQLAlchemy bind processors of the columns that have one, by position."""
        found: Processors = []
        for position, column in enumerate(self.columns):
            column_type = column.type.dialect_impl(dialect)
            processor = column_type.bind_processor(dialect)
            if (
                processor is not None
                and isinstance(column_type, TypeDecorator)
                and column_type.impl_instance.bind_processor(dialect) is None
            ):
                # What SQLAlchemy's wrapper calls, less one Python call per value.
                processor = partial(column_type.process_bind_param, dialect=dialect)
            if processor is not None:
                found.append((position, processor))
        return found


def _where(target: Target, column: Column[Any]) -> str:
    return f"{target.table.name}.{column.name}"


def _missing(target: Target, column: Column[Any], key: str, index: int) -> InvalidRowError:
    return InvalidRowError(
        f"Row {index} has no value for {key!r}: {_where(target, column)} is NOT NULL and has "
        f"no default. Give every row a value for {key!r}.",
        index=index,
        column=key,
    )


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
    for position, processor in processors:
        try:
            columns[position] = list(map(processor, columns[position]))
        except Exception as exc:
            raise _refused_value(plan, columns[position], position, processor, start) from exc
    # Lazily: each row tuple lives only until the driver has encoded it.
    return zip(*columns, strict=True)


def _refused_value(
    plan: RowPlan,
    values: Sequence[Any],
    position: int,
    processor: Callable[[Any], Any],
    start: int,
) -> InvalidRowError:
    """The error for the first of ``values`` that the column's type refuses."""
    key = plan.keys[position]
    for offset, value in enumerate(values):
        try:
            processor(value)
        except Exception as exc:
            return InvalidRowError(
                f"Row {start + offset} has {value!r:.80} for {key!r}, which "
                f"{_where(plan.target, plan.columns[position])} cannot take: {exc}",
                index=start + offset,
                column=key,
            )
    raise AssertionError("the processor failed on the column but on none of its values")


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
    current = start  # the row asyncpg is encoding, for an error that names it

    def records() -> Iterator[tuple[Any, ...]]:
        nonlocal copied, current
        for part in slices:
            first = start + copied
            rows = _processed(plan, plan.columns_of(part, first), processors, first)
            copied += len(part)
            for current, row in enumerate(rows, first):  # noqa: B007 - read in copy()
                yield row

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
                    table.name, records=records(), columns=names, schema_name=table.schema
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
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


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
        for position, processor in plan.processors(dialect):
            try:
                list(map(processor, columns[position]))
            except Exception:
                raise _refused_value(plan, columns[position], position, processor, start) from exc
        raise
