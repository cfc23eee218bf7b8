"""MySQL and MariaDB: COPY and LOCK=SHARED operations, and ALTERs that demand an online algorithm.

The claims are checked against a real MariaDB in test_server_claims.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asqla.migrations.lint import LintReport, Target

Lint = Callable[..., LintReport]


def rules_of(report: LintReport) -> list[str]:
    return [finding.rule for finding in report.findings]


@pytest.mark.parametrize(
    ("version", "flavor", "label"),
    [
        pytest.param("8.0.36", "mysql", "MySQL 8.0.36", id="mysql"),
        pytest.param("10.11.6-MariaDB-0+deb12u1", "mariadb", "MariaDB 10.11.6", id="mariadb"),
        pytest.param("mariadb-11.4", "mariadb", "MariaDB 11.4", id="mariadb-prefix"),
        pytest.param("10.6", "mariadb", "MariaDB 10.6", id="major-10-is-mariadb"),
    ],
)
def test_the_server_version_tells_mysql_from_mariadb(version: str, flavor: str, label: str) -> None:
    target = Target.parse("mysql", version)
    assert (target.flavor, target.label) == (flavor, label)


def test_instant_add_column_follows_the_version() -> None:
    assert Target.parse("mysql", "8.0.12").mysql_instant_add_column()
    assert not Target.parse("mysql", "8.0.11").mysql_instant_add_column()
    assert Target.parse("mysql", "10.3.7-MariaDB").mysql_instant_add_column()
    assert not Target.parse("mysql", "10.2-MariaDB").mysql_instant_add_column()


def test_a_foreign_key_is_flagged_and_the_inplace_recipe_passes(lint_body: Lint) -> None:
    report = lint_body(
        'op.create_foreign_key("fk_u_org", "users", "orgs", ["org_id"], ["id"])', "mysql"
    )
    assert rules_of(report) == ["mysql-add-foreign-key"]
    assert "ALGORITHM=COPY" in report.findings[0].message
    assert "REFERENCES orgs (id), ALGORITHM=INPLACE, LOCK=NONE" in report.findings[0].fix
    safe = """
    op.execute("SET foreign_key_checks = 0")
    op.execute("ALTER TABLE users ADD CONSTRAINT fk_u_org FOREIGN KEY (org_id) "
               "REFERENCES orgs (id), ALGORITHM=INPLACE, LOCK=NONE")
    op.execute("SET foreign_key_checks = 1")
    """
    assert lint_body(safe, "mysql").findings == ()


def test_postgresql_only_rules_stay_quiet_on_mysql(lint_body: Lint) -> None:
    body = """
    op.create_index("ix_users_email", "users", ["email"])
    op.drop_index("ix_users_name", table_name="users")
    op.create_unique_constraint("uq_users_email", "users", ["email"])
    """
    assert lint_body(body, "mysql").findings == ()


def test_a_fulltext_index_blocks_writes(lint_body: Lint) -> None:
    body = 'op.create_index("ix_posts_body", "posts", ["body"], mysql_prefix="FULLTEXT")'
    assert rules_of(lint_body(body, "mysql")) == ["create-index-blocking"]
    raw = 'op.execute("ALTER TABLE posts ADD FULLTEXT INDEX ix_posts_body (body)")'
    assert rules_of(lint_body(raw, "mysql")) == ["create-index-blocking"]


@pytest.mark.parametrize(
    ("old", "new", "flagged"),
    [
        pytest.param("sa.String(50)", "sa.String(60)", False, id="same-prefix-short"),
        pytest.param("sa.String(100)", "sa.String(300)", False, id="same-prefix-long"),
        pytest.param("sa.String(50)", "sa.String(70)", True, id="prefix-grows"),
        pytest.param("sa.Integer()", "sa.BigInteger()", True, id="int-to-bigint"),
    ],
)
def test_a_varchar_is_extended_in_place_only_when_its_length_prefix_keeps_its_size(
    lint_body: Lint, old: str, new: str, flagged: bool
) -> None:
    body = f'op.alter_column("users", "name", type_={new}, existing_type={old})'
    assert rules_of(lint_body(body, "mysql")) == (["alter-column-type"] if flagged else [])


def test_an_alter_that_demands_an_online_algorithm_passes_the_lock_rules(lint_body: Lint) -> None:
    body = """
    op.execute("ALTER TABLE users MODIFY email VARCHAR(100) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE")
    op.execute("ALTER TABLE t ADD COLUMN v INT AS (id * 2) STORED, ALGORITHM=INPLACE, LOCK=NONE")
    """
    assert lint_body(body, "mysql").findings == ()
    without = 'op.execute("ALTER TABLE users MODIFY email VARCHAR(100) NOT NULL")'
    assert sorted(rules_of(lint_body(without, "mysql"))) == ["alter-column-type", "set-not-null"]


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("ALTER TABLE users ADD COLUMN n INT, ALGORITHM=COPY", id="explicit-copy"),
        pytest.param("ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4", id="convert"),
        pytest.param("ALTER TABLE users DROP PRIMARY KEY", id="drop-primary-key"),
    ],
)
def test_copy_operations_are_flagged(lint_body: Lint, statement: str) -> None:
    assert rules_of(lint_body(f'op.execute("{statement}")', "mysql")) == ["mysql-copy-algorithm"]


def test_swapping_the_primary_key_in_one_statement_is_not_a_copy(lint_body: Lint) -> None:
    body = (
        'op.execute("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b), '
        'ALGORITHM=INPLACE, LOCK=NONE")'
    )
    assert lint_body(body, "mysql").findings == ()


def test_batch_mode_recreate_always_copies_the_table(lint_body: Lint) -> None:
    body = """
    with op.batch_alter_table("users", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    """
    report = lint_body(body, "mysql")
    assert rules_of(report) == ["mysql-copy-algorithm"]
    assert report.findings[0].line == 11


def test_adding_a_required_column_says_what_mysql_does(lint_body: Lint) -> None:
    body = 'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False, default=0))'
    (finding,) = lint_body(body, "mysql").findings
    assert finding.rule == "add-column-required"
    assert "implicit default" in finding.message
    assert "default= is applied by SQLAlchemy" in finding.message
    assert 'server_default="0"' in finding.fix


def test_auto_increment_and_stored_columns_are_flagged(lint_body: Lint) -> None:
    body = """
    op.add_column("t", sa.Column("n", sa.BigInteger(), autoincrement=True))
    op.add_column("t", sa.Column("g", sa.Integer(), sa.Computed("id * 2", persisted=True)))
    op.add_column("t", sa.Column("v", sa.Integer(), sa.Computed("id * 2")))
    """
    assert rules_of(lint_body(body, "mysql")) == [
        "add-column-auto-increment",
        "add-column-stored-generated",
    ]


def test_a_uuid_default_needs_a_copy(lint_body: Lint) -> None:
    body = 'op.add_column("t", sa.Column("u", sa.String(36), server_default=sa.text("(uuid())")))'
    assert rules_of(lint_body(body, "mysql")) == ["add-column-volatile-default"]
    now = 'op.add_column("t", sa.Column("d", sa.DateTime(), server_default=sa.func.now()))'
    assert lint_body(now, "mysql").findings == ()
