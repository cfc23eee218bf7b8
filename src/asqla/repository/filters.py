"""Filters and sorting from untrusted input, checked against what a repository declares.

A repository declares what clients may filter and sort on; everything else is
refused with [`FilterError`][asqla.FilterError], whose ``allowed`` lists what would
have been accepted (the body of the 400 response)::

    class ArticleRepository(Repository[Article]):
        filters = FilterSpec(
            {"author.username": ["eq"]},
            title=["eq", "contains"],
            created_at=["gt", "lt"],
        )
        sortable = ("created_at", "title")

    filters = ArticleRepository.parse_filters({"title__contains": "sql", "author.username": "ada"})
    sort = ArticleRepository.parse_sort("-created_at,title")
    articles = await ArticleRepository(session).list(filters, sort=sort)

A key is ``field`` (equality) or ``field__operator``; a field is a column of
the model or a dotted path through its relationships, which becomes an
``EXISTS`` subquery. Names are matched exactly, never normalised, so a
look-alike (``"n\\u0430me"``, with a Cyrillic ``a``) is simply not declared. Values
are converted to the column's Python type and always sent as bound
parameters; the ``LIKE`` operators escape ``%`` and ``_``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from pydantic import AwareDatetime, TypeAdapter, ValidationError
from sqlalchemy import and_, inspect, true
from sqlalchemy.orm import InstrumentedAttribute, RelationshipProperty
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import DateTime

from ..exceptions import ConfigurationError, FilterError
from ..model.soft_delete import SoftDelete

__all__ = [
    "MAX_IN_VALUES",
    "OPERATORS",
    "Condition",
    "FilterSet",
    "FilterSpec",
    "Operator",
    "Sort",
    "SortField",
]

Operator = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "icontains", "startswith",
    "is_null",
]  # fmt: skip
"""An operator a filter may allow."""

OPERATORS: Final[tuple[Operator, ...]] = get_args(Operator)
"""Every operator, in the order the docs list them."""

MAX_IN_VALUES: Final = 100
"""The most values one ``in`` / ``not_in`` filter accepts (``a,b,c`` or a list)."""

_TEXT_OPERATORS: Final = frozenset({"contains", "icontains", "startswith"})
_SEPARATOR: Final = "__"
_BOOL: Final = TypeAdapter(bool)
_STR: Final = TypeAdapter(str)


@dataclass(frozen=True, slots=True)
class _Field:
    """A declared field resolved against a model: relationship hops, then a column."""

    name: str
    operators: tuple[Operator, ...]
    hops: tuple[RelationshipProperty[Any], ...]
    column: InstrumentedAttribute[Any]
    value_type: Any
    adapter: TypeAdapter[Any]

    def coerce(self, key: str, op: Operator, raw: Any, allowed: dict[str, list[str]]) -> Any:
        try:
            if raw is None:
                raise ValueError("a value is required (is_null tests for NULL)")
            if op == "is_null":
                return _BOOL.validate_python(raw)
            if op in ("in", "not_in"):
                items = (raw.split(",") if raw else []) if isinstance(raw, str) else list(raw)
                if not 0 < len(items) <= MAX_IN_VALUES:
                    raise ValueError(f"give 1 to {MAX_IN_VALUES} values, got {len(items)}")
                return tuple(_checked(self.adapter.validate_python(item)) for item in items)
            adapter = _STR if op in _TEXT_OPERATORS else self.adapter
            return _checked(adapter.validate_python(raw))
        except (ValidationError, ValueError, TypeError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise FilterError(
                f"Invalid value {raw!r} for filter {key!r}: {reason}. "
                "Send a value of the field's type.",
                allowed=allowed,
            ) from None


def _checked(value: Any) -> Any:
    # PostgreSQL refuses NUL in text with an error that would become a 500.
    if value is None or (isinstance(value, str) and "\x00" in value):
        raise ValueError("NULL and NUL characters are not accepted")
    return value


class FilterSpec:
    """Declare the fields and operators a repository accepts from untrusted input.

    Keyword arguments name columns of the model; the optional mapping first
    holds names that are not Python identifiers, such as the relationship
    path ``"author.username"``. Each maps to the operators it allows (see
    `Operator`). Paths are resolved against the model on first use, and
    a path that names no relationship or column raises
    [`ConfigurationError`][asqla.ConfigurationError] then.

    Example::

        FilterSpec({"author.username": ["eq"]}, name=["eq", "contains"], age=["gt", "lt"])
    """

    __slots__ = ("_bound", "_declared")

    def __init__(
        self,
        paths: Mapping[str, Iterable[Operator]] | None = None,
        /,
        **fields: Iterable[Operator],
    ) -> None:
        declared = {**(paths or {}), **fields}
        self._declared = {name: tuple(dict.fromkeys(ops)) for name, ops in declared.items()}
        self._bound: dict[type[Any], dict[str, _Field]] = {}
        for name, ops in self._declared.items():
            unknown = [op for op in ops if op not in OPERATORS]
            if unknown or not ops or _SEPARATOR in name:
                raise ConfigurationError(
                    f"FilterSpec field {name!r} declares operators {list(ops)!r}: give one or "
                    f"more of {list(OPERATORS)}, and a name without {_SEPARATOR!r}."
                )

    def __repr__(self) -> str:
        return f"FilterSpec({self.allowed!r})"

    @property
    def allowed(self) -> dict[str, list[str]]:
        """The declared fields and their operators, as sent back in a 400 response."""
        return {name: list(ops) for name, ops in self._declared.items()}

    def parameters(self, model: type[Any]) -> dict[str, Any]:
        """Return each query key this accepts for ``model``, with the type of its value.

        Equality is the bare field name, every other operator ``field__operator``;
        ``in`` and ``not_in`` take comma-separated text. For documentation, such
        as OpenAPI: ``{"title": str, "title__contains": str, "views__in": str}``.
        """
        keys: dict[str, Any] = {}
        special = {"in": str, "not_in": str, "is_null": bool}
        for name, declared in self._fields(model).items():
            for op in declared.operators:
                key = name if op == "eq" else f"{name}{_SEPARATOR}{op}"
                keys[key] = special.get(op, declared.value_type)
        return keys

    def parse(self, model: type[Any], params: Mapping[str, Any]) -> FilterSet:
        """Check ``params`` against the declaration and convert their values.

        Raises:
            FilterError: A key names an undeclared field or operator, or a
                value cannot be converted to the field's type.
        """
        fields = self._fields(model)
        conditions = []
        for key, raw in params.items():
            name, _, op = key.rpartition(_SEPARATOR) if _SEPARATOR in key else (key, "", "eq")
            declared = fields.get(name)
            if declared is None:
                raise FilterError(
                    f"Cannot filter on {key!r}: {name!r} is not a declared filter of "
                    f"{model.__name__}. Use one of {sorted(fields)}.",
                    allowed=self.allowed,
                )
            if op not in declared.operators:
                raise FilterError(
                    f"Filter {name!r} does not allow the operator {op!r}. "
                    f"Use one of {list(declared.operators)}.",
                    allowed=self.allowed,
                )
            value = declared.coerce(key, op, raw, self.allowed)
            conditions.append(Condition(name, op, value))
        return FilterSet(model, tuple(conditions), _fields=fields)

    def _fields(self, model: type[Any]) -> dict[str, _Field]:
        fields = self._bound.get(model)
        if fields is None:
            fields = {name: _resolve(model, name, ops) for name, ops in self._declared.items()}
            self._bound[model] = fields
        return fields


def _resolve(model: type[Any], name: str, operators: tuple[Operator, ...]) -> _Field:
    *relationships, column_name = name.split(".")
    hops: list[RelationshipProperty[Any]] = []
    current = model
    for key in relationships:
        relationship = inspect(current).relationships.get(key)
        if relationship is None:
            raise _undeclarable(model, name, f"{current.__name__} has no relationship {key!r}")
        hops.append(relationship)
        current = relationship.mapper.class_
    prop = inspect(current).column_attrs.get(column_name)
    if prop is None:
        raise _undeclarable(model, name, f"{current.__name__} has no column {column_name!r}")
    column: InstrumentedAttribute[Any] = getattr(current, column_name)
    value_type = _python_type(prop.columns[0].type)
    if _TEXT_OPERATORS.intersection(operators) and value_type is not str:
        raise _undeclarable(model, name, "contains/icontains/startswith need a text column")
    return _Field(name, operators, tuple(hops), column, value_type, TypeAdapter(value_type))


def _python_type(column_type: Any) -> Any:
    impl = getattr(column_type, "impl", column_type)  # through a TypeDecorator
    if isinstance(impl, DateTime) and impl.timezone:
        return AwareDatetime  # asqla's UTCDateTime refuses naive datetimes
    try:
        return column_type.python_type
    except NotImplementedError:
        return str


def _undeclarable(model: type[Any], name: str, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"The filter {name!r} declared for {model.__name__} cannot work: {reason}. "
        "Declare a column, or a path of relationships ending in a column ('author.username')."
    )


@dataclass(frozen=True, slots=True)
class Condition:
    """One checked filter: ``field`` (a declared name), ``operator`` and the converted value."""

    field: str
    operator: Operator
    value: Any


@dataclass(frozen=True, slots=True)
class FilterSet:
    """Filters parsed and checked by `FilterSpec.parse()`; pass it to a repository read.

    Empty when the input had no filters, in which case it matches every row.
    """

    model: type[Any]
    conditions: tuple[Condition, ...] = ()
    _fields: Mapping[str, _Field] = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def where_clause(self, *, include_deleted: bool = False) -> ColumnElement[bool]:
        """Return the SQL condition for these filters, all values bound.

        Conditions through the same relationship share one ``EXISTS``, so
        ``{"tags.name": "red", "tags.name__ne": "old"}`` needs one tag that
        matches both. Soft-deleted related rows never match unless
        ``include_deleted``.
        """
        pending = [(self._fields[c.field].hops, c) for c in self.conditions]
        return and_(true(), *self._clauses(pending, include_deleted))

    def _clauses(
        self,
        pending: list[tuple[tuple[RelationshipProperty[Any], ...], Condition]],
        include_deleted: bool,
    ) -> list[ColumnElement[bool]]:
        clauses = [_compare(self._fields[c.field].column, c) for hops, c in pending if not hops]
        through: dict[RelationshipProperty[Any], list[Any]] = {}
        for hops, condition in pending:
            if hops:
                through.setdefault(hops[0], []).append((hops[1:], condition))
        for relationship, nested in through.items():
            inner = self._clauses(nested, include_deleted)
            target = relationship.mapper.class_
            if issubclass(target, SoftDelete) and not include_deleted:
                inner.append(target.deleted_at.is_(None))
            attribute: Any = relationship.class_attribute
            exists = attribute.any if relationship.uselist else attribute.has
            clauses.append(exists(and_(*inner)))
        return clauses


_COMPARISONS: Final[dict[str, Callable[[Any, Any], ColumnElement[bool]]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "in": lambda column, value: column.in_(value),
    "not_in": lambda column, value: column.not_in(value),
    # autoescape: % and _ in the value match themselves (ESCAPE '/').
    "contains": lambda column, value: column.contains(value, autoescape=True),
    "icontains": lambda column, value: column.icontains(value, autoescape=True),
    "startswith": lambda column, value: column.startswith(value, autoescape=True),
    "is_null": lambda column, value: column.is_(None) if value else column.is_not(None),
}


def _compare(column: InstrumentedAttribute[Any], condition: Condition) -> ColumnElement[bool]:
    return _COMPARISONS[condition.operator](column, condition.value)


@dataclass(frozen=True, slots=True)
class SortField:
    """One sort key: a declared column name, ascending unless ``descending``."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Sort:
    """An order checked against a repository's ``sortable`` columns.

    Parse it from ``"-created_at,name"`` (``-`` for descending) with
    `parse()`, or through ``Repository.parse_sort``.
    """

    keys: tuple[SortField, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keys)

    @classmethod
    def parse(cls, text: str | None, *, model: type[Any], sortable: Iterable[str]) -> Sort:
        """Parse ``"-created_at,name"``, allowing only the columns in ``sortable``.

        Raises:
            FilterError: A key is not sortable, repeated, or empty.
        """
        allowed = [name for name in sortable if _sortable_column(model, name)]
        keys: list[SortField] = []
        for item in text.split(",") if text else ():
            name = item.strip()
            descending = name.startswith("-")
            name = name.removeprefix("-")
            if name not in allowed or any(key.field == name for key in keys):
                raise FilterError(
                    f"Cannot sort by {item!r}: sort by one or more of {allowed} separated by "
                    "commas, each at most once, with '-' in front for descending order.",
                    allowed={"sort": allowed},
                )
            keys.append(SortField(name, descending))
        return cls(tuple(keys))

    def order_by(self, model: type[Any]) -> list[ColumnElement[Any]]:
        """Return the ``ORDER BY`` expressions for ``model``."""
        columns = [getattr(model, key.field) for key in self.keys]
        return [
            column.desc() if key.descending else column.asc()
            for key, column in zip(self.keys, columns, strict=True)
        ]


def _sortable_column(model: type[Any], name: str) -> bool:
    if name not in inspect(model).column_attrs:
        raise ConfigurationError(
            f"sortable names {name!r}, which is not a column of {model.__name__}. "
            "List column attribute names only."
        )
    return True
