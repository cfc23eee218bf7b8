"""Rules on changes that break the release still running: renames and drops.

During a deploy the previous release keeps serving requests against the
migrated schema; SQLAlchemy names every mapped column in its SELECTs and
INSERTs, so a renamed or dropped column or table fails each of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule, same
from ._target import DIALECTS

ALL = DIALECTS

_RUNNING = (
    "The release still running during the deploy names ${table}.${column} in every "
    "SELECT and INSERT SQLAlchemy sends, so each of its requests fails until it is replaced."
)


def check_rename_column(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.ALTER_COLUMN):
        if operation.new_name and ctx.existing(index):
            lead = f"renames {operation.table}.{operation.name} to {operation.new_name}"
            yield Hit(operation.line, lead, "all", operation.end_line, operation)


RENAME_COLUMN = Rule(
    name="rename-column",
    summary="A column renamed while the running release still uses the old name.",
    severity=dict.fromkeys(ALL, "error"),
    why={"all": _RUNNING},
    example=same(ALL, 'op.alter_column("users", "email", new_column_name="email_address")'),
    recipes=tuple(
        Recipe(
            dialect,
            """# Expand: add the new column; the next release writes both and reads the old one.
op.add_column("${table}", sa.Column("${new_name}", ${type}, nullable=True))
# --- next migration: copy the old values in batches (see backfill-in-ddl-migration); the
# release after that reads the new column. Contract, once no release uses the old one:
op.drop_column("${table}", "${column}")  # asqla: ignore[drop-column] no release reads it""",
        )
        for dialect in ALL
    ),
    check=check_rename_column,
)


def check_rename_table(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.RENAME_TABLE):
        if not ctx.existing(index):
            continue
        old = (operation.table or "").lower()
        view = any(
            other.kind is Kind.CREATE_VIEW and (other.name or "").lower() == old
            for other in ctx.ops[index + 1 :]
        )
        if view and not ctx.target.sqlite:
            continue
        lead = f"renames table {operation.table} to {operation.new_name}"
        yield Hit(operation.line, lead, ctx.target.dialect, operation.end_line, operation)


_TABLE_RUNNING = (
    "The release still running during the deploy queries ${table} by name, so each of its "
    "requests fails until it is replaced."
)
RENAME_TABLE = Rule(
    name="rename-table",
    summary="A table renamed while the running release still uses the old name.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": _TABLE_RUNNING
        + " A view under the old name, created in the same migration, keeps it working: "
        "PostgreSQL can insert, update and delete through a simple view.",
        "mysql": _TABLE_RUNNING
        + " A view under the old name, created in the same migration, keeps it working: "
        "MySQL and MariaDB can write through a simple view.",
        "sqlite": _TABLE_RUNNING + " SQLite cannot write through a view.",
    },
    example=same(ALL, 'op.rename_table("users", "accounts")'),
    recipes=(
        *(
            Recipe(
                dialect,
                """op.rename_table("${table}", "${new_name}")
# The running release keeps reading and writing through the old name.
op.execute("CREATE VIEW ${table} AS SELECT * FROM ${new_name}")
# --- next migration, once no release uses the old name:
op.execute("DROP VIEW ${table}")""",
            )
            for dialect in ("postgresql", "mysql")
        ),
        Recipe(
            "sqlite",
            """# Rename once no running release uses the old name, and say so:
op.rename_table("${table}", "${new_name}")  # asqla: ignore[rename-table] old release stopped""",
        ),
    ),
    check=check_rename_table,
)


def check_drop_column(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.DROP_COLUMN):
        if ctx.existing(index):
            lead = f"drops column {operation.table}.{operation.name}"
            yield Hit(operation.line, lead, "all", operation.end_line, operation)


DROP_COLUMN = Rule(
    name="drop-column",
    summary="A column dropped (data lost, and the running release may still use it).",
    severity=dict.fromkeys(ALL, "error"),
    why={"all": _RUNNING + " The data is gone for good: a downgrade brings back an empty column."},
    example=same(ALL, 'op.drop_column("users", "legacy_code")'),
    recipes=tuple(
        Recipe(
            dialect,
            """# 1. Remove the column from the models and deploy that release.
# 2. Then drop it, saying which release stopped using it:
op.drop_column("${table}", "${column}")  # asqla: ignore[drop-column] unused since release 2.4""",
        )
        for dialect in ALL
    ),
    check=check_drop_column,
)


def check_drop_table(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.DROP_TABLE):
        if ctx.existing(index):
            lead = f"drops table {operation.table}"
            yield Hit(operation.line, lead, "all", operation.end_line, operation)


DROP_TABLE = Rule(
    name="drop-table",
    summary="A table dropped (data lost, and the running release may still use it).",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "all": _TABLE_RUNNING
        + " The data is gone for good: a downgrade brings back an empty table."
    },
    example=same(ALL, 'op.drop_table("legacy_events")'),
    recipes=tuple(
        Recipe(
            dialect,
            """# 1. Remove the model and every query of the table; deploy that release.
# 2. Then drop it, saying which release stopped using it:
op.drop_table("${table}")  # asqla: ignore[drop-table] unused since release 2.4""",
        )
        for dialect in ALL
    ),
    check=check_drop_table,
)
