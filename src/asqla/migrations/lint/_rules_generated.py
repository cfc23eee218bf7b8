"""Rules on columns whose values the database computes: auto-increment and stored generated."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._rule import Hit, Recipe, Rule, same
from ._rules_columns import added_columns, where
from ._target import DIALECTS

ALL = DIALECTS


def check_auto_increment(ctx: Context) -> Iterator[Hit]:
    for index, column in added_columns(ctx):
        operation = ctx.ops[index]
        if column.autoincrement and not (ctx.target.mysql and operation.mysql_online):
            lead = f"adds auto-increment column {where(ctx, index)}"
            yield Hit(operation.line, lead, ctx.target.dialect, operation.end_line, operation)


ADD_COLUMN_AUTO_INCREMENT = Rule(
    name="add-column-auto-increment",
    summary="An identity, serial or AUTO_INCREMENT column added to an existing table.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": (
            "PostgreSQL numbers every existing row of an identity or serial column, which "
            "rewrites the whole table under an ACCESS EXCLUSIVE lock."
        ),
        "mysql": (
            "MySQL and MariaDB add an AUTO_INCREMENT column only with LOCK=SHARED: writes to "
            "${table} wait for the whole rebuild."
        ),
        "sqlite": (
            "SQLite cannot add a PRIMARY KEY or AUTOINCREMENT column to an existing table "
            "('Cannot add a PRIMARY KEY column'): the migration fails."
        ),
    },
    example=same(
        ALL, 'op.add_column("users", sa.Column("number", sa.BigInteger(), sa.Identity()))'
    ),
    recipes=(
        Recipe(
            "postgresql",
            """op.execute("CREATE SEQUENCE ${table}_${column}_seq")
op.add_column("${table}", sa.Column("${column}", sa.BigInteger(), nullable=True))
op.alter_column(
    "${table}", "${column}", server_default=sa.text("nextval('${table}_${column}_seq')")
)
# --- next migration: number the existing rows in batches, then see set-not-null
with op.get_context().autocommit_block():
    bind = op.get_bind()
    while bind.execute(sa.text(
        "UPDATE ${table} SET ${column} = nextval('${table}_${column}_seq') "
        "WHERE id IN (SELECT id FROM ${table} WHERE ${column} IS NULL LIMIT 5000)"
    )).rowcount:
        pass""",
        ),
        Recipe(
            "mysql",
            """# A plain column numbered in batches; AUTO_INCREMENT itself needs a table copy
# (gh-ost or pt-online-schema-change, outside Alembic).
op.add_column("${table}", sa.Column("${column}", sa.BigInteger(), nullable=True))
# --- next migration: number the existing rows in batches
with op.get_context().autocommit_block():
    bind = op.get_bind()
    bind.execute(sa.text("SET @n := (SELECT COALESCE(MAX(${column}), 0) FROM ${table})"))
    while bind.execute(sa.text(
        "UPDATE ${table} SET ${column} = (@n := @n + 1) "
        "WHERE ${column} IS NULL ORDER BY id LIMIT 5000"
    )).rowcount:
        pass""",
        ),
        Recipe(
            "sqlite",
            """# Every SQLite table already numbers its rows: copy the rowid.
op.add_column("${table}", sa.Column("${column}", sa.Integer(), nullable=True))
# --- next migration
op.execute("UPDATE ${table} SET ${column} = rowid")""",
        ),
    ),
    check=check_auto_increment,
)


def check_stored_generated(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, column in added_columns(ctx):
        operation = ctx.ops[index]
        stored = column.generated == "stored" or (
            target.postgresql and column.generated == "unspecified" and not target.at_least(18)
        )
        if stored and not (target.mysql and operation.mysql_online):
            lead = f"adds STORED generated column {where(ctx, index)}"
            yield Hit(operation.line, lead, target.dialect, operation.end_line, operation)


ADD_COLUMN_STORED_GENERATED = Rule(
    name="add-column-stored-generated",
    summary="A STORED generated column added to an existing table.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": (
            "PostgreSQL computes a STORED generated column for every existing row: a full "
            "rewrite under an ACCESS EXCLUSIVE lock. Before PostgreSQL 18 every generated "
            "column is STORED."
        ),
        "mysql": (
            "MySQL and MariaDB add a STORED generated column only with ALGORITHM=COPY: the "
            "table is copied and writes wait for the copy. A VIRTUAL one is instant."
        ),
        "sqlite": (
            "SQLite refuses to add a STORED generated column to a table that has rows "
            "('cannot add a STORED column'); a VIRTUAL one is fine."
        ),
    },
    example=same(
        ALL,
        'op.add_column("users", sa.Column("email_lower", sa.String(100), '
        'sa.Computed("lower(email)", persisted=True)))',
    ),
    recipes=(
        Recipe(
            "postgresql>=18",
            """# PostgreSQL 18+: a VIRTUAL generated column is computed on read: no rewrite.
op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, sa.Computed("${expression}", persisted=False)),
)""",
        ),
        Recipe(
            "postgresql",
            """# A plain column kept up to date by the application (or a trigger)...
op.add_column("${table}", sa.Column("${column}", ${type}, nullable=True))
# --- next migration: ...and backfilled in batches
with op.get_context().autocommit_block():
    bind = op.get_bind()
    while bind.execute(sa.text(
        "UPDATE ${table} SET ${column} = ${expression} "
        "WHERE id IN (SELECT id FROM ${table} WHERE ${column} IS NULL LIMIT 5000)"
    )).rowcount:
        pass""",
        ),
        Recipe(
            "mysql",
            """# VIRTUAL is instant; index it if reads need it (an index build is online).
op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, sa.Computed("${expression}", persisted=False)),
)""",
        ),
        Recipe(
            "sqlite",
            """op.add_column(
    "${table}",
    sa.Column("${column}", ${type}, sa.Computed("${expression}", persisted=False)),
)""",
        ),
    ),
    check=check_stored_generated,
)
