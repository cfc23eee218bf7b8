"""PostgreSQL: the issue's safe recipes pass, and the rules follow the server version."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asqla.migrations.lint import LintReport

Lint = Callable[..., LintReport]


def rules_of(report: LintReport) -> list[str]:
    return [finding.rule for finding in report.findings]


CONCURRENT_INDEX = """
with op.get_context().autocommit_block():
    op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
"""


def test_a_concurrent_index_inside_autocommit_block_passes(lint_body: Lint) -> None:
    assert lint_body(CONCURRENT_INDEX, "postgresql").findings == ()


def test_a_concurrent_index_outside_autocommit_block_fails_the_migration(lint_body: Lint) -> None:
    body = 'op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)'
    report = lint_body(body, "postgresql")
    assert rules_of(report) == ["concurrently-in-transaction"]
    assert "cannot run inside a transaction block" in report.findings[0].message
    assert "autocommit_block()" in report.findings[0].fix


def test_a_blocking_index_names_the_table_and_the_lock(lint_body: Lint) -> None:
    report = lint_body('op.create_index("ix_users_email", "users", ["email"])', "postgresql")
    (finding,) = report.findings
    assert (finding.rule, finding.severity, finding.line) == ("create-index-blocking", "error", 11)
    assert "SHARE lock on users" in finding.message
    assert '"ix_users_email", "users", ["email"], postgresql_concurrently=True' in finding.fix


def test_add_column_hides_an_index_a_unique_constraint_and_a_foreign_key(lint_body: Lint) -> None:
    body = """
    op.add_column("users", sa.Column("org_id", sa.Integer(), sa.ForeignKey("orgs.id"),
                                     index=True, unique=True, nullable=True))
    """
    report = lint_body(body, "postgresql")
    assert sorted(rules_of(report)) == [
        "add-foreign-key-validating",
        "add-unique-constraint",
        "create-index-blocking",
    ]
    fk = next(f for f in report.findings if f.rule == "add-foreign-key-validating")
    assert '"fk_users_org_id", "users", "orgs", ["org_id"], ["id"]' in fk.fix


def test_a_not_valid_foreign_key_validated_in_a_later_migration_passes(lint_chain: Lint) -> None:
    first = """
    op.create_foreign_key("fk_users_org_id", "users", "orgs", ["org_id"], ["id"],
                          postgresql_not_valid=True)
    """
    second = 'op.execute("ALTER TABLE users VALIDATE CONSTRAINT fk_users_org_id")'
    assert lint_chain([first, second], "postgresql").findings == ()


def test_validating_in_the_same_migration_is_flagged(lint_body: Lint) -> None:
    body = """
    op.execute("ALTER TABLE users ADD CONSTRAINT fk_o FOREIGN KEY (o) REFERENCES o (id) NOT VALID")
    op.execute("ALTER TABLE users VALIDATE CONSTRAINT fk_o")
    """
    assert rules_of(lint_body(body, "postgresql")) == ["validate-in-same-transaction"]


def test_validating_inside_an_autocommit_block_of_the_same_migration_passes(
    lint_body: Lint,
) -> None:
    body = """
    op.execute("ALTER TABLE users ADD CONSTRAINT fk_o FOREIGN KEY (o) REFERENCES o (id) NOT VALID")
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE users VALIDATE CONSTRAINT fk_o")
    """
    assert rules_of(lint_body(body, "postgresql")) == ["ops-before-autocommit-block"]


NOT_NULL_STEP_1 = """
op.create_check_constraint("ck_users_email_not_null", "users", "email IS NOT NULL",
                           postgresql_not_valid=True)
"""
NOT_NULL_STEP_2 = """
op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_email_not_null")
op.alter_column("users", "email", nullable=False, existing_type=sa.String(100))
op.drop_constraint("ck_users_email_not_null", "users", type_="check")
"""


def test_the_postgresql_12_not_null_recipe_passes(lint_chain: Lint) -> None:
    assert lint_chain([NOT_NULL_STEP_1, NOT_NULL_STEP_2], "postgresql", "12").findings == ()


def test_the_not_null_recipe_still_scans_before_postgresql_12(lint_chain: Lint) -> None:
    report = lint_chain([NOT_NULL_STEP_1, NOT_NULL_STEP_2], "postgresql", "11.9")
    assert rules_of(report) == ["set-not-null"]
    assert "Before PostgreSQL 12" in report.findings[0].message


def test_set_not_null_needs_a_validated_check_on_that_column(lint_chain: Lint) -> None:
    other_column = NOT_NULL_STEP_1.replace('"email IS NOT NULL"', '"name IS NOT NULL"')
    assert rules_of(lint_chain([other_column, NOT_NULL_STEP_2], "postgresql")) == ["set-not-null"]
    unvalidated = NOT_NULL_STEP_2.replace(
        'op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_email_not_null")\n', ""
    )
    assert rules_of(lint_chain([NOT_NULL_STEP_1, unvalidated], "postgresql")) == ["set-not-null"]


@pytest.mark.parametrize(
    ("old", "new", "flagged"),
    [
        pytest.param("sa.String(100)", "sa.String(200)", False, id="varchar-wider"),
        pytest.param("sa.String(100)", "sa.Text()", False, id="varchar-to-text"),
        pytest.param("sa.String(100)", "sa.String()", False, id="varchar-unbounded"),
        pytest.param("sa.Numeric(10, 2)", "sa.Numeric(12, 2)", False, id="numeric-precision"),
        pytest.param("sa.String(200)", "sa.String(100)", True, id="varchar-narrower"),
        pytest.param("sa.Numeric(10, 2)", "sa.Numeric(12, 4)", True, id="numeric-scale"),
        pytest.param("sa.Integer()", "sa.BigInteger()", True, id="int-to-bigint"),
    ],
)
def test_widening_a_varchar_passes_and_a_rewrite_is_flagged(
    lint_body: Lint, old: str, new: str, flagged: bool
) -> None:
    body = f'op.alter_column("users", "name", type_={new}, existing_type={old})'
    assert rules_of(lint_body(body, "postgresql")) == (["alter-column-type"] if flagged else [])


def test_a_type_change_without_existing_type_asks_for_it(lint_body: Lint) -> None:
    report = lint_body('op.alter_column("users", "name", type_=sa.String(200))', "postgresql")
    assert rules_of(report) == ["alter-column-type"]
    assert "existing_type=" in report.findings[0].message


def test_a_unique_constraint_added_using_an_index_built_concurrently_passes(
    lint_chain: Lint,
) -> None:
    build = """
    with op.get_context().autocommit_block():
        op.create_index("uq_users_email", "users", ["email"], unique=True,
                        postgresql_concurrently=True)
    """
    attach = (
        'op.execute("ALTER TABLE users ADD CONSTRAINT uq_users_email '
        'UNIQUE USING INDEX uq_users_email")'
    )
    assert lint_chain([build, attach], "postgresql").findings == ()


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("10.23", ["add-column-volatile-default"], id="10"),
        pytest.param("11", [], id="11"),
    ],
)
def test_a_constant_default_rewrites_only_before_postgresql_11(
    lint_body: Lint, version: str, expected: list[str]
) -> None:
    body = (
        'op.add_column("users", sa.Column("n", sa.Integer(), nullable=False, server_default="0"))'
    )
    assert rules_of(lint_body(body, "postgresql", version)) == expected


@pytest.mark.parametrize(
    ("default", "flagged"),
    [
        pytest.param("sa.func.now()", False, id="now-is-stable"),
        pytest.param('sa.text("CURRENT_TIMESTAMP")', False, id="current-timestamp"),
        pytest.param("sa.text(\"'{}'::jsonb\")", False, id="cast-literal"),
        pytest.param("sa.func.gen_random_uuid()", True, id="gen-random-uuid"),
        pytest.param('sa.text("clock_timestamp()")', True, id="clock-timestamp"),
    ],
)
def test_volatile_defaults_are_told_from_stable_ones(
    lint_body: Lint, default: str, flagged: bool
) -> None:
    body = f'op.add_column("users", sa.Column("x", sa.Text(), server_default={default}))'
    assert rules_of(lint_body(body, "postgresql")) == (
        ["add-column-volatile-default"] if flagged else []
    )


@pytest.mark.parametrize(("version", "flagged"), [("17", True), ("18", False)])
def test_an_unspecified_generated_column_is_stored_before_postgresql_18(
    lint_body: Lint, version: str, flagged: bool
) -> None:
    body = 'op.add_column("users", sa.Column("l", sa.Text(), sa.Computed("lower(email)")))'
    assert rules_of(lint_body(body, "postgresql", version)) == (
        ["add-column-stored-generated"] if flagged else []
    )


def test_tables_created_earlier_in_the_same_migration_are_exempt(lint_body: Lint) -> None:
    body = """
    op.create_table("events", sa.Column("id", sa.BigInteger(), primary_key=True))
    op.add_column("events", sa.Column("kind", sa.String(20), nullable=False))
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_foreign_key("fk_events_user", "events", "users", ["user_id"], ["id"])
    op.rename_table("events", "audit_events")
    op.create_index("ix_audit_events_kind", "audit_events", ["kind"])
    op.execute("INSERT INTO audit_events (kind) VALUES ('boot')")
    """
    assert lint_body(body, "postgresql").findings == ()


def test_an_index_on_a_table_created_later_in_the_migration_is_not_exempt(lint_body: Lint) -> None:
    body = """
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_table("events", sa.Column("id", sa.BigInteger(), primary_key=True))
    """
    assert rules_of(lint_body(body, "postgresql")) == ["create-index-blocking"]


def test_enum_values_need_an_autocommit_block(lint_body: Lint) -> None:
    flagged = lint_body("op.execute(\"ALTER TYPE mood ADD VALUE 'ok'\")", "postgresql", "11")
    assert rules_of(flagged) == ["enum-value-in-transaction"]
    assert "cannot run inside a transaction block" in flagged.findings[0].message
    safe = """
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok'")
    """
    assert lint_body(safe, "postgresql").findings == ()


def test_a_backfill_in_the_transaction_of_ddl_is_flagged_and_batches_pass(lint_body: Lint) -> None:
    body = """
    op.add_column("users", sa.Column("status", sa.String(20), nullable=True))
    users = sa.table("users", sa.column("status"))
    op.execute(users.update().values(status="active"))
    """
    report = lint_body(body, "postgresql")
    assert rules_of(report) == ["backfill-in-ddl-migration"]
    assert "ACCESS EXCLUSIVE lock on users" in report.findings[0].message


def test_json_is_flagged_on_postgresql_only(lint_body: Lint) -> None:
    body = 'op.create_table("t", sa.Column("id", sa.Integer()), sa.Column("d", sa.JSON()))'
    assert rules_of(lint_body(body, "postgresql")) == ["json-not-jsonb"]
    assert lint_body(body, "mysql").findings == ()
    jsonb = body.replace("sa.JSON()", "postgresql.JSONB()")
    assert lint_body(jsonb, "postgresql").findings == ()
