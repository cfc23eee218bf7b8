"""SQLite: what passes on an empty database and fails on one with rows, and batch mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asqla.migrations.lint import LintReport

Lint = Callable[..., LintReport]


def rules_of(report: LintReport) -> list[str]:
    return [finding.rule for finding in report.findings]


@pytest.mark.parametrize(
    ("column", "rule"),
    [
        pytest.param(
            'sa.Column("n", sa.Integer(), nullable=False)', "add-column-required", id="nn"
        ),
        pytest.param(
            'sa.Column("t", sa.DateTime(), server_default=sa.func.now())',
            "add-column-volatile-default",
            id="now",
        ),
        pytest.param(
            'sa.Column("t", sa.Integer(), server_default=sa.text("(1 + 1)"))',
            "add-column-volatile-default",
            id="expression",
        ),
        pytest.param(
            'sa.Column("g", sa.Integer(), sa.Computed("id * 2", persisted=True))',
            "add-column-stored-generated",
            id="stored",
        ),
        pytest.param('sa.Column("u", sa.Integer(), unique=True)', "add-unique-constraint", id="uq"),
    ],
)
def test_columns_sqlite_cannot_add_to_a_table_with_rows(
    lint_body: Lint, column: str, rule: str
) -> None:
    assert rules_of(lint_body(f'op.add_column("users", {column})', "sqlite")) == [rule]


def test_constant_defaults_and_virtual_columns_pass(lint_body: Lint) -> None:
    body = """
    op.add_column("users", sa.Column("n", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("v", sa.Integer(), sa.Computed("id * 2")))
    """
    assert lint_body(body, "sqlite").findings == ()


def test_alter_column_outside_batch_mode_fails_and_inside_passes(lint_body: Lint) -> None:
    outside = """
    op.alter_column("users", "email", nullable=False, existing_type=sa.String(100))
    op.alter_column("users", "age", type_=sa.BigInteger(), existing_type=sa.Integer())
    """
    assert rules_of(lint_body(outside, "sqlite")) == ["set-not-null", "alter-column-type"]
    inside = """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", nullable=False, existing_type=sa.String(100))
        batch_op.alter_column("age", type_=sa.BigInteger(), existing_type=sa.Integer())
        batch_op.create_unique_constraint("uq_users_email", ["email"])
    """
    assert lint_body(inside, "sqlite").findings == ()


def test_batch_mode_does_not_hide_renames_and_drops(lint_body: Lint) -> None:
    body = """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", new_column_name="mail")
        batch_op.drop_column("legacy")
    """
    report = lint_body(body, "sqlite")
    assert rules_of(report) == ["rename-column", "drop-column"]
    assert [f.line for f in report.findings] == [12, 13]
    assert "users.email" in report.findings[0].message


def test_a_view_does_not_save_a_rename_on_sqlite(lint_body: Lint) -> None:
    body = """
    op.rename_table("users", "accounts")
    op.execute("CREATE VIEW users AS SELECT * FROM accounts")
    """
    assert rules_of(lint_body(body, "sqlite")) == ["rename-table"]
    assert lint_body(body, "postgresql").findings == ()
    assert lint_body(body, "mysql").findings == ()
