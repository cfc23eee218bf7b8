"""The names a finding's message and fix are written with: its own table, column, index..."""

from __future__ import annotations

from ._ops import Kind, Operation, TypeSpec

# The names of the reference page's examples.
EXAMPLE_NAMES = {
    "table": "users",
    "column": "email",
    "type": "sa.String(100)",
    "existing_type": "sa.String(100)",
    "sql_type": "VARCHAR(100)",
    "index": "ix_users_email",
    "constraint": "uq_users_email",
    "new_name": "email_address",
    "enum": "user_status",
    "referent": "organizations",
    "referent_column": "id",
    "default": '""',
    "default_sql": "''",
    "function": "gen_random_uuid",
    "expression": "lower(email)",
    "ddl_table": "users",
    "module": "app.models",
}

_STRINGS = {"VARCHAR", "TEXT", "CHAR", "CITEXT"}
_NUMBERS = {"INTEGER", "BIGINT", "SMALLINT", "NUMERIC", "FLOAT", "REAL", "DOUBLE PRECISION"}
_PREFIXES = {"foreignkey": "fk", "check": "ck", "unique": "uq", "primary": "pk"}


def names_for(operation: Operation | None) -> dict[str, str]:
    """The template names for a finding on ``operation``."""
    if operation is None:
        return dict(EXAMPLE_NAMES)
    column = operation.column
    table = operation.table or "my_table"
    column_name = (column.name if column else None) or (
        operation.name
        if operation.kind in (Kind.ADD_COLUMN, Kind.DROP_COLUMN, Kind.ALTER_COLUMN)
        else None
    )
    column_name = column_name or next(iter(operation.column_names), "my_column")
    column_type = (column.type if column else None) or operation.type
    existing = operation.existing_type or column_type
    names = {
        "table": table,
        "column": column_name,
        "type": column_type.source if column_type else "sa.String()",
        "existing_type": existing.source if existing else "sa.String()",
        "sql_type": existing.sql if existing else "VARCHAR(255)",
        "index": f"ix_{table}_{column_name}",
        "constraint": f"{_PREFIXES.get(operation.constraint or '', 'ck')}_{table}_{column_name}",
        "new_name": operation.new_name or f"{table}_new",
        "enum": operation.name or "my_enum",
        "referent": "parent",
        "referent_column": "id",
        "expression": (column.expression if column else None) or "...",
    }
    if operation.kind in (Kind.CREATE_INDEX, Kind.DROP_INDEX) and operation.name:
        names["index"] = operation.name
    constraint_kinds = (Kind.ADD_CONSTRAINT, Kind.DROP_CONSTRAINT, Kind.VALIDATE_CONSTRAINT)
    if operation.kind in constraint_kinds and operation.name:
        names["constraint"] = operation.name
    references = operation.references or (column.references if column else None)
    if references and "." in references:
        names["referent"], names["referent_column"] = references.rsplit(".", 1)
    names.update(_default_names(operation, column_type))
    return names


def _default_names(operation: Operation, column_type: TypeSpec | None) -> dict[str, str]:
    default = operation.column.server_default if operation.column else None
    if default is not None:
        sql = f"{default.function}()" if default.function else default.source
        if default.source.startswith(("sa.text(", "text(")):
            sql = default.source.split("(", 1)[1].rsplit(")", 1)[0].strip("\"'")
        return {"default": default.source, "default_sql": sql, "function": default.function or ""}
    name = column_type.name if column_type else ""
    if name in _STRINGS:
        return {"default": '""', "default_sql": "''", "function": ""}
    if name in _NUMBERS:
        return {"default": '"0"', "default_sql": "0", "function": ""}
    if name == "BOOLEAN":
        return {"default": "sa.false()", "default_sql": "false", "function": ""}
    return {"default": 'sa.text("...")', "default_sql": "...", "function": ""}
