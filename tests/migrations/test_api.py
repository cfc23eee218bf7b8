"""Pin asqla.migrations' public names: one added or removed must be a decision."""

from __future__ import annotations

import asqla.migrations
import asqla.migrations.testing

PUBLIC = [
    "AppliedRevision",
    "EmptyMigrationError",
    "MigrationError",
    "MigrationLockError",
    "MigrationRun",
    "MigrationSettings",
    "RevisionInfo",
    "SchemaDiff",
    "SchemaDifference",
    "check",
    "check_async",
    "current",
    "downgrade",
    "downgrade_async",
    "heads",
    "history",
    "init",
    "load_config",
    "new",
    "run_env",
    "stamp",
    "upgrade",
    "upgrade_async",
]


def test_public_names_are_pinned() -> None:
    assert asqla.migrations.__all__ == PUBLIC
    assert asqla.migrations.testing.__all__ == [
        "assert_no_drift",
        "assert_single_head",
        "assert_stairway",
        "assert_upgrade_downgrade_cycle",
        "upgrade_database",
    ]


def test_the_errors_derive_from_the_root() -> None:
    for name in ("EmptyMigrationError", "MigrationError", "MigrationLockError"):
        assert issubclass(getattr(asqla.migrations, name), asqla.AsqlaError)
    assert issubclass(asqla.migrations.EmptyMigrationError, asqla.migrations.MigrationError)
