"""Rules on the migration's transaction: autocommit blocks, enum values, backfills."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule, same
from ._rules_columns import BACKFILL_MYSQL, BACKFILL_PG
from ._target import DIALECTS

ALL = DIALECTS


def check_enum(ctx: Context) -> Iterator[Hit]:
    for _, operation in ctx.of(Kind.ADD_ENUM_VALUE):
        if not operation.placement.autocommit:
            why = "postgresql" if ctx.target.at_least(12) else "postgresql<12"
            lead = f"adds a value to enum type {operation.name} inside the migration's transaction"
            yield Hit(operation.line, lead, why, operation.end_line, operation)


ENUM_VALUE_IN_TRANSACTION = Rule(
    name="enum-value-in-transaction",
    summary="ALTER TYPE ... ADD VALUE inside the migration's transaction.",
    severity={"postgresql": "error"},
    why={
        "postgresql": (
            "PostgreSQL 12+ adds the value but refuses to use it before COMMIT ('unsafe use "
            "of new value'): a later statement of this migration, or of the next one when "
            "Alembic runs several in one transaction, that uses it fails."
        ),
        "postgresql<12": (
            "Before PostgreSQL 12, ALTER TYPE ... ADD VALUE cannot run inside a transaction "
            "block, and Alembic runs each migration in one: the migration fails."
        ),
    },
    example={"postgresql": "op.execute(\"ALTER TYPE user_status ADD VALUE 'archived'\")"},
    recipes=(
        Recipe(
            "postgresql",
            """with op.get_context().autocommit_block():
    op.execute("ALTER TYPE ${enum} ADD VALUE IF NOT EXISTS 'archived'")""",
        ),
    ),
    check=check_enum,
)


def check_transaction_control(ctx: Context) -> Iterator[Hit]:
    for _, operation in ctx.of(Kind.TRANSACTION_CONTROL):
        statement = operation.sql or "commit()/rollback()"
        lead = f"controls the transaction itself ({statement.strip()[:40]})"
        yield Hit(operation.line, lead, "all", operation.end_line, operation)


RAW_TRANSACTION_CONTROL = Rule(
    name="raw-transaction-control",
    summary="COMMIT, BEGIN or ROLLBACK issued by the migration itself.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "all": (
            "Alembic owns the migration's transaction and records the new revision in it: a "
            "COMMIT or BEGIN of your own ends it early, so a failure after it leaves the "
            "migration half applied and not recorded, and the next run repeats what already "
            "happened."
        ),
    },
    example=same(ALL, 'op.execute("COMMIT")\nop.execute("DROP INDEX ix_users_email")'),
    recipes=tuple(
        Recipe(
            dialect,
            """# Alembic commits before the block and runs each statement in it on its own.
with op.get_context().autocommit_block():
    op.execute("ALTER TYPE ${enum} ADD VALUE IF NOT EXISTS 'archived'")"""
            if dialect == "postgresql"
            else """with op.get_context().autocommit_block():
    op.execute("UPDATE ${table} SET ${column} = ${default_sql} WHERE ${column} IS NULL")""",
        )
        for dialect in ALL
    ),
    check=check_transaction_control,
)


def check_ops_before(ctx: Context) -> Iterator[Hit]:
    previous = 0
    for block_line in ctx.migration.autocommit_lines:
        before = [
            op
            for op in ctx.ops
            if previous < op.line < block_line
            and not op.placement.autocommit
            and op.kind is not Kind.SESSION_SETTING
        ]
        if before:
            count = "1 operation" if len(before) == 1 else f"{len(before)} operations"
            lead = (
                f"runs {count} (from line {before[0].line}) before the autocommit block "
                f"at line {block_line}"
            )
            yield Hit(block_line, lead, "all", block_line, before[0])
        previous = block_line


OPS_BEFORE_AUTOCOMMIT_BLOCK = Rule(
    name="ops-before-autocommit-block",
    summary="Operations before op.get_context().autocommit_block() in the same migration.",
    severity=dict.fromkeys(ALL, "warning"),
    why={
        "all": (
            "autocommit_block() first COMMITs the migration's transaction: what ran before "
            "it is committed for good while alembic_version still names the previous "
            "revision. If the block then fails, the migration is half applied and running it "
            "again fails on what already exists (and without transaction_per_migration the "
            "COMMIT also covers the earlier migrations of the run)."
        ),
    },
    example=same(
        ALL,
        """op.add_column("users", sa.Column("email", sa.String(100), nullable=True))
with op.get_context().autocommit_block():
    op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)""",
    ),
    recipes=tuple(
        Recipe(
            dialect,
            """op.add_column("${table}", sa.Column("${column}", ${type}, nullable=True))
# --- next migration: the autocommit part, alone
with op.get_context().autocommit_block():
    op.create_index("${index}", "${table}", ["${column}"], postgresql_concurrently=True)""",
        )
        for dialect in ALL
    ),
    check=check_ops_before,
)


def check_backfill(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.DATA_CHANGE):
        if operation.placement.autocommit:
            continue
        ddl = ctx.segment_changes_existing_schema(index)
        if ddl is not None:
            what = (operation.sql or "a data change").split()[0]
            lead = (
                (
                    f"changes data ({what} {operation.table or ''}) in the transaction that alters "
                    f"{ddl.table} at line {ddl.line}"
                )
                .replace("  ", " ")
                .replace(" )", ")")
            )
            names = {"ddl_table": ddl.table or "the table"}
            yield Hit(
                operation.line, lead, ctx.target.dialect, operation.end_line, operation, names
            )


BACKFILL_IN_DDL_MIGRATION = Rule(
    name="backfill-in-ddl-migration",
    summary="A data change (UPDATE, INSERT, DELETE) in the transaction of a schema change.",
    severity={"postgresql": "error", "mysql": "warning", "sqlite": "warning"},
    why={
        "postgresql": (
            "The schema change keeps its ACCESS EXCLUSIVE lock on ${ddl_table} until COMMIT, "
            "so the whole data change runs with every read and write of it blocked, and one "
            "big UPDATE holds all its row locks and bloats the table."
        ),
        "mysql": (
            "MySQL and MariaDB commit each DDL statement on its own, so the migration is not "
            "atomic: if the data change fails, the schema change stays and alembic_version "
            "does not move; and one big UPDATE holds its row locks and fills the undo log."
        ),
        "sqlite": (
            "SQLite holds the database's write lock for the whole migration: one big data "
            "change in it blocks every other writer until it ends."
        ),
    },
    example=same(
        ALL,
        """op.add_column("users", sa.Column("status", sa.String(20), nullable=True))
op.execute("UPDATE users SET status = 'active'")""",
    ),
    recipes=(
        Recipe(
            "postgresql",
            "# A migration of its own, in batches that commit one by one.\n" + BACKFILL_PG,
        ),
        Recipe(
            "mysql",
            "# A migration of its own, in batches that commit one by one.\n" + BACKFILL_MYSQL,
        ),
        Recipe(
            "sqlite",
            """# A migration of its own, with no schema change:
op.execute("UPDATE ${table} SET ${column} = ${default_sql} WHERE ${column} IS NULL")""",
        ),
    ),
    check=check_backfill,
)
