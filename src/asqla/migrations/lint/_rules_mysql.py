"""Rules that only MySQL and MariaDB need: foreign keys and the COPY algorithm."""

from __future__ import annotations

from collections.abc import Iterator

from ._context import Context
from ._ops import Kind
from ._rule import Hit, Recipe, Rule


def check_foreign_key(ctx: Context) -> Iterator[Hit]:
    for index, operation in ctx.indexed():
        if not ctx.existing(index) or operation.mysql_online:
            continue
        column = operation.column
        if operation.kind is Kind.ADD_COLUMN and column and column.foreign_key:
            lead = f"adds {operation.table}.{operation.name} with a ForeignKey"
            names = {"constraint": f"fk_{operation.table}_{operation.name}"}
            yield Hit(operation.line, lead, "mysql", operation.end_line, operation, names)
        elif operation.kind is Kind.ADD_CONSTRAINT and operation.constraint == "foreignkey":
            lead = f"adds foreign key {operation.name or '(unnamed)'} to {operation.table}"
            yield Hit(operation.line, lead, "mysql", operation.end_line, operation)


MYSQL_ADD_FOREIGN_KEY = Rule(
    name="mysql-add-foreign-key",
    summary="A foreign key added with foreign_key_checks on (a table copy).",
    severity={"mysql": "error"},
    why={
        "mysql": (
            "With foreign_key_checks on, MySQL and MariaDB add a foreign key only with "
            "ALGORITHM=COPY: ${table} is copied and writes wait for the copy. With the checks "
            "off the key is added in place, but existing rows are not checked."
        ),
    },
    example={
        "mysql": 'op.create_foreign_key("fk_users_org_id", "users", "organizations", '
        '["org_id"], ["id"])'
    },
    recipes=(
        Recipe(
            "mysql",
            """# First make sure no row points nowhere: the server will not check them.
op.execute("SET foreign_key_checks = 0")
op.execute(
    "ALTER TABLE ${table} ADD CONSTRAINT ${constraint} FOREIGN KEY (${column}) "
    "REFERENCES ${referent} (${referent_column}), ALGORITHM=INPLACE, LOCK=NONE"
)
op.execute("SET foreign_key_checks = 1")""",
        ),
    ),
    check=check_foreign_key,
)


def check_copy(ctx: Context) -> Iterator[Hit]:
    lines: set[int] = set()
    for index, operation in ctx.indexed():
        if not ctx.existing(index) or operation.line in lines:
            continue
        if operation.algorithm == "COPY":
            lead = f"asks for ALGORITHM=COPY on {operation.table}"
        elif operation.kind is Kind.REBUILD_TABLE and not operation.mysql_online:
            lead = f"copies table {operation.table} ({operation.name})"
        else:
            continue
        lines.add(operation.line)
        yield Hit(operation.line, lead, "mysql", operation.end_line, operation)


MYSQL_COPY_ALGORITHM = Rule(
    name="mysql-copy-algorithm",
    summary="A change MySQL/MariaDB can only make by copying the table.",
    severity={"mysql": "error"},
    why={
        "mysql": (
            "ALGORITHM=COPY copies ${table} row by row into a new table while writes wait; "
            "converting the character set, or dropping the primary key without adding "
            "another, can only be done that way. Alembic's batch mode with recreate='always' "
            "copies the table itself, and loses the writes made during the copy."
        ),
    },
    example={"mysql": 'op.execute("ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4")'},
    recipes=(
        Recipe(
            "mysql",
            """# Name the online algorithm you expect: the server then refuses instead of copying.
op.execute("ALTER TABLE ${table} ADD COLUMN ${column}_note TEXT NULL, ALGORITHM=INSTANT")
# What only a copy can do (a new character set, a dropped primary key): run it with
# gh-ost or pt-online-schema-change outside Alembic, or in a quiet window with an
# ignore comment that gives the reason.""",
        ),
    ),
    check=check_copy,
)
