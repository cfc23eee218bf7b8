"""Write the batched statement that replaces a per-row loop, as code the user can paste.

The statement the loop ran is at hand (the ORM statement, or the Core one
that was compiled): its first entity is what to select, and the equality in
its WHERE clause whose value changed from one run to the next is the column
to batch on: ``select(Post).where(Post.user_id.in_(ids))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause

from ._records import Execution

__all__ = ["batched_select", "grouped_count"]

_Comparison = tuple[ColumnClause[Any], Any]


def batched_select(executions: Sequence[Execution]) -> str | None:
    """Return ``select(X).where(X.col.in_(ids))`` for a statement run once per row."""
    statement = executions[0].statement
    column = _varying_column(executions)
    entity = _entity(statement)
    if column is None or entity is None:
        return None
    return f"select({entity}).where({column}.in_(ids))"


def grouped_count(executions: Sequence[Execution]) -> str | None:
    """Return the one grouped count that replaces a count run once per row."""
    column = _varying_column(executions)
    if column is None:
        return None
    return f"select({column}, func.count()).where({column}.in_(ids)).group_by({column})"


def _entity(statement: Any) -> str | None:
    for description in getattr(statement, "column_descriptions", ()):
        entity = description.get("entity")
        if entity is not None:
            return str(getattr(entity, "__name__", entity))
    froms: list[Any] = getattr(statement, "get_final_froms", list)()
    return f"{froms[0].name}" if len(froms) == 1 and hasattr(froms[0], "name") else None


def _varying_column(executions: Sequence[Execution]) -> str | None:
    first = executions[0]
    comparisons = _comparisons(first)
    if not comparisons:
        return None
    chosen = comparisons[0][0]
    other = next((e for e in executions[1:] if e.key != first.key), None)
    if other is not None:
        pairs = zip(comparisons, _comparisons(other), strict=False)
        changed = [mine[0] for mine, theirs in pairs if mine[1] != theirs[1]]
        if changed:
            chosen = changed[0]
    return _column_name(chosen, first.statement)


def _comparisons(execution: Execution) -> list[_Comparison]:
    """Return the ``column = value`` equalities of the WHERE clause, in order."""
    where = getattr(execution.statement, "whereclause", None)
    if where is None:
        return []
    parameters = execution.orm.parameters if execution.orm is not None else None
    found: list[_Comparison] = []
    for element in visitors.iterate(where):
        if not isinstance(element, BinaryExpression) or element.operator is not operators.eq:
            continue
        left, right = element.left, element.right
        if isinstance(left, BindParameter):
            left, right = right, left
        if isinstance(left, ColumnClause) and isinstance(right, BindParameter):
            value = right.effective_value
            if isinstance(parameters, dict) and right.key in parameters:
                value = parameters[right.key]
            found.append((left, value))
    return found


def _column_name(column: ColumnClause[Any], statement: Any) -> str:
    """Render ``column`` as the user would write it: ``Post.user_id``, else ``post.c.user_id``."""
    annotations = getattr(column, "_annotations", {})
    mapper = annotations.get("parententity")
    if mapper is not None and hasattr(mapper, "class_"):
        return f"{mapper.class_.__name__}.{annotations.get('proxy_key') or column.key}"
    for description in getattr(statement, "column_descriptions", ()):
        entity = description.get("entity")
        if entity is None:
            continue
        try:
            prop = inspect(entity).get_property_by_column(column)
        except (UnmappedColumnError, AttributeError, KeyError):
            continue
        return f"{entity.__name__}.{prop.key}"
    table = getattr(column, "table", None)
    return f"{table.name}.c.{column.key}" if table is not None else column.key
