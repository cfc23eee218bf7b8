"""Rules on adding columns: a NOT NULL column without a default, a volatile default."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Column, Kind
from ._rule import Hit, Recipe, Rule, same
from ._target import DIALECTS

ALL = DIALECTS

BACKFILL_PG = """with op.get_context().autocommit_block():
    bind = op.get_bind()
    while bind.execute(sa.text(
        "UPDATE ${table} SET ${column} = ${default_sql} "
        "WHERE id IN (SELECT id FROM ${table} WHERE ${column} IS NULL LIMIT 5000)"
    )).rowcount:
        pass  # each batch commits on its own: short locks, no long transaction"""
BACKFILL_MYSQL = """with op.get_context().autocommit_block():
    bind = op.get_bind()
    while bind.execute(sa.text(
        "UPDATE ${table} SET ${column} = ${default_sql} WHERE ${column} IS NULL LIMIT 5000"
    )).rowcount:
        pass  # each batch commits on its own: short locks, no long transaction"""


def added_columns(ctx: Context) -> Iterator[tuple[int, Column]]:
    for index, operation in ctx.of(Kind.ADD_COLUMN):
        if operation.column is not None and ctx.existing(index):
            yield index, operation.column


def where(ctx: Context, index: int) -> str:
    operation = ctx.ops[index]
    column = operation.column
    return f"{operation.table}.{column.name if column else operation.name}"


def check_required(ctx: Context) -> Iterator[Hit]:
    for index, column in added_columns(ctx):
        if (
            column.nullable
            or column.server_default is not None
            or column.autoincrement
            or column.generated is not None
        ):
            continue
        operation = ctx.ops[index]
        lead = f"adds NOT NULL column {where(ctx, index)} without a server default"
        if column.python_default:
            lead += " (default= is applied by SQLAlchemy on insert and never reaches the table)"
        yield Hit(operation.line, lead, ctx.target.dialect, operation.end_line, operation)


ADD_COLUMN_REQUIRED = Rule(
    name="add-column-required",
    summary="A NOT NULL column added without a server default.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": (
            "PostgreSQL fills the new column of every existing row with NULL, so the ALTER "
            "fails with 'column contains null values' on a table that has rows: the migration "
            "passes on an empty development database and fails in production."
        ),
        "mysql": (
            "MySQL and MariaDB accept it and silently give every existing row the type's "
            "implicit default (0, '' or a zero date), and every INSERT of the application "
            "still running, which does not know the column, fails in strict mode with "
            "'Field doesn't have a default value'."
        ),
        "sqlite": (
            "SQLite refuses it on a table that has rows ('Cannot add a NOT NULL column with "
            "default value NULL'): the migration passes on an empty database and fails on a "
            "real one."
        ),
    },
    example=same(ALL, 'op.add_column("users", sa.Column("email", sa.String(100), nullable=False))'),
    recipes=(
        Recipe(
            "postgresql<11",
            """op.add_column("${table}", sa.Column("${column}", ${type}, nullable=True))
# --- next migration: backfill in batches (see backfill-in-ddl-migration), then
op.create_check_constraint(
    op.f("ck_${table}_${column}_not_null"), "${table}", "${column} IS NOT NULL",
    postgresql_not_valid=True,
)
# --- next migration: before PostgreSQL 12 a validated CHECK is the cheap NOT NULL
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ck_${table}_${column}_not_null")""",
        ),
        Recipe(
            "postgresql>=11",
            """# PostgreSQL 11+ keeps a constant default in the catalog: no rewrite, instant.
op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, nullable=False, server_default=${default}),
)""",
        ),
        Recipe(
            "mysql",
            """# Instant on MySQL 8.0.12+ and MariaDB 10.3+, an online rebuild before.
op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, nullable=False, server_default=${default}),
)""",
        ),
        Recipe(
            "sqlite",
            """op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, nullable=False, server_default=${default}),
)""",
        ),
    ),
    check=check_required,
)


def check_volatile(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, column in added_columns(ctx):
        default = column.server_default
        operation = ctx.ops[index]
        if default is None:
            continue
        why = None
        if target.postgresql and not target.at_least(11):
            why = "postgresql<11"
        elif default.volatility == "volatile" and not target.sqlite:
            why = target.dialect
        elif target.sqlite and default.volatility != "constant":
            why = None if operation.placement.batch_recreate == "always" else "sqlite"
        if why is not None:
            lead = f"adds column {where(ctx, index)} with server default {default.source}"
            names = {"function": default.function or default.source}
            yield Hit(operation.line, lead, why, operation.end_line, operation, names)


ADD_COLUMN_VOLATILE_DEFAULT = Rule(
    name="add-column-volatile-default",
    summary="A column added with a default that forces a rewrite (or fails on SQLite).",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": (
            "PostgreSQL evaluates a volatile default (${function}) once per row, so it "
            "rewrites the whole table under an ACCESS EXCLUSIVE lock: no reads and no writes "
            "of ${table} until it ends. Constant and stable defaults (now()) are instant."
        ),
        "postgresql<11": (
            "Before PostgreSQL 11 any non-null default rewrites the whole table under an "
            "ACCESS EXCLUSIVE lock: no reads and no writes of ${table} until it ends."
        ),
        "mysql": (
            "MySQL and MariaDB cannot add a column with a non-deterministic default "
            "(${function}) in place: the table is copied (ALGORITHM=COPY) and writes wait "
            "for the copy."
        ),
        "sqlite": (
            "SQLite refuses a non-constant default (CURRENT_TIMESTAMP, a function, an "
            "expression in parentheses) on a table that has rows ('Cannot add a column with "
            "non-constant default'): it passes on an empty database and fails on a real one."
        ),
    },
    example={
        "postgresql": 'op.add_column("users", sa.Column("token", sa.Uuid(), '
        "server_default=sa.func.gen_random_uuid()))",
        "mysql": 'op.add_column("users", sa.Column("token", sa.String(36), '
        'server_default=sa.text("(uuid())")))',
        "sqlite": 'op.add_column("users", sa.Column("seen_at", sa.DateTime(), '
        "server_default=sa.func.now()))",
    },
    recipes=(
        Recipe(
            "postgresql",
            """op.add_column("${table}", sa.Column("${column}", ${type}, nullable=True))
# A default on an existing column only applies to new rows: no rewrite.
op.alter_column("${table}", "${column}", server_default=${default})
# --- next migration: backfill the existing rows in batches
"""
            + BACKFILL_PG,
        ),
        Recipe(
            "mysql",
            """# New rows get their value from the application (a Python-side default=).
op.add_column("${table}", sa.Column("${column}", ${type}, nullable=True))
# --- next migration: backfill the existing rows in batches
"""
            + BACKFILL_MYSQL,
        ),
        Recipe(
            "sqlite",
            """# Copy the table: the new table's rows get the default one by one.
with op.batch_alter_table("${table}", recreate="always") as batch_op:
    batch_op.add_column(sa.Column("${column}", ${type}, server_default=${default}))""",
        ),
    ),
    check=check_volatile,
)
