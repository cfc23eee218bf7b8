"""``# asqla: ignore[rule-name] reason``: one finding silenced, and only with a reason."""

from __future__ import annotations

from collections.abc import Callable

from asqla.migrations.lint import LintReport

Lint = Callable[..., LintReport]


def rules_of(report: LintReport) -> list[str]:
    return [finding.rule for finding in report.findings]


def test_an_ignore_on_the_line_silences_the_finding(lint_body: Lint) -> None:
    body = 'op.drop_column("users", "legacy")  # asqla: ignore[drop-column] unused since 2.4'
    assert lint_body(body, "postgresql").findings == ()


def test_an_ignore_alone_on_the_line_above_silences_the_statement_below(lint_body: Lint) -> None:
    body = """
    # asqla: ignore[drop-column] unused since 2.4
    op.drop_column("users", "legacy")
    op.drop_column("users", "other")
    """
    report = lint_body(body, "postgresql")
    assert [(f.rule, f.line) for f in report.findings] == [("drop-column", 13)]


def test_an_ignore_on_a_previous_statement_does_not_leak(lint_body: Lint) -> None:
    body = """
    op.drop_column("users", "a")  # asqla: ignore[drop-column] unused since 2.4
    op.drop_column("users", "b")
    """
    assert [f.line for f in lint_body(body, "postgresql").findings] == [12]


def test_an_ignore_anywhere_in_a_multiline_call_applies(lint_body: Lint) -> None:
    body = """
    op.create_index(
        "ix_users_email",
        "users",
        ["email"],
    )  # asqla: ignore[create-index-blocking] users has 40 rows
    """
    assert lint_body(body, "postgresql").findings == ()


def test_an_ignore_names_only_the_rules_it_silences(lint_body: Lint) -> None:
    body = (
        'op.add_column("users", sa.Column("e", sa.String(9), nullable=False, index=True))'
        "  # asqla: ignore[create-index-blocking] tiny table"
    )
    assert rules_of(lint_body(body, "postgresql")) == ["add-column-required"]
    both = body.replace("[create-index-blocking]", "[create-index-blocking, add-column-required]")
    assert lint_body(both, "postgresql").findings == ()


def test_an_ignore_without_a_reason_is_reported_and_silences_nothing(lint_body: Lint) -> None:
    body = 'op.drop_column("users", "legacy")  # asqla: ignore[drop-column]'
    report = lint_body(body, "postgresql")
    assert rules_of(report) == ["drop-column", "invalid-ignore"]
    assert "gives no reason" in report.findings[1].message
    assert report.findings[1].severity == "error"


def test_an_ignore_of_an_unknown_rule_is_reported(lint_body: Lint) -> None:
    body = 'op.drop_column("users", "x")  # asqla: ignore[drop-colum] typo in the name'
    report = lint_body(body, "postgresql")
    assert rules_of(report) == ["drop-column", "invalid-ignore"]
    assert "['drop-colum']" in report.findings[1].message


def test_a_bare_ignore_is_reported(lint_body: Lint) -> None:
    body = 'op.drop_column("users", "x")  # asqla: ignore because I said so'
    assert rules_of(lint_body(body, "postgresql")) == ["drop-column", "invalid-ignore"]


def test_an_ignore_inside_a_string_is_not_a_comment(lint_body: Lint) -> None:
    body = 'op.execute("DROP TABLE users -- # asqla: ignore[drop-table] not a comment")'
    assert rules_of(lint_body(body, "postgresql")) == ["drop-table"]


def test_an_ignore_on_the_op_execute_line_covers_its_sql(lint_body: Lint) -> None:
    body = '''
    op.execute(  # asqla: ignore[drop-table] archived in 2.3
        """
        DROP TABLE old_events
        """
    )
    '''
    assert lint_body(body, "postgresql").findings == ()
