"""Rules on altering columns: type changes and SET NOT NULL."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule
from ._sql import normalize_condition
from ._target import DIALECTS
from ._types import mysql_extends_in_place, widens_without_rewrite

ALL = DIALECTS


def check_type(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.of(Kind.ALTER_COLUMN):
        new, old = operation.type, operation.existing_type
        if new is None or not ctx.existing(index):
            continue
        why: str | None = target.dialect
        if target.postgresql:
            if old is None:
                why = "postgresql:unknown"
            elif widens_without_rewrite(old, new):
                why = None
        elif target.mysql:
            if operation.mysql_online or (old is not None and mysql_extends_in_place(old, new)):
                why = None
        elif operation.placement.batch:
            why = None
        if why is not None:
            was = f" from {old.source}" if old is not None else ""
            lead = f"changes the type of {operation.table}.{operation.name}{was} to {new.source}"
            yield Hit(operation.line, lead, why, operation.end_line, operation)


ALTER_COLUMN_TYPE = Rule(
    name="alter-column-type",
    summary="A column type change that rewrites or copies the table.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "postgresql": (
            "PostgreSQL rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE "
            "lock: no reads and no writes of ${table} until it ends. Only a longer varchar, "
            "varchar to text and a numeric with more precision are catalog-only."
        ),
        "postgresql:unknown": (
            "Without existing_type= the linter cannot tell a catalog-only widening (a longer "
            "varchar, varchar to text) from a change that rewrites the table under an ACCESS "
            "EXCLUSIVE lock; autogenerate always writes existing_type=."
        ),
        "mysql": (
            "MySQL and MariaDB change a column's type with ALGORITHM=COPY: the table is "
            "copied and writes wait. Only a VARCHAR that keeps its length prefix (up to 63 "
            "or from 64 utf8mb4 characters) is extended in place."
        ),
        "sqlite": ("SQLite has no ALTER COLUMN: outside op.batch_alter_table the migration fails."),
    },
    example={
        "postgresql": 'op.alter_column("users", "age", type_=sa.BigInteger(), '
        "existing_type=sa.Integer())",
        "mysql": 'op.alter_column("users", "age", type_=sa.BigInteger(), '
        "existing_type=sa.Integer())",
        "sqlite": 'op.alter_column("users", "age", type_=sa.BigInteger(), '
        "existing_type=sa.Integer())",
    },
    recipes=(
        Recipe(
            "sqlite",
            """with op.batch_alter_table("${table}") as batch_op:
    batch_op.alter_column("${column}", type_=${type}, existing_type=${existing_type})""",
        ),
        Recipe(
            "postgresql",
            """# Only widening? Give existing_type= and it is catalog-only, e.g.
#     op.alter_column("${table}", "${column}", type_=sa.String(200),
#                     existing_type=sa.String(100))
# Anything else: expand and contract with a new column.
op.add_column("${table}", sa.Column("${column}_new", ${type}, nullable=True))
# Then write both columns from the application, backfill ${column}_new in batches,
# read from it, and drop ${column} in a later release.""",
        ),
        Recipe(
            "mysql",
            """# Expand and contract with a new column (or run the ALTER with gh-ost or
# pt-online-schema-change, outside Alembic).
op.add_column("${table}", sa.Column("${column}_new", ${type}, nullable=True))
# Then write both columns from the application, backfill ${column}_new in batches,
# read from it, and drop ${column} in a later release.""",
        ),
    ),
    check=check_type,
)


def check_not_null(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.of(Kind.ALTER_COLUMN):
        if operation.nullable is not False or not ctx.existing(index):
            continue
        why: str | None = target.dialect
        if target.postgresql and not target.at_least(12):
            why = "postgresql<12"
        elif (
            (target.postgresql and _proven_not_null(ctx, index))
            or (target.mysql and operation.mysql_online)
            or (target.sqlite and operation.placement.batch)
        ):
            why = None
        if why is not None:
            lead = f"makes {operation.table}.{operation.name} NOT NULL"
            yield Hit(operation.line, lead, why, operation.end_line, operation)


def _proven_not_null(ctx: Context, index: int) -> bool:
    """A validated CHECK (column IS NOT NULL) lets PostgreSQL 12+ skip the scan."""
    operation = ctx.ops[index]
    wanted = normalize_condition(f"{operation.name} IS NOT NULL", dialect="postgresql")
    return any(
        check.validated
        and check.condition == wanted
        and (check.table or "").lower() == (operation.table or "").lower()
        for check in ctx.knowledge_before(index).checks.values()
    )


SET_NOT_NULL = Rule(
    name="set-not-null",
    summary="SET NOT NULL on an existing column.",
    severity={"postgresql": "error", "mysql": "warning", "sqlite": "error"},
    why={
        "postgresql": (
            "PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock to prove that "
            "no row holds NULL: no reads and no writes of ${table} meanwhile. PostgreSQL 12+ "
            "skips the scan when a validated CHECK (${column} IS NOT NULL) exists."
        ),
        "postgresql<12": (
            "Before PostgreSQL 12, SET NOT NULL always scans the whole table under an ACCESS "
            "EXCLUSIVE lock: no reads and no writes of ${table} meanwhile."
        ),
        "mysql": (
            "MySQL and MariaDB rebuild the table to make a column NOT NULL (in place and "
            "online, but as long as a copy), and the ALTER fails if a row still holds NULL."
        ),
        "sqlite": (
            "SQLite cannot change a column's nullability: outside op.batch_alter_table the "
            "migration fails."
        ),
    },
    example={
        "postgresql": 'op.alter_column("users", "email", nullable=False, '
        "existing_type=sa.String(100))",
        "mysql": 'op.alter_column("users", "email", nullable=False, existing_type=sa.String(100))',
        "sqlite": 'op.alter_column("users", "email", nullable=False, existing_type=sa.String(100))',
    },
    recipes=(
        Recipe(
            "postgresql<12",
            """op.create_check_constraint(
    op.f("ck_${table}_${column}_not_null"), "${table}", "${column} IS NOT NULL",
    postgresql_not_valid=True,
)
# --- next migration: before 12, the validated CHECK is the cheap NOT NULL
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ck_${table}_${column}_not_null")""",
        ),
        Recipe(
            "postgresql>=12",
            """op.create_check_constraint(
    op.f("ck_${table}_${column}_not_null"), "${table}", "${column} IS NOT NULL",
    postgresql_not_valid=True,
)
# --- next migration: VALIDATE lets writes through; SET NOT NULL then skips its scan
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ck_${table}_${column}_not_null")
op.alter_column("${table}", "${column}", nullable=False, existing_type=${existing_type})
op.drop_constraint(op.f("ck_${table}_${column}_not_null"), "${table}", type_="check")""",
        ),
        Recipe(
            "mysql",
            """# After a backfill leaves no NULL: demand an online rebuild, so that the server
# refuses (rather than blocks writes) if it cannot.
op.execute(
    "ALTER TABLE ${table} MODIFY ${column} ${sql_type} NOT NULL, ALGORITHM=INPLACE, LOCK=NONE"
)""",
        ),
        Recipe(
            "sqlite",
            """with op.batch_alter_table("${table}") as batch_op:
    batch_op.alter_column("${column}", nullable=False, existing_type=${existing_type})""",
        ),
    ),
    check=check_not_null,
)
