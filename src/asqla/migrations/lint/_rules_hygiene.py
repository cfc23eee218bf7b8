"""Rules on how a migration is written: imports, JSON types, and the ignore comments."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from ._context import Context
from ._ops import Kind, TypeSpec
from ._rule import Hit, Recipe, Rule, same
from ._target import DIALECTS

ALL = DIALECTS

# What a migration may import: the standard library, SQLAlchemy and Alembic,
# asqla's column types, and libraries that only provide column types.
_ALLOWED = {"alembic", "sqlalchemy", "geoalchemy2", "pgvector", "sqlalchemy_utils"}
_ALLOWED_PREFIXES = ("asqla.model.types", "sqlmodel.sql")


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if module.startswith("."):
        return False
    if module.startswith(_ALLOWED_PREFIXES) or top in _ALLOWED:
        return True
    if top == "asqla":
        return not module.startswith("asqla.model")
    return top in sys.stdlib_module_names


def check_imports(ctx: Context) -> Iterator[Hit]:
    for imported in ctx.migration.imports:
        if not _allowed(imported.module):
            lead = f"imports {imported.module}"
            names = {"module": imported.module}
            yield Hit(imported.line, lead, "all", imported.line, None, names)


ORM_IMPORT_IN_MIGRATION = Rule(
    name="orm-import-in-migration",
    summary="A migration that imports the application's models (or other application code).",
    severity=dict.fromkeys(ALL, "warning"),
    why={
        "all": (
            "A migration must do in a year what it does today, but ${module} changes with the "
            "application: a model that gains a column the database does not have yet breaks "
            "this migration on a fresh database, and a module that moves breaks every upgrade "
            "from scratch. Only the standard library, SQLAlchemy, Alembic, asqla.model.types "
            "and column-type libraries are expected."
        ),
    },
    example=same(
        ALL, "from app.models import User\nop.execute(sa.update(User).values(active=True))"
    ),
    recipes=tuple(
        Recipe(
            dialect,
            """# Declare, inside the migration, the few columns it needs:
${table} = sa.table("${table}", sa.column("id", sa.Integer), sa.column("${column}", ${type}))
op.execute(${table}.update().where(${table}.c.${column}.is_(None)).values(${column}=${default}))""",
        )
        for dialect in ALL
    ),
    check=check_imports,
)


def _json(column_type: TypeSpec | None) -> bool:
    return column_type is not None and column_type.name == "JSON"


def check_json(ctx: Context) -> Iterator[Hit]:
    for _, operation in ctx.indexed():
        columns = list(operation.columns)
        if operation.column is not None:
            columns.append(operation.column)
        found = [c.name or "?" for c in columns if _json(c.type)]
        if operation.kind is Kind.ALTER_COLUMN and _json(operation.type):
            found.append(operation.name or "?")
        for name in found:
            lead = f"declares {operation.table}.{name} as json"
            names = {"column": name}
            yield Hit(operation.line, lead, "postgresql", operation.end_line, operation, names)


JSON_NOT_JSONB = Rule(
    name="json-not-jsonb",
    summary="A json column on PostgreSQL, where jsonb is what you want.",
    severity={"postgresql": "warning"},
    why={
        "postgresql": (
            "PostgreSQL's json keeps the text as given and parses it on every read; it has no "
            "equality operator (DISTINCT, GROUP BY and UNION on it fail) and no GIN index. "
            "sqlalchemy.JSON renders as json on PostgreSQL; postgresql.JSONB is the type to use."
        ),
    },
    example={
        "postgresql": 'op.add_column("users", sa.Column("settings", sa.JSON(), nullable=True))'
    },
    recipes=(
        Recipe(
            "postgresql",
            'op.add_column("${table}", sa.Column("${column}", postgresql.JSONB(), nullable=True))',
        ),
    ),
    check=check_json,
)


def _no_check(ctx: Context) -> Iterator[Hit]:
    return iter(())


INVALID_IGNORE = Rule(
    name="invalid-ignore",
    summary="An asqla: ignore comment without a reason, or naming no known rule.",
    severity=dict.fromkeys(ALL, "error"),
    why={
        "all": (
            "An ignore comment must say which rule it silences and why, so that a reviewer "
            "can judge the reason; one without is reported and silences nothing."
        ),
    },
    example=same(ALL, 'op.drop_column("users", "legacy")  # asqla: ignore[drop-column]'),
    recipes=tuple(
        Recipe(
            dialect,
            'op.drop_column("${table}", "${column}")  '
            "# asqla: ignore[drop-column] unused since release 2.4",
        )
        for dialect in ALL
    ),
    check=_no_check,
)
