"""Alembic's autogenerate differences, in words a reviewer reads at a glance."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, Index, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import Constraint, DefaultClause

from ._results import SchemaDifference

__all__ = ["describe_diffs"]


def describe_diffs(diffs: Iterable[Any], dialect: Dialect) -> tuple[SchemaDifference, ...]:
    """One `SchemaDifference` per entry of ``UpgradeOps.as_diffs()``."""
    return tuple(_describe(diff, dialect) for diff in _flatten(diffs))


def _flatten(diffs: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    # An altered column comes as a list of tuples, one per attribute changed.
    for diff in diffs:
        if isinstance(diff, list):
            yield from _flatten(diff)
        else:
            yield diff


def _describe(diff: tuple[Any, ...], dialect: Dialect) -> SchemaDifference:
    operation = str(diff[0])
    if operation in ("add_table", "remove_table"):
        table: Table = diff[1]
        columns = ", ".join(column.name for column in table.columns)
        if operation == "add_table":
            detail = f"+ table {table.name} ({columns}): in the models, not in the database"
        else:
            detail = f"- table {table.name} ({columns}): in the database, not in the models"
        return SchemaDifference(operation=operation, table=table.name, detail=detail)
    if operation in ("add_column", "remove_column"):
        _, _, table_name, column = diff
        sign, where = (
            ("+", "in the models only")
            if operation == "add_column"
            else ("-", "in the database only")
        )
        detail = f"{sign} column {table_name}.{_column(column, dialect)}: {where}"
        return SchemaDifference(operation=operation, table=table_name, detail=detail)
    if operation.startswith("modify_"):
        _, _, table_name, column_name, _, old, new = diff
        what = operation.removeprefix("modify_").replace("_", " ")
        detail = (
            f"~ {table_name}.{column_name}: {what} "
            f"{_value(operation, old, dialect)} in the database, "
            f"{_value(operation, new, dialect)} in the models"
        )
        return SchemaDifference(operation=operation, table=table_name, detail=detail)
    if operation in ("add_index", "remove_index"):
        index: Index = diff[1]
        table_name = index.table.name if index.table is not None else None
        unique = "unique " if index.unique else ""
        expressions = ", ".join(str(e) for e in index.expressions)
        sign = "+" if operation == "add_index" else "-"
        detail = f"{sign} {unique}index {index.name} on {table_name} ({expressions})"
        return SchemaDifference(operation=operation, table=table_name, detail=detail)
    if operation in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint: Constraint = diff[1]
        table_name = _constraint_table(constraint)
        sign = "+" if operation.startswith("add") else "-"
        detail = f"{sign} {_constraint(constraint, table_name)}"
        return SchemaDifference(operation=operation, table=table_name, detail=detail)
    if operation in ("add_table_comment", "remove_table_comment"):
        table = diff[1]
        detail = f"~ table {table.name}: comment {table.comment!r} in the models"
        return SchemaDifference(operation=operation, table=table.name, detail=detail)
    return SchemaDifference(operation=operation, table=None, detail=f"{operation}: {diff[1:]!r}")


def _column(column: Column[Any], dialect: Dialect) -> str:
    null = "NULL" if column.nullable else "NOT NULL"
    return f"{column.name} {_type(column.type, dialect)} {null}"


def _value(operation: str, value: Any, dialect: Dialect) -> str:
    if operation == "modify_type":
        return _type(value, dialect)
    if operation == "modify_nullable":
        return "NULL" if value else "NOT NULL"
    if operation == "modify_default":
        if value is None:
            return "none"
        if isinstance(value, DefaultClause):
            value = value.arg
        text = getattr(value, "text", None)
        if text is not None:
            return repr(text)
        try:
            return repr(str(value.compile(dialect=dialect)))
        except Exception:  # an object that does not compile: show it as is
            return repr(value)
    return repr(value)


def _type(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a type this dialect cannot render (a reflected NullType)
        return repr(type_)


def _constraint_table(constraint: Constraint) -> str | None:
    table = getattr(constraint, "table", None)
    return table.name if isinstance(table, Table) else None


def _constraint(constraint: Constraint, table_name: str | None) -> str:
    columns = ", ".join(column.name for column in getattr(constraint, "columns", ()))
    kind = type(constraint).__name__.removesuffix("Constraint").lower() or "constraint"
    if isinstance(constraint, ForeignKeyConstraint):
        referred = constraint.referred_table.name
        targets = ", ".join(element.column.name for element in constraint.elements)
        return (
            f"foreign key {constraint.name} on {table_name} ({columns}) -> {referred} ({targets})"
        )
    return f"{kind} constraint {constraint.name} on {table_name} ({columns})"
