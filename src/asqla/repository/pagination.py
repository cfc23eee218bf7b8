"""Offset and keyset pagination of a ``Select``, answered with one ``Page`` shape.

Both functions take the session and the filtered statement, and never commit.

- `paginate_offset()` is ``LIMIT``/``OFFSET``: any page can be asked for
  by number, but deep pages cost a scan of every row before them, and rows
  inserted or deleted meanwhile shift later pages.
- `paginate_keyset()` continues after (or before) the sort values of the
  last row seen, carried by a signed cursor: every page costs the same, and
  a walk through the pages returns every row that existed when it started
  exactly once, whatever is inserted or deleted while it goes on.

NULLs sort as the smallest values on every backend (first in an ascending
sort, last in a descending one; PostgreSQL is told so explicitly), unless a
key says otherwise with ``nulls_first()`` / ``nulls_last()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    Select,
    and_,
    false,
    or_,
    type_coerce,
)
from sqlalchemy.engine import Dialect, FrozenResult, Result, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, Label, UnaryExpression
from sqlalchemy.sql.schema import Table
from sqlalchemy.types import NullType

from ..exceptions import InvalidQueryError
from ._count import count_rows, counts_in_page, primary_key_of, with_total
from ._cursor import CursorSigner, decode_cursor, default_signer, encode_cursor

__all__ = [
    "DEFAULT_OPTIONS",
    "CountStrategy",
    "CursorSigner",
    "Page",
    "PageOptions",
    "SortKey",
    "default_signer",
    "paginate_keyset",
    "paginate_offset",
]

T = TypeVar("T")

CountStrategy: TypeAlias = Literal["exact", "window", "estimate", "none"]
"""How `Page.total` is found: ``"exact"``, a ``COUNT(*)`` query after the page;
``"window"``, ``COUNT(*) OVER ()`` in the page query itself (offset pagination
only); ``"estimate"``, the planner's estimate; ``"none"``, not at all."""

KeysetCountStrategy: TypeAlias = Literal["exact", "estimate", "none"]
"""The count strategies of keyset pagination: a window after a cursor would
count only the rows after it, so ``"window"`` is not one of them."""

SortKey: TypeAlias = "ColumnElement[Any] | QueryableAttribute[Any]"
"""A sort key: ``Post.title``, ``Post.created_at.desc()``, ``Post.due.asc().nulls_last()``."""


class Page(BaseModel, Generic[T]):
    """One page of results, for offset and keyset pagination alike.

    Attributes:
        items: The rows of this page, in the requested order.
        next: What to pass to get the following page (a cursor string for
            keyset pagination, an offset for offset pagination), or ``None``
            on the last page.
        previous: The same for the page before, or ``None`` on the first page.
        total: The number of rows of the whole query, or ``None`` if it was
            not counted (``count="none"``); an estimate with ``count="estimate"``.
        limit: The page size that was asked for.

    ``Page[PostOut]`` works as a FastAPI ``response_model``: the items are
    read from attributes, so ORM objects validate into a pydantic model that
    has ``from_attributes=True``.
    """

    model_config = ConfigDict(frozen=True, from_attributes=True)

    items: list[T]
    next: str | int | None = None
    previous: str | int | None = None
    total: int | None = None
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PageOptions:
    """What a service allows its clients to ask of pagination.

    Attributes:
        max_limit: The largest page a client may ask for. A larger ``limit``
            raises [`InvalidQueryError`][asqla.InvalidQueryError] (HTTP 400) rather than
            being cut down silently, so that a client never mistakes a short
            page for the end of the data or for a smaller dataset.
        exact_count_below: With ``count="estimate"``, an estimate below this
            is replaced by an exact count: small counts are cheap, and the
            planner's guesses for small or freshly filled tables are poor.
    """

    max_limit: int = 100
    exact_count_below: int = 1000

    def __post_init__(self) -> None:
        if self.max_limit < 1 or self.exact_count_below < 0:
            raise ValueError(
                f"PageOptions(max_limit={self.max_limit!r}, "
                f"exact_count_below={self.exact_count_below!r}) cannot work: max_limit must be "
                "at least 1 and exact_count_below at least 0."
            )


DEFAULT_OPTIONS: Final = PageOptions()
"""The options used when none are given: pages of at most 100 rows."""


async def paginate_offset(
    session: AsyncSession,
    statement: Select[T],
    *,
    limit: int,
    offset: int = 0,
    sort: Sequence[SortKey] = (),
    count: CountStrategy = "exact",
    options: PageOptions = DEFAULT_OPTIONS,
) -> Page[T]:
    """Return the ``limit`` rows of ``statement`` that follow the first ``offset``.

    The rows are ordered by ``sort``, or by the statement's own ``ORDER BY``
    if there is no ``sort`` (giving both is an error), and then by the
    primary key (in the direction of the last key of ``sort``, ascending
    after the statement's own order), so that pages never overlap.
    ``Page.next`` and ``Page.previous`` are offsets. ``total`` comes from
    ``count``: ``"exact"`` runs ``COUNT(*)`` over the statement (over its
    primary key alone when it selects one entity, and without its ``ORDER
    BY`` or ``FOR UPDATE``), ``"none"`` skips it, and ``"estimate"`` reads
    the row estimate of PostgreSQL's planner (``EXPLAIN``) at the cost of
    planning the query; on the other backends it counts exactly. Either
    count is skipped when the page itself shows the total (the last page,
    or a first page that is not full).

    ``"window"`` adds ``COUNT(*) OVER ()`` to the page query, so that the
    page and its total come back in one round trip; the database still
    counts every matching row, as ``"exact"`` does. A page past the end has
    no row to carry the total, and a ``FOR UPDATE`` statement takes no
    window function (PostgreSQL refuses it, and it would lock every counted
    row): both fall back to the exact count query. A ``DISTINCT`` statement
    is refused, as the window would count the rows DISTINCT removes.

    Raises:
        InvalidQueryError: ``limit`` is not between 1 and ``options.max_limit``,
            or ``offset`` is negative.
        ValueError: The statement has a ``LIMIT`` or ``OFFSET``, or an ``ORDER
            BY`` as well as ``sort``; or ``count="window"`` with ``DISTINCT``.

    Example::

        page = await paginate_offset(session, select(Post), limit=20, offset=40,
                                     sort=[Post.created_at.desc()])
    """
    _check_limit(limit, options)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidQueryError(
            f"offset={offset!r} is not a whole number of zero or more. Pass the `next` or "
            "`previous` value of a page, or 0 for the first page.",
            allowed={"offset": [">= 0"]},
        )
    _check_unpaginated(statement, ordered=bool(sort))
    windowed = counts_in_page(statement, count)
    dialect = _dialect(session, statement)
    keys = _keys(statement, sort, required=False)
    if sort or not statement._order_by_clauses:
        ordered = statement.order_by(*_order_by(keys, dialect))
    else:
        # The statement's own order comes first; the primary key makes it total.
        ordered = statement.order_by(*(key.expr for key in keys))
    query = ordered.limit(limit + 1).offset(offset)
    result = await session.execute(with_total(query) if windowed else query)
    frozen = _maybe_unique(result, statement).freeze()
    rows = list(frozen().all())
    more = len(rows) > limit
    width = len(statement.column_descriptions)
    items = _items(frozen, rows[:limit], width)
    total: int | None
    if windowed and rows:
        total = int(rows[0][width])  # every row carries the same total
    else:
        # The last page shows the total, unless it is empty past the end.
        complete = not more and (bool(items) or offset == 0)
        total = await count_rows(
            session, statement, count, options, seen=offset + len(items), complete=complete
        )
    return Page.model_construct(
        items=items,
        next=offset + limit if more else None,
        previous=max(offset - limit, 0) if offset > 0 else None,
        total=total,
        limit=limit,
    )


async def paginate_keyset(
    session: AsyncSession,
    statement: Select[T],
    *,
    sort: Sequence[SortKey] = (),
    limit: int,
    after: str | None = None,
    before: str | None = None,
    count: KeysetCountStrategy = "none",
    signer: CursorSigner | None = None,
    options: PageOptions = DEFAULT_OPTIONS,
) -> Page[T]:
    """Return the ``limit`` rows of ``statement`` after (or before) a cursor.

    Rows are ordered by ``sort`` and then by the primary key of the
    statement's first entity (or table), which is added unless ``sort``
    names it already, so the order is total; it runs in the direction of
    the last key, so that an index on ``(created_at, id)`` serves
    ``created_at DESC, id DESC``. Keys may mix ascending and descending.
    Without a cursor the first page comes back. ``after=page.next`` gives
    the page that follows; ``before=page.previous`` the page that
    precedes, its items still in the sort order. ``next`` is ``None`` on the
    last page and ``previous`` on the first; an empty page has neither.

    The statement must not have an ``ORDER BY``, ``LIMIT`` or ``OFFSET`` of
    its own. Cursors are signed by ``signer`` (default:
    `default_signer()`, from
    ``ASQLA_CURSOR_SECRET``) and bound to the statement's SQL and the sort,
    but not to its parameter values, so that a filter on "now" does not make
    every cursor stale. ``count`` works as in `paginate_offset()` and
    defaults to ``"none"``; ``"window"`` is refused, since a window over the
    rows after a cursor would count only those.

    Raises:
        InvalidCursorError: The cursor is garbage, tampered with, signed with
            another secret, or was issued for another query or sort.
        InvalidQueryError: ``limit`` is out of bounds, or both ``after`` and
            ``before`` were given.
        ValueError: The statement has an ``ORDER BY``, ``LIMIT`` or ``OFFSET``,
            or no primary key to make the order total; or ``count="window"``.

    Example::

        page = await paginate_keyset(session, select(Post).where(Post.published),
                                     sort=[Post.created_at.desc()], limit=20, after=cursor)
    """
    _check_limit(limit, options)
    if str(count) == "window":  # refused by its type too; an untyped caller may pass it
        raise ValueError(
            "count='window' does not work with keyset pagination: a window over the rows "
            "after a cursor counts only those rows, not the whole query. Use count='exact' "
            "(a second query) or count='none'."
        )
    if after is not None and before is not None:
        raise InvalidQueryError(
            "Both `after` and `before` were given; a page is read in one direction. Pass "
            "`after` to go forward or `before` to go back."
        )
    _check_unpaginated(statement, ordered=True)
    dialect = _dialect(session, statement)
    keys = _keys(statement, sort, required=True)
    signer = signer or default_signer()
    fingerprint = _fingerprint(statement, keys, dialect)
    backward = before is not None
    cursor = before if backward else after
    walk = [key.reversed() for key in keys] if backward else keys
    width = len(statement.column_descriptions)
    query = statement.add_columns(
        *(type_coerce(key.expr, NullType()).label(f"_asqla_key_{i}") for i, key in enumerate(walk))
    )
    if cursor is not None:
        values = decode_cursor(signer, cursor, fingerprint, len(keys))
        query = query.where(_beyond(walk, values))
    result = await session.execute(query.order_by(*_order_by(walk, dialect)).limit(limit + 1))
    frozen = _maybe_unique(result, statement).freeze()
    rows = list(frozen().all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    items = _items(frozen, rows, width)
    has_next, has_previous = (True, more) if backward else (more, cursor is not None)
    total = await count_rows(
        session,
        statement,
        count,
        options,
        seen=len(items),
        complete=cursor is None and not more,
    )
    return Page.model_construct(
        items=items,
        next=encode_cursor(signer, fingerprint, rows[-1][width:]) if rows and has_next else None,
        previous=encode_cursor(signer, fingerprint, rows[0][width:])
        if rows and has_previous
        else None,
        total=total,
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class _Key:
    expr: ColumnElement[Any]
    descending: bool
    nulls_first: bool
    nullable: bool

    def reversed(self) -> _Key:
        return replace(self, descending=not self.descending, nulls_first=not self.nulls_first)


def _check_limit(limit: int, options: PageOptions) -> None:
    allowed = {"limit": [f"1..{options.max_limit}"]}
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidQueryError(
            f"limit={limit!r} is not a page size. Ask for between 1 and {options.max_limit} "
            "items per page.",
            allowed=allowed,
        )
    if limit > options.max_limit:
        raise InvalidQueryError(
            f"limit={limit!r} is above the largest page size, {options.max_limit}. Ask for at "
            f"most {options.max_limit} items per page and follow `next` for the rest.",
            allowed=allowed,
        )


def _check_unpaginated(statement: Select[Any], *, ordered: bool) -> None:
    # The private attributes are the only way SQLAlchemy 2.x exposes them.
    clauses = {
        "LIMIT": statement._limit_clause is not None,
        "OFFSET": statement._offset_clause is not None,
        "ORDER BY": ordered and bool(statement._order_by_clauses),
    }
    found = [name for name, present in clauses.items() if present]
    if found:
        fix = "pass the order as sort=[...]" if "ORDER BY" in found else "the page sets them"
        raise ValueError(
            f"The statement to paginate already has {' and '.join(found)}: {statement}. "
            f"Remove {'it' if len(found) == 1 else 'them'}; {fix}."
        )


def _dialect(session: AsyncSession, statement: Select[Any]) -> Dialect:
    return session.get_bind(clause=statement).dialect


def _keys(statement: Select[Any], sort: Sequence[SortKey], *, required: bool) -> list[_Key]:
    primary_key = _primary_key(statement)
    if primary_key is None and required:
        raise ValueError(
            f"Cannot find a primary key to make the order of {statement} total. Select "
            "a mapped entity, or a single table that has a primary key."
        )
    return [_parse(item) for item in break_ties(sort, primary_key or ())]


def break_ties(sort: Sequence[SortKey], primary_key: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    """Return ``sort``, then the ``primary_key`` columns it does not name, to make it total.

    The key runs in the direction of the last sort key (ascending when
    there is none): ``-created_at`` becomes ``created_at DESC, id DESC``.
    One direction throughout is what a plain btree index on
    ``(created_at, id)`` serves by reading it backward; ``id ASC`` would mix
    directions, and PostgreSQL and MariaDB would then sort every row. The
    key is never NULL, so where NULLs go does not arise for it.
    """
    order = [_clause(item) for item in sort]
    named = [_unwrap(item)[0] for item in order]
    descending = bool(order) and _unwrap(order[-1])[1]
    for column in map(_clause, primary_key):
        if not any(isinstance(name, ColumnElement) and name.compare(column) for name in named):
            order.append(column.desc() if descending else column.asc())
    return order


def order_for(sort: Sequence[SortKey], dialect: Dialect) -> list[ColumnElement[Any]]:
    """``sort`` as ``ORDER BY`` terms for ``dialect``, NULLs placed as pages place them.

    NULLs are the smallest values on every backend unless a key says
    otherwise, so that an unpaged read orders rows as its pages do, and
    ``nulls_first()``/``nulls_last()`` work on MySQL and MariaDB too, which
    have no such syntax. Terms that are not column expressions pass as given.
    """
    terms: list[ColumnElement[Any]] = []
    for item in sort:
        if isinstance(_unwrap(_clause(item))[0], ColumnElement):
            terms += _order_by([_parse(item)], dialect)
        else:
            terms.append(_clause(item))
    return terms


def _parse(item: SortKey) -> _Key:
    element, descending, nulls_first = _unwrap(_clause(item))
    if not isinstance(element, ColumnElement):
        raise TypeError(
            f"Sort key {item!r} is not a column expression. Pass mapped attributes or "
            "expressions such as Post.title or Post.created_at.desc()."
        )
    if nulls_first is None:
        nulls_first = not descending  # NULLs are the smallest values
    return _Key(element, descending, nulls_first, nullable=_nullable(element))


def _clause(item: SortKey) -> ColumnElement[Any]:
    return item.__clause_element__() if isinstance(item, QueryableAttribute) else item


def _unwrap(clause: ColumnElement[Any]) -> tuple[Any, bool, bool | None]:
    """Return what ``asc()``/``desc()``/``nulls_*()`` wrap, if descending, if NULLs first.

    The last is ``None`` when the clause does not say.
    """
    element: Any = clause
    descending, nulls_first = False, None
    while isinstance(element, UnaryExpression) and element.modifier in _MODIFIERS:
        if element.modifier is operators.desc_op:
            descending = True
        elif element.modifier is not operators.asc_op:
            nulls_first = element.modifier is operators.nulls_first_op
        element = element.element
    return element, descending, nulls_first


_MODIFIERS: Final = (
    operators.asc_op,
    operators.desc_op,
    operators.nulls_first_op,
    operators.nulls_last_op,
)


def _nullable(element: ColumnElement[Any]) -> bool:
    while isinstance(element, Label):
        element = element.element
    # An expression (lower(title), a + b) may be NULL whatever its columns are.
    return bool(element.nullable) if isinstance(element, Column) else True


def _primary_key(statement: Select[Any]) -> list[ColumnElement[Any]] | None:
    descriptions = statement.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if entity is not None:
        return primary_key_of(entity)
    froms = statement.get_final_froms()
    if len(froms) == 1 and isinstance(froms[0], Table) and froms[0].primary_key.columns:
        return list(froms[0].primary_key.columns)
    return None


# Where each backend puts NULLs in an ascending sort when not told.
_NULLS_FIRST_ASCENDING: Final = {"sqlite": True, "mysql": True, "mariadb": True}


def _order_by(keys: Sequence[_Key], dialect: Dialect) -> list[ColumnElement[Any]]:
    terms: list[ColumnElement[Any]] = []
    for key in keys:
        term = key.expr.desc() if key.descending else key.expr.asc()
        native = _NULLS_FIRST_ASCENDING.get(dialect.name, False) != key.descending
        if key.nullable and native != key.nulls_first:
            if dialect.name in ("mysql", "mariadb"):
                # No NULLS FIRST/LAST in MySQL/MariaDB: sort on IS NULL first.
                is_null = key.expr.is_(None)
                terms.append(is_null.desc() if key.nulls_first else is_null.asc())
            else:
                term = term.nulls_first() if key.nulls_first else term.nulls_last()
        terms.append(term)
    return terms


def _beyond(keys: Sequence[_Key], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``keys``.

    ``(a, b, c) > (x, y, z)`` spelled as ``a > x OR (a = x AND b > y) OR
    (a = x AND b = y AND c > z)``, with ``<`` for descending keys and NULLs
    placed as the keys say: unlike a row-value comparison this works with
    mixed directions and on every backend. The values are the raw column
    values the database returned, compared without type processing, so that
    a SQLite datetime stored as ``'... 10:00:00.123'`` equals itself rather
    than a re-rendered ``'... 10:00:00.123000'``.
    """
    raw = [type_coerce(key.expr, NullType()) for key in keys]
    branches = []
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        step = _step(key, raw[i], value)
        if step is not None:
            same = [
                column.is_(None) if v is None else column == v
                for column, v in zip(raw[:i], values[:i], strict=True)
            ]
            branches.append(and_(*same, step))
    condition: ColumnElement[bool] = or_(*branches) if branches else false()
    lead, value = keys[0], values[0]
    if len(keys) > 1 and value is not None and (lead.nulls_first or not lead.nullable):
        # Redundant, but lets the backend use an index range scan on the first key.
        bound = raw[0] <= value if lead.descending else raw[0] >= value
        condition = and_(bound, condition)
    return condition


def _step(key: _Key, column: ColumnElement[Any], value: Any) -> ColumnElement[bool] | None:
    if value is None:
        return column.is_not(None) if key.nulls_first else None
    beyond: ColumnElement[bool] = column < value if key.descending else column > value
    if key.nullable and not key.nulls_first:
        return or_(beyond, column.is_(None))
    return beyond


_fingerprints: dict[Any, str] = {}


def _fingerprint(statement: Select[Any], keys: Sequence[_Key], dialect: Dialect) -> str:
    """A digest of the statement's SQL and the sort, stable across processes.

    Parameter values are left out: a cursor stays valid for the same query
    shape with other values (``created_at < :now``). SQL text is the same
    in every worker running the same code; it is memoised on SQLAlchemy's
    cache key, which is cheap to build but only valid within one process.
    """
    probe = statement.order_by(*(key.expr for key in keys))
    flags = "".join(f"{'d' if k.descending else 'a'}{'f' if k.nulls_first else 'l'}" for k in keys)
    cache_key = probe._generate_cache_key()
    memo = None if cache_key is None else (cache_key.key, flags, dialect.name)
    if memo is not None and memo in _fingerprints:
        return _fingerprints[memo]
    text = str(probe.compile(dialect=dialect))
    digest = hashlib.sha256(f"{flags}\n{text}".encode()).hexdigest()[:16]
    if memo is not None:
        if len(_fingerprints) >= 1024:
            _fingerprints.clear()
        _fingerprints[memo] = digest
    return digest


def _maybe_unique(result: Result[Any], statement: Select[Any]) -> Result[Any]:
    # Joined eager loads of collections repeat an entity over several rows,
    # and SQLAlchemy refuses to return them without unique(). Only whole
    # entities are made unique: plain column rows may legitimately repeat.
    whole = all(
        d.get("entity") is not None and d.get("expr") is d.get("entity")
        for d in statement.column_descriptions
    )
    return result.unique() if whole else result


def _items(frozen: FrozenResult[Any], rows: list[Row[Any]], width: int) -> list[Any]:
    """The rows without the sort-key or total columns: entities, scalars, or ``Row`` objects."""
    if width == 1:
        return [row[0] for row in rows]
    return list(frozen.with_new_rows(rows)().columns(*range(width)).all())
