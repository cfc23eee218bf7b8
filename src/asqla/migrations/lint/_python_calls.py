"""One call in ``upgrade()`` to Operations: ``op.*``, ``batch_op.*`` and ``bind.execute``."""

from __future__ import annotations

import ast
from functools import partial
from typing import TYPE_CHECKING, Any

from ._ops import Kind
from ._python_columns import (
    keyword,
    last_name,
    literal_bool,
    literal_str,
    read_column,
    read_type,
)
from ._sql_ops import read_sql

if TYPE_CHECKING:
    from ._python import Walker

# Alembic's positional parameters (alembic/op.pyi); batch_op.* drop the table.
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "add_column": ("table_name", "column"),
    "drop_column": ("table_name", "column_name"),
    "alter_column": ("table_name", "column_name"),
    "create_index": ("index_name", "table_name", "columns"),
    "drop_index": ("index_name", "table_name"),
    "create_foreign_key": (
        "constraint_name",
        "source_table",
        "referent_table",
        "local_cols",
        "remote_cols",
    ),
    "create_check_constraint": ("constraint_name", "table_name", "condition"),
    "create_unique_constraint": ("constraint_name", "table_name", "columns"),
    "create_primary_key": ("constraint_name", "table_name", "columns"),
    "drop_constraint": ("constraint_name", "table_name", "type_"),
    "create_table": ("table_name",),
    "drop_table": ("table_name",),
    "rename_table": ("old_table_name", "new_table_name"),
    "execute": ("sqltext",),
    "bulk_insert": ("table", "rows"),
}
_TABLE_PARAMETERS = {"table_name", "source_table"}
_NOT_OPERATIONS = {
    "get_bind",
    "get_context",
    "f",
    "inline_literal",
    "batch_alter_table",
    "implementation_for",
    "register_operation",
    "run_async",
}
_CONSTRAINTS = {
    "ForeignKeyConstraint": "foreignkey",
    "UniqueConstraint": "unique",
    "CheckConstraint": "check",
}
_DATA_CONSTRUCTS = {"update", "insert", "delete"}


def is_bind(walker: Walker, node: ast.AST) -> bool:
    """``op.get_bind()``, ``op.get_context().connection`` or a name bound to one."""
    if isinstance(node, ast.Name):
        return node.id in walker.binds
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get_bind"
    return isinstance(node, ast.Attribute) and node.attr in ("connection", "bind")


def table_name_of(walker: Walker, node: ast.AST) -> str | None:
    """The table of ``sa.table("users", ...)`` or ``sa.Table(...)``, or of a name bound to one."""
    if isinstance(node, ast.Name):
        return walker.tables.get(node.id)
    if isinstance(node, ast.Call) and last_name(node) in ("table", "Table") and node.args:
        return literal_str(node.args[0])
    return None


def read_call(walker: Walker, call: ast.Call) -> None:
    """Record the operations of ``call``, if it is one the linter knows."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return
    method, receiver = func.attr, func.value
    if isinstance(receiver, ast.Name) and receiver.id == "op":
        if method not in _NOT_OPERATIONS:
            _op_call(walker, call, method, table=None)
    elif isinstance(receiver, ast.Name) and receiver.id in walker.batches:
        _op_call(walker, call, method, table=walker.batches[receiver.id])
    elif is_bind(walker, receiver):
        if method in ("execute", "exec_driver_sql") and call.args:
            _execute(walker, call, call.args[0])
        elif method in ("commit", "rollback", "begin"):
            walker.add(Kind.TRANSACTION_CONTROL, line=call.lineno, end_line=call.end_lineno)


def _bind_arguments(call: ast.Call, method: str, batch: bool) -> dict[str, ast.expr]:
    names = _SIGNATURES.get(method, ())
    if batch:
        names = tuple(n for n in names if n not in _TABLE_PARAMETERS)
    arguments: dict[str, ast.expr] = dict(zip(names, call.args, strict=False))
    arguments.update({k.arg: k.value for k in call.keywords if k.arg is not None})
    return arguments


def _op_call(walker: Walker, call: ast.Call, method: str, *, table: str | None) -> None:
    batch = table is not None
    args = _bind_arguments(call, method, batch)
    if not batch:
        table = literal_str(args.get("table_name") or args.get("source_table"))
    source, dialect = walker.source, walker.dialect
    lines: dict[str, Any] = {"line": call.lineno, "end_line": call.end_lineno}

    def flag(name: str) -> bool:
        return literal_bool(args.get(name)) is True

    if method == "add_column":
        column = read_column(args.get("column"), source, dialect)
        name = column.name if column else None
        walker.add(Kind.ADD_COLUMN, table=table, name=name, column=column, **lines)
    elif method == "drop_column":
        name = literal_str(args.get("column_name"))
        walker.add(Kind.DROP_COLUMN, table=table, name=name, **lines)
    elif method == "alter_column":
        walker.add(
            Kind.ALTER_COLUMN,
            table=table,
            name=literal_str(args.get("column_name")),
            new_name=literal_str(args.get("new_column_name")),
            nullable=literal_bool(args.get("nullable")),
            type=read_type(args.get("type_"), source),
            existing_type=read_type(args.get("existing_type"), source),
            **lines,
        )
    elif method == "create_index":
        prefix = (literal_str(args.get("mysql_prefix")) or "").upper()
        walker.add(
            Kind.CREATE_INDEX,
            table=table,
            name=literal_str(args.get("index_name")),
            unique=flag("unique"),
            concurrently=flag("postgresql_concurrently"),
            fulltext=prefix in ("FULLTEXT", "SPATIAL"),
            unnamed=literal_str(args.get("index_name")) is None,
            column_names=_names(args.get("columns")),
            **lines,
        )
    elif method == "drop_index":
        walker.add(
            Kind.DROP_INDEX,
            table=table or literal_str(args.get("table_name")),
            name=literal_str(args.get("index_name")),
            concurrently=flag("postgresql_concurrently"),
            **lines,
        )
    elif method.startswith("create_") and method.endswith(("_key", "_constraint")):
        _constraint(walker, method, args, table, lines)
    elif method == "drop_constraint":
        name = literal_str(args.get("constraint_name"))
        walker.add(Kind.DROP_CONSTRAINT, table=table, name=name, **lines)
    elif method == "create_table":
        _create_table(walker, call, table, lines)
    elif method == "drop_table":
        walker.add(Kind.DROP_TABLE, table=table, **lines)
    elif method == "rename_table":
        new_name = literal_str(args.get("new_table_name"))
        old_name = literal_str(args.get("old_table_name"))
        walker.add(Kind.RENAME_TABLE, table=old_name, new_name=new_name, **lines)
    elif method == "execute" and "sqltext" in args:
        _execute(walker, call, args["sqltext"])
    elif method == "bulk_insert":
        target = args.get("table")
        name = table_name_of(walker, target) if target is not None else None
        walker.add(Kind.DATA_CHANGE, table=name, sql="bulk_insert", **lines)
    else:
        walker.add(Kind.OTHER, table=table, **lines)


def _constraint(
    walker: Walker, method: str, args: dict[str, ast.expr], table: str | None, lines: dict[str, Any]
) -> None:
    kind = {
        "create_foreign_key": "foreignkey",
        "create_check_constraint": "check",
        "create_unique_constraint": "unique",
        "create_primary_key": "primary",
    }.get(method)
    if kind is None:  # create_exclude_constraint and the like
        walker.add(Kind.OTHER, table=table, **lines)
        return
    name = literal_str(args.get("constraint_name"))
    references = None
    referent, remote = literal_str(args.get("referent_table")), args.get("remote_cols")
    if referent and isinstance(remote, ast.List) and remote.elts:
        references = f"{referent}.{literal_str(remote.elts[0])}"
    condition_node = args.get("condition")
    condition = None
    if condition_node is not None:
        condition = literal_str(condition_node)
        condition = condition or ast.get_source_segment(walker.source, condition_node)
    walker.add(
        Kind.ADD_CONSTRAINT,
        table=table,
        name=name,
        constraint=kind,
        condition=condition,
        not_valid=literal_bool(args.get("postgresql_not_valid")) is True,
        unnamed=name is None,
        references=references,
        column_names=_names(args.get("columns") or args.get("local_cols")),
        **lines,
    )


def _create_table(walker: Walker, call: ast.Call, table: str | None, lines: dict[str, Any]) -> None:
    columns = []
    constraints = []
    for arg in call.args[1:]:
        column = read_column(arg, walker.source, walker.dialect)
        if column is not None:
            columns.append(column)
        elif isinstance(arg, ast.Call) and last_name(arg) in _CONSTRAINTS:
            constraints.append(arg)
    walker.add(Kind.CREATE_TABLE, table=table, columns=tuple(columns), **lines)
    for constraint in constraints:
        name = literal_str(keyword(constraint, "name"))
        walker.add(
            Kind.ADD_CONSTRAINT,
            table=table,
            name=name,
            constraint=_CONSTRAINTS[last_name(constraint)],
            unnamed=name is None,
            line=constraint.lineno,
            end_line=constraint.end_lineno,
        )


def _execute(walker: Walker, call: ast.Call, statement: ast.expr) -> None:
    sql = literal_str(statement)
    if sql is not None:
        start = statement.lineno
        if isinstance(statement, ast.Call) and statement.args:
            start = statement.args[0].lineno
        make = partial(walker.add, anchor_line=call.lineno, end_line=call.end_lineno)
        read_sql(sql, dialect=walker.dialect, line=start, make=make)
        return
    kind, table = Kind.OTHER, None
    node: ast.AST = statement
    while isinstance(node, ast.Call):
        if last_name(node) in _DATA_CONSTRUCTS:
            kind = Kind.DATA_CHANGE
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            if node.args:
                table = table_name_of(walker, node.args[0])
            elif receiver is not None:
                table = table_name_of(walker, receiver)
            break
        if not isinstance(node.func, ast.Attribute):
            break
        node = node.func.value
    walker.add(kind, table=table, line=call.lineno, end_line=call.end_lineno)


def _names(node: ast.expr | None) -> tuple[str, ...]:
    if isinstance(node, ast.List | ast.Tuple):
        return tuple(name for e in node.elts if (name := literal_str(e)) is not None)
    return ()
