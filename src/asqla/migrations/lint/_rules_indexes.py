"""Rules on indexes and the constraints built on one: unique and primary keys."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule

_CONCURRENT_BUILD = """with op.get_context().autocommit_block():
    # A failed concurrent build leaves an INVALID index: drop it before a retry.
    op.drop_index(
        "${index}", table_name="${table}", postgresql_concurrently=True, if_exists=True
    )
    op.create_index(
        "${index}", "${table}", ["${column}"], postgresql_concurrently=True
    )"""


def check_create_index(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.indexed():
        if not ctx.existing(index):
            continue
        lead = None
        if target.postgresql:
            if operation.kind is Kind.CREATE_INDEX and not operation.concurrently:
                lead = f"builds index {operation.name or '(unnamed)'} on {operation.table}"
            elif operation.kind is Kind.REINDEX and not operation.concurrently:
                lead = f"rebuilds the indexes of {operation.table or 'an index'}"
            elif operation.kind is Kind.ADD_COLUMN and operation.column and operation.column.index:
                lead = f"adds {operation.table}.{operation.name} with index=True"
        elif (
            target.mysql
            and operation.kind is Kind.CREATE_INDEX
            and operation.fulltext
            and not operation.mysql_online
        ):
            lead = f"builds FULLTEXT/SPATIAL index {operation.name} on {operation.table}"
        if lead is not None:
            yield Hit(operation.line, lead, target.dialect, operation.end_line, operation)


CREATE_INDEX_BLOCKING = Rule(
    name="create-index-blocking",
    summary="An index built while writes to the table wait.",
    severity={"postgresql": "error", "mysql": "error"},
    why={
        "postgresql": (
            "Without CONCURRENTLY, PostgreSQL holds a SHARE lock on ${table} for the whole "
            "build: reads go on, every INSERT, UPDATE and DELETE waits. An index that "
            "add_column(index=True) creates is built the same way."
        ),
        "mysql": (
            "MySQL and MariaDB build a FULLTEXT or SPATIAL index only with LOCK=SHARED: writes "
            "to ${table} wait for the build. Other InnoDB indexes are built online."
        ),
    },
    example={
        "postgresql": 'op.create_index("ix_users_email", "users", ["email"])',
        "mysql": 'op.create_index("ix_posts_body", "posts", ["body"], mysql_prefix="FULLTEXT")',
    },
    recipes=(
        Recipe(
            "postgresql",
            "# In a migration of its own (add a column without index=True first).\n"
            + _CONCURRENT_BUILD,
        ),
        Recipe(
            "mysql",
            """# InnoDB has no online FULLTEXT build: build it in a quiet window and say so
# (or with gh-ost or pt-online-schema-change, outside Alembic).
op.create_index(
    "${index}", "${table}", ["${column}"], mysql_prefix="FULLTEXT"
)  # asqla: ignore[create-index-blocking] built in the Sunday maintenance window""",
        ),
    ),
    check=check_create_index,
)


def check_drop_index(ctx: Context) -> Iterator[Hit]:
    created = set()
    for index, operation in ctx.indexed():
        if operation.kind is Kind.CREATE_INDEX and operation.name:
            created.add(operation.name.lower())
        elif (
            operation.kind is Kind.DROP_INDEX
            and not operation.concurrently
            and ctx.existing(index)
            and (operation.name or "").lower() not in created
        ):
            lead = f"drops index {operation.name}"
            yield Hit(operation.line, lead, "postgresql", operation.end_line, operation)


DROP_INDEX_BLOCKING = Rule(
    name="drop-index-blocking",
    summary="An index dropped under an ACCESS EXCLUSIVE lock.",
    severity={"postgresql": "warning"},
    why={
        "postgresql": (
            "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table: quick once granted, but "
            "it waits behind every running query of ${table}, and every new query, reads "
            "included, queues behind it."
        ),
    },
    example={"postgresql": 'op.drop_index("ix_users_email", table_name="users")'},
    recipes=(
        Recipe(
            "postgresql",
            """with op.get_context().autocommit_block():
    op.drop_index(
        "${index}", table_name="${table}", postgresql_concurrently=True, if_exists=True
    )""",
        ),
    ),
    check=check_drop_index,
)


def check_concurrently(ctx: Context) -> Iterator[Hit]:
    for _, operation in ctx.of(Kind.CREATE_INDEX, Kind.DROP_INDEX, Kind.REINDEX):
        if operation.concurrently and not operation.placement.autocommit:
            verb = {"create_index": "builds", "drop_index": "drops", "reindex": "rebuilds"}
            lead = f"{verb[operation.kind]} index {operation.name or ''} CONCURRENTLY".replace(
                "  ", " "
            )
            lead += " inside the migration's transaction"
            yield Hit(operation.line, lead, "postgresql", operation.end_line, operation)


CONCURRENTLY_IN_TRANSACTION = Rule(
    name="concurrently-in-transaction",
    summary="CONCURRENTLY outside op.get_context().autocommit_block().",
    severity={"postgresql": "error"},
    why={
        "postgresql": (
            "PostgreSQL refuses CREATE INDEX, DROP INDEX and REINDEX CONCURRENTLY inside a "
            "transaction block, and Alembic runs each migration in one: the migration fails "
            "with 'cannot run inside a transaction block'."
        ),
    },
    example={
        "postgresql": 'op.create_index("ix_users_email", "users", ["email"], '
        "postgresql_concurrently=True)"
    },
    recipes=(Recipe("postgresql", _CONCURRENT_BUILD),),
    check=check_concurrently,
)


def check_unique(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.indexed():
        if not ctx.existing(index) or (target.sqlite and operation.placement.batch):
            continue
        column = operation.column
        if operation.kind is Kind.ADD_COLUMN and column and column.unique:
            lead = f"adds {operation.table}.{operation.name} with unique=True"
            names = {"constraint": f"uq_{operation.table}_{operation.name}"}
            yield Hit(operation.line, lead, target.dialect, operation.end_line, operation, names)
        elif (
            operation.kind is Kind.ADD_CONSTRAINT
            and operation.constraint == "unique"
            and not operation.using_index
        ):
            lead = f"adds unique constraint {operation.name or '(unnamed)'} to {operation.table}"
            yield Hit(operation.line, lead, target.dialect, operation.end_line, operation)


ADD_UNIQUE_CONSTRAINT = Rule(
    name="add-unique-constraint",
    summary="A unique constraint whose index is built while writes wait.",
    severity={"postgresql": "error", "sqlite": "error"},
    why={
        "postgresql": (
            "PostgreSQL builds the constraint's unique index under a SHARE lock on ${table}: "
            "every INSERT, UPDATE and DELETE waits for the whole build."
        ),
        "sqlite": (
            "SQLite cannot add a constraint to an existing table, nor add a UNIQUE column: "
            "outside op.batch_alter_table the migration fails."
        ),
    },
    example={
        "postgresql": 'op.create_unique_constraint("uq_users_email", "users", ["email"])',
        "sqlite": 'op.create_unique_constraint("uq_users_email", "users", ["email"])',
    },
    recipes=(
        Recipe(
            "postgresql",
            """with op.get_context().autocommit_block():
    op.create_index(
        "${constraint}", "${table}", ["${column}"], unique=True, postgresql_concurrently=True
    )
# --- next migration: attaching a ready index is instant
op.execute(
    "ALTER TABLE ${table} ADD CONSTRAINT ${constraint} UNIQUE USING INDEX ${constraint}"
)""",
        ),
        Recipe(
            "sqlite",
            """with op.batch_alter_table("${table}") as batch_op:
    batch_op.create_unique_constraint("${constraint}", ["${column}"])""",
        ),
    ),
    check=check_unique,
)


def check_primary(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.of(Kind.ADD_CONSTRAINT):
        if operation.constraint != "primary" or not ctx.existing(index):
            continue
        if target.postgresql and operation.using_index:
            continue
        if target.mysql and operation.mysql_online:
            continue
        lead = f"adds primary key {operation.name or '(unnamed)'} to {operation.table}"
        yield Hit(operation.line, lead, target.dialect, operation.end_line, operation)


ADD_PRIMARY_KEY = Rule(
    name="add-primary-key",
    summary="A primary key added to an existing table.",
    severity={"postgresql": "error", "mysql": "warning"},
    why={
        "postgresql": (
            "PostgreSQL builds the key's index and checks NOT NULL under an ACCESS EXCLUSIVE "
            "lock: no reads and no writes of ${table} until both end."
        ),
        "mysql": (
            "MySQL and MariaDB rebuild the whole table around a new primary key (it is the "
            "clustered index): online, but as long as a copy, and the ALTER falls back to a "
            "blocking copy when it has to make a column NOT NULL first."
        ),
    },
    example={
        "postgresql": 'op.create_primary_key("pk_events", "events", ["id"])',
        "mysql": 'op.create_primary_key("pk_events", "events", ["id"])',
    },
    recipes=(
        Recipe(
            "postgresql",
            """# The key's columns must be NOT NULL already (see set-not-null).
with op.get_context().autocommit_block():
    op.create_index(
        "${constraint}", "${table}", ["${column}"], unique=True, postgresql_concurrently=True
    )
# --- next migration: attaching a ready index is instant
op.execute(
    "ALTER TABLE ${table} ADD CONSTRAINT ${constraint} PRIMARY KEY USING INDEX ${constraint}"
)""",
        ),
        Recipe(
            "mysql",
            """# Demand an online rebuild: the server refuses rather than blocks writes.
op.execute("ALTER TABLE ${table} ADD PRIMARY KEY (${column}), ALGORITHM=INPLACE, LOCK=NONE")""",
        ),
    ),
    check=check_primary,
)
