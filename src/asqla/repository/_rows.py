"""How the input rows of a bulk load become column values.

A bulk load writes the same columns for every row. `RowPlan` fixes them
from the first row, then turns each row (a mapping or a model instance)
into column values, with the Python-side column defaults applied and bad
rows refused, with an `InvalidRowError` naming the row and the column,
before anything reaches the database. `_copy` writes the values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import filterfalse, repeat
from operator import eq, is_, itemgetter
from typing import Any, Final, TypeAlias

from sqlalchemy import Column, Table, inspect
from sqlalchemy.orm import Mapper

from ..exceptions import InvalidRowError

__all__ = ["Columns", "RowPlan", "Target", "as_mapping", "refused_value"]

Columns: TypeAlias = list[Sequence[Any]]
"""The values of a batch of rows, one sequence per column of `RowPlan.columns`."""

_ABSENT: Final = object()


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
                if not any(_has_none(given[i]) for i in self._required):
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


def _has_none(values: Sequence[Any]) -> bool:
    """Whether ``values`` holds a ``None``."""
    # None is falsy: only the falsy values (0, "", usually none) are compared
    # with it, one C loop instead of a call of is_() per value. A value whose
    # truth is undefined (a NumPy array, pandas.NA) makes us compare them all.
    try:
        falsy: Iterable[Any] = list(filterfalse(None, values))
    except Exception:
        falsy = values
    return any(map(is_, falsy, repeat(None)))


def _where(target: Target, column: Column[Any]) -> str:
    return f"{target.table.name}.{column.name}"


def _missing(target: Target, column: Column[Any], key: str, index: int) -> InvalidRowError:
    return InvalidRowError(
        f"Row {index} has no value for {key!r}: {_where(target, column)} is NOT NULL and has "
        f"no default. Give every row a value for {key!r}.",
        index=index,
        column=key,
    )


def refused_value(
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
