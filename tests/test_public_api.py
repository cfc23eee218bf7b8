"""Pin the public API: a name added to or removed from ``__all__`` must be a decision."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "asqla": [
        "PRESETS",
        "AsqlaError",
        "AsyncSession",
        "CommitFailedError",
        "ConcurrentSessionUseError",
        "ConfigurationError",
        "ConflictError",
        "Database",
        "DatabaseError",
        "DatabaseSettings",
        "DatabaseStatus",
        "DatabaseUnavailableError",
        "DriverNotInstalledError",
        "EnginePreset",
        "FilterError",
        "ForeignKeyViolationError",
        "InvalidCursorError",
        "InvalidQueryError",
        "InvalidRowError",
        "NotFoundError",
        "PoolTimeoutError",
        "QueryTimeoutError",
        "SerializationFailureError",
        "SessionUsageError",
        "UniqueViolationError",
        "VersionConflictError",
        "create_engine",
    ],
    "asqla.doctor": [
        "AUDIT_KINDS",
        "KINDS",
        "Advice",
        "AuditFinding",
        "AuditKind",
        "AuditReport",
        "DoctorError",
        "DoctorMiddleware",
        "DoctorOptions",
        "DoctorWarning",
        "Finding",
        "ImplicitIOError",
        "IndexAdvice",
        "Kind",
        "LazyLoadError",
        "Mode",
        "Plan",
        "PlanNode",
        "QueryBudgetExceededError",
        "Report",
        "ScriptRun",
        "Severity",
        "Statement",
        "advise",
        "assert_max_queries",
        "audit_models",
        "doctor",
        "explain",
        "run_script",
    ],
    "asqla.migrations": [
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
    ],
    "asqla.migrations.testing": [
        "assert_no_drift",
        "assert_single_head",
        "assert_stairway",
        "assert_upgrade_downgrade_cycle",
        "upgrade_database",
    ],
    "asqla.repository": [
        "OPERATORS",
        "Condition",
        "CountStrategy",
        "Criterion",
        "CursorSigner",
        "FilterSet",
        "FilterSpec",
        "InvalidRowError",
        "KeysetPagination",
        "Load",
        "Lock",
        "OffsetPagination",
        "Operator",
        "Order",
        "Page",
        "PageOptions",
        "ReadRepository",
        "Repository",
        "Sort",
        "SortField",
        "SortKey",
        "Stream",
        "bulk_insert",
        "paginate_keyset",
        "paginate_offset",
        "stream",
    ],
    "asqla.testing": [
        "LifespanError",
        "OuterTransaction",
        "PluginSettings",
        "app_client",
        "build_schema",
        "create_database",
        "drop_database",
        "worker_database_url",
    ],
    "asqla.transactions": [
        "ISOLATION_LEVELS",
        "Attempt",
        "Backoff",
        "RetryEvent",
        "RetryPolicy",
        "Retrying",
        "Savepoint",
        "is_retryable",
        "retry_on_conflict",
        "retrying",
        "savepoint",
        "transaction",
    ],
    "asqla.fastapi": [
        "ReadSession",
        "Session",
        "UnitOfWorkMiddleware",
        "add_exception_handlers",
        "asqla_exception_handler",
        "filter_params",
        "health_router",
        "install",
        "lifespan",
        "sort_param",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == PUBLIC[module_name]


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_names_are_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_every_error_derives_from_the_root() -> None:
    import asqla
    import asqla.exceptions

    for name in asqla.exceptions.__all__:
        error = getattr(asqla.exceptions, name)
        assert issubclass(error, asqla.AsqlaError)
        assert name in asqla.exceptions.__doc__, f"{name} is missing from the drawn tree"


def test_migration_errors_are_in_the_tree() -> None:
    import asqla
    import asqla.migrations

    for name in ("EmptyMigrationError", "MigrationError", "MigrationLockError"):
        assert getattr(asqla.migrations, name) is getattr(asqla.exceptions, name)
    assert issubclass(asqla.migrations.EmptyMigrationError, asqla.migrations.MigrationError)
