"""Rules on foreign keys and CHECK constraints: validation, and names."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule, same
from ._target import DIALECTS

ALL = DIALECTS


def check_foreign_key(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.indexed():
        if not ctx.existing(index):
            continue
        column = operation.column
        if operation.kind is Kind.ADD_COLUMN and column and column.foreign_key:
            lead = f"adds {operation.table}.{operation.name} with a ForeignKey"
            names = {"constraint": f"fk_{operation.table}_{operation.name}"}
            yield Hit(operation.line, lead, "postgresql", operation.end_line, operation, names)
        elif (
            operation.kind is Kind.ADD_CONSTRAINT
            and operation.constraint == "foreignkey"
            and not operation.not_valid
        ):
            lead = f"adds foreign key {operation.name or '(unnamed)'} to {operation.table}"
            yield Hit(operation.line, lead, "postgresql", operation.end_line, operation)


ADD_FOREIGN_KEY_VALIDATING = Rule(
    name="add-foreign-key-validating",
    summary="A foreign key that checks every existing row while writes wait.",
    severity={"postgresql": "error"},
    why={
        "postgresql": (
            "PostgreSQL checks every existing row of ${table} against ${referent} while it "
            "holds SHARE ROW EXCLUSIVE locks on both tables: writes to both wait for the "
            "whole scan. A ForeignKey() given to add_column does the same."
        ),
    },
    example={
        "postgresql": 'op.create_foreign_key("fk_users_org_id", "users", "organizations", '
        '["org_id"], ["id"])'
    },
    recipes=(
        Recipe(
            "postgresql",
            """# (A column added with ForeignKey(): add it without, then:)
op.create_foreign_key(
    "${constraint}", "${table}", "${referent}", ["${column}"], ["${referent_column}"],
    postgresql_not_valid=True,
)
# --- next migration: VALIDATE lets reads and writes through while it scans
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}")""",
        ),
    ),
    check=check_foreign_key,
)


def check_check(ctx: Context) -> Iterator[Hit]:
    target = ctx.target
    for index, operation in ctx.of(Kind.ADD_CONSTRAINT):
        if operation.constraint != "check" or not ctx.existing(index):
            continue
        if (target.postgresql and operation.not_valid) or target.sqlite:
            continue
        if target.mysql and operation.mysql_online:
            continue
        lead = f"adds CHECK constraint {operation.name or '(unnamed)'} to {operation.table}"
        yield Hit(operation.line, lead, target.dialect, operation.end_line, operation)


ADD_CHECK_VALIDATING = Rule(
    name="add-check-validating",
    summary="A CHECK constraint that checks every existing row while the table is locked.",
    severity={"postgresql": "error", "mysql": "error"},
    why={
        "postgresql": (
            "PostgreSQL checks every existing row under an ACCESS EXCLUSIVE lock: no reads "
            "and no writes of ${table} until the scan ends."
        ),
        "mysql": (
            "MySQL and MariaDB add a CHECK constraint only with ALGORITHM=COPY: ${table} is "
            "copied and writes wait for the copy."
        ),
    },
    example={
        "postgresql": 'op.create_check_constraint("ck_users_age", "users", "age >= 0")',
        "mysql": 'op.create_check_constraint("ck_users_age", "users", "age >= 0")',
    },
    recipes=(
        Recipe(
            "postgresql",
            """op.create_check_constraint(
    "${constraint}", "${table}", "${column} IS NOT NULL", postgresql_not_valid=True
)
# --- next migration: VALIDATE lets reads and writes through while it scans
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}")""",
        ),
        Recipe(
            "mysql",
            """# No online way: check it in the application, or add it in a quiet window and
# say so (or with gh-ost or pt-online-schema-change, outside Alembic).
op.create_check_constraint(
    "${constraint}", "${table}", "${column} IS NOT NULL"
)  # asqla: ignore[add-check-validating] added in the Sunday maintenance window""",
        ),
    ),
    check=check_check,
)


def check_validate(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.of(Kind.VALIDATE_CONSTRAINT):
        name = (operation.name or "").lower()
        for added in ctx.ops[:index]:
            if (
                added.kind is Kind.ADD_CONSTRAINT
                and (added.name or "").lower() == name
                and added.placement.segment == operation.placement.segment
            ):
                lead = f"validates {operation.name} in the transaction that added it NOT VALID"
                yield Hit(operation.line, lead, "postgresql", operation.end_line, operation)
                break


VALIDATE_IN_SAME_TRANSACTION = Rule(
    name="validate-in-same-transaction",
    summary="VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID.",
    severity={"postgresql": "error"},
    why={
        "postgresql": (
            "ADD CONSTRAINT ... NOT VALID keeps its lock on ${table} until COMMIT, so a "
            "VALIDATE in the same transaction scans the table with reads and writes blocked: "
            "NOT VALID saved nothing."
        ),
    },
    example={
        "postgresql": """op.create_foreign_key("fk_users_org_id", "users", "organizations",
                      ["org_id"], ["id"], postgresql_not_valid=True)
op.execute("ALTER TABLE users VALIDATE CONSTRAINT fk_users_org_id")"""
    },
    recipes=(
        Recipe(
            "postgresql",
            """# Keep the NOT VALID constraint in the earlier migration; validate in the next:
# --- next migration
op.execute("ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}")""",
        ),
    ),
    check=check_validate,
)


def check_unnamed(ctx: Context) -> Iterator[Hit]:
    for _, operation in ctx.of(Kind.ADD_CONSTRAINT, Kind.CREATE_INDEX):
        # A primary key's name is fixed (MySQL's is always PRIMARY): nothing to drop by name.
        if operation.unnamed and operation.constraint != "primary":
            kind: str = operation.constraint or "index"
            what = {"foreignkey": "foreign key", "primary": "primary key"}.get(kind, kind)
            lead = f"creates an unnamed {what} on {operation.table}"
            yield Hit(operation.line, lead, "all", operation.end_line, operation)


UNNAMED_CONSTRAINT = Rule(
    name="unnamed-constraint",
    summary="A constraint or index without an explicit name.",
    severity=dict.fromkeys(ALL, "warning"),
    why={
        "all": (
            "The name is then chosen at run time, by the database (PostgreSQL users_email_key, "
            "MySQL the column's name, SQLite none at all) or by whatever naming convention "
            "the migration environment has that day: a later migration cannot be sure of the "
            "name it must drop, and SQLite's batch mode cannot drop an unnamed constraint."
        ),
    },
    example=same(ALL, 'op.create_foreign_key(None, "users", "organizations", ["org_id"], ["id"])'),
    recipes=tuple(
        Recipe(
            dialect,
            """op.create_table(
    "${table}",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("${column}", ${type}, nullable=False),
    sa.UniqueConstraint("${column}", name=op.f("uq_${table}_${column}")),
)""",
        )
        for dialect in ALL
    ),
    check=check_unnamed,
)
