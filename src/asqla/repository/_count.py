"""Counting a page's rows: exact, in the page query's window, or PostgreSQL's estimate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Select, event, func, inspect, literal_column, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import String

if TYPE_CHECKING:
    from .pagination import CountStrategy, PageOptions


async def count_rows(
    session: AsyncSession,
    statement: Select[Any],
    strategy: CountStrategy,
    options: PageOptions,
    *,
    seen: int,
    complete: bool,
) -> int | None:
    """The total of ``statement``'s rows, by ``strategy``; ``"window"`` counts exactly here.

    A ``"window"`` count reaches this only when the page could not carry its
    total (see `counts_in_page()`).
    """
    if strategy == "none":
        return None
    if strategy not in ("exact", "estimate", "window"):
        raise ValueError(
            f"count={strategy!r} is not a count strategy. Use 'exact', 'window', 'estimate' "
            "or 'none'."
        )
    if complete:
        return seen  # this page reached the end: the count is known without a query
    source = _counted(statement).subquery()
    # The statement's execution options shape the count as they shape the
    # page: include_deleted, for one, reaches the soft-delete hook this way.
    run = statement.get_execution_options()
    dialect = session.get_bind(clause=statement).dialect
    if strategy == "estimate" and dialect.name == "postgresql":
        estimate = await _estimate(session, source, run)
        if estimate >= options.exact_count_below:
            return max(estimate, seen)
    total = await session.scalar(sa_select(func.count()).select_from(source), execution_options=run)
    return int(total or 0)


TOTAL: Final = "_asqla_total"
"""The label of the window column that carries the total on each row of a page."""


def counts_in_page(statement: Select[Any], strategy: CountStrategy) -> bool:
    """Whether the page query of ``statement`` should carry its total as a window column.

    Only for ``count="window"``, and not with ``FOR UPDATE``: PostgreSQL
    refuses window functions there ("FOR UPDATE is not allowed with window
    functions"), and on MariaDB the window would lock every row it counts
    rather than the page's rows. Such a page falls back to an exact count.

    Raises:
        ValueError: ``count="window"`` with a ``DISTINCT`` statement.
    """
    if strategy != "window":
        return False
    # The private attributes are the only way SQLAlchemy 2.x exposes them.
    if statement._distinct:
        raise ValueError(
            "count='window' cannot count a DISTINCT statement: the window function runs "
            "before DISTINCT removes the duplicate rows, so the total would count them too. "
            "Use count='exact', which counts the distinct rows in a second query."
        )
    return statement._for_update_arg is None


def with_total(statement: Select[Any]) -> Select[Any]:
    """``statement`` with ``COUNT(*) OVER ()``, the total of its rows, as its last column.

    The window is computed over every row the ``WHERE``, ``GROUP BY`` and
    ``HAVING`` let through, before ``LIMIT`` and ``OFFSET`` cut the page.
    When SQLAlchemy nests a ``LIMIT`` query in a subquery for a joined eager
    load of a collection, the column goes into the subquery, so the window
    counts entities, not their joined rows.
    """
    return statement.add_columns(func.count().over().label(TOTAL))


def _counted(statement: Select[Any]) -> Select[Any]:
    """``statement`` cut down to what counting its rows needs.

    No ORDER BY, and no FOR UPDATE: a locking page locks its rows, not every
    row it counts. A statement of one whole entity selects only that
    entity's primary key, which tells its rows apart as well as all its
    columns do, so the count is the same with DISTINCT, GROUP BY and joins,
    and the database reads no more than it must. Loader options (eager
    loads, ``with_expression``) never apply to a subquery.
    """
    counted = statement.order_by(None)  # a copy, which the next line may change
    # SQLAlchemy has no public way to take a FOR UPDATE off a statement.
    counted._for_update_arg = None
    descriptions = statement.column_descriptions
    entity = descriptions[0].get("entity") if len(descriptions) == 1 else None
    if entity is not None and descriptions[0].get("expr") is entity:
        counted = counted.with_only_columns(*primary_key_of(entity), maintain_column_froms=True)
    return counted


_EXPLAIN: Final = "asqla_explain"


async def _estimate(session: AsyncSession, source: Any, run: Mapping[str, Any]) -> int:
    """PostgreSQL's estimate of the rows of ``source``, read from ``EXPLAIN (FORMAT JSON)``.

    The probe goes through ``session.execute`` like any query, so that the
    ORM's ``do_orm_execute`` hooks (soft-delete criteria) shape it; the
    ``EXPLAIN`` prefix is added to the SQL on its way to the driver, by a
    listener on this session's connection that only touches the probe.
    """
    probe = sa_select(type_coerce(literal_column("1"), String())).select_from(source)
    connection = (await session.connection()).sync_connection
    assert connection is not None
    event.listen(connection, "before_cursor_execute", _prefix_explain, retval=True)
    try:
        plan: Any = await session.scalar(probe, execution_options={**run, _EXPLAIN: True})
    finally:
        event.remove(connection, "before_cursor_execute", _prefix_explain)
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _prefix_explain(
    connection: Any,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    if context is not None and context.execution_options.get(_EXPLAIN):
        statement = f"EXPLAIN (FORMAT JSON) {statement}"
    return statement, parameters


def primary_key_of(entity: Any) -> list[ColumnElement[Any]]:
    """The primary-key columns of a mapped class or an ``aliased()`` one."""
    mapper = inspect(entity).mapper
    return [
        getattr(entity, mapper.get_property_by_column(column).key).__clause_element__()
        for column in mapper.primary_key
    ]
