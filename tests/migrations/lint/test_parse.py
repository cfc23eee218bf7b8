"""Reading migrations without running them: the Python AST and literal SQL."""

from __future__ import annotations

import pytest

from asqla.migrations.lint import LintUsageError, lint_source
from asqla.migrations.lint._ops import Kind
from asqla.migrations.lint._python import read_migration
from asqla.migrations.lint._sql import split_statements, tokenize

from .conftest import script


def operations(body: str, dialect: str = "postgresql") -> list[tuple[str, int, int, bool]]:
    migration = read_migration(script(body), "m.py", dialect=dialect)  # type: ignore[arg-type]
    return [
        (op.kind.value, op.line, op.placement.segment, op.placement.autocommit)
        for op in migration.operations
    ]


def test_autocommit_blocks_split_the_migration_into_transactions() -> None:
    body = """
    op.add_column("t", sa.Column("a", sa.Integer()))
    with op.get_context().autocommit_block():
        op.create_index("ix_a", "t", ["a"], postgresql_concurrently=True)
        op.create_index("ix_b", "t", ["b"], postgresql_concurrently=True)
    op.drop_column("t", "c")
    """
    assert operations(body) == [
        ("add_column", 11, 0, False),
        ("create_index", 13, 2, True),
        ("create_index", 14, 3, True),
        ("drop_column", 15, 4, False),
    ]


def test_a_context_bound_to_a_name_is_tracked_too() -> None:
    body = """
    context = op.get_context()
    with context.autocommit_block():
        op.execute("ALTER TYPE mood ADD VALUE 'x'")
    """
    assert operations(body) == [("add_enum_value", 13, 2, True)]


def test_statements_inside_branches_and_loops_are_read() -> None:
    body = """
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_index("ix_a", "t", ["a"])
    for name in ("a", "b"):
        op.drop_column("t", name)
    """
    assert [kind for kind, *_ in operations(body)] == ["create_index", "drop_column"]


def test_literal_sql_statements_get_their_own_lines() -> None:
    body = '''
    op.execute("""
        CREATE INDEX ix_a ON t (a);
        -- a comment; with a semicolon
        UPDATE t SET a = 'x;y';
    """)
    '''
    assert [(kind, line) for kind, line, *_ in operations(body)] == [
        ("create_index", 12),
        ("data_change", 14),
    ]


def test_the_tokenizer_never_reads_keywords_inside_strings_or_bodies() -> None:
    sql = """
    DO $body$ BEGIN COMMIT; END $body$;
    SELECT 'COMMIT; DROP TABLE x';
    SELECT E'it\\'s; fine', "quoted;ident";
    /* COMMIT; */ SELECT 1
    """
    assert len(split_statements(sql, dialect="postgresql")) == 4
    mysql = "SELECT 'a\\';b', `odd;name` # COMMIT;\n; SELECT 2"
    assert len(split_statements(mysql, dialect="mysql")) == 2
    assert [t.text for t in tokenize('"MixedCase".col', dialect="postgresql")] == [
        "MixedCase",
        ".",
        "COL",
    ]


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix ON ONLY public.t (a)", "create_index"),
        ("DROP INDEX CONCURRENTLY IF EXISTS ix", "drop_index"),
        ("ALTER TABLE t VALIDATE CONSTRAINT ck", "validate_constraint"),
        ("ALTER TABLE t ADD CONSTRAINT uq UNIQUE USING INDEX ix", "add_constraint"),
        ("ALTER TABLE t RENAME COLUMN a TO b", "alter_column"),
        ("ALTER TABLE t RENAME TO u", "rename_table"),
        ("RENAME TABLE t TO u", "rename_table"),
        ("ALTER TYPE mood ADD VALUE 'x' BEFORE 'y'", "add_enum_value"),
        ("REINDEX INDEX CONCURRENTLY ix", "reindex"),
        ("START TRANSACTION", "transaction_control"),
        ("SET lock_timeout = '5s'", "session_setting"),
        ("DELETE FROM t WHERE a IS NULL", "data_change"),
        ("GRANT SELECT ON t TO reader", "other"),
    ],
)
def test_statements_are_recognized(sql: str, kind: str) -> None:
    body = f"op.execute({sql!r})"
    assert operations(body)[0][0] == kind


def test_an_add_column_in_sql_is_read_like_an_alembic_one() -> None:
    migration = read_migration(
        script("op.execute(\"ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT nextval('s')\")"),
        "m.py",
        dialect="postgresql",
    )
    (operation,) = migration.operations
    assert operation.kind is Kind.ADD_COLUMN and operation.column is not None
    assert operation.column.nullable is False
    assert operation.column.server_default is not None
    assert operation.column.server_default.volatility == "volatile"


def test_revisions_and_imports_are_read() -> None:
    source = script("pass", revision="abc", down_revision="def").replace(
        "import sqlalchemy as sa", "import sqlalchemy as sa\nfrom app import models"
    )
    migration = read_migration(source, "m.py", dialect="sqlite")
    assert (migration.revision, migration.down_revisions) == ("abc", ("def",))
    assert "app.models" in [imported.module for imported in migration.imports]


def test_downgrade_is_not_linted() -> None:
    source = script("pass") + '\n\ndef downgrade_extra() -> None:\n    op.drop_table("users")\n'
    assert lint_source(source, dialect="postgresql").findings == ()


def test_a_syntax_error_names_the_file_and_the_line() -> None:
    with pytest.raises(LintUsageError, match=r"^versions/bad\.py, line 3: the migration is not"):
        lint_source("import x\n\ndef upgrade(:\n", dialect="sqlite", path="versions/bad.py")
