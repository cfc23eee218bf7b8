"""Every error asqla raises, in one tree.

Catch `AsqlaError` to catch them all. Errors that come from the
database are translated in exactly one place (``asqla._translate``) and keep
the original SQLAlchemy or driver error as ``__cause__``::

    AsqlaError
    ├── ConfigurationError               bad settings, caught at start-up
    │   └── DriverNotInstalledError      the URL names a driver that is not installed
    ├── LintUsageError                   a migration the linter cannot read, or a bad lint
    │                                    option (``asqla.migrations.lint``; also a ValueError)
    ├── SessionUsageError                a programming error in how a session is used
    │   ├── ConcurrentSessionUseError    one AsyncSession used by two tasks at once
    │   ├── LazyLoadError                doctor.strict() refused a lazy load
    │   └── ImplicitIOError              a lazy or expired attribute read without await
    │                                    (also a MissingGreenlet)
    ├── InvalidRowError                  a row given to bulk_insert cannot be written   -> 422
    │                                    (also a ValueError)
    ├── MigrationError                   a migration command failed; the message says why
    │   ├── EmptyMigrationError          autogenerate found no change: no revision written
    │   └── MigrationLockError           another process held the migration lock too long
    ├── DoctorError                      doctor(mode="raise") found problems
    ├── QueryBudgetExceededError         assert_max_queries(n) exceeded (also an AssertionError)
    ├── InvalidQueryError                untrusted input asked for a query not allowed -> 400
    │   ├── FilterError                  a filter or sort field/operator not declared
    │   └── InvalidCursorError           a pagination cursor that is tampered, foreign or stale
    ├── NotFoundError                    a row that must exist does not         -> 404
    ├── ConflictError                    the write conflicts with other data    -> 409
    │   ├── UniqueViolationError         a unique constraint or primary key
    │   ├── ForeignKeyViolationError     a foreign key
    │   ├── VersionConflictError         optimistic locking lost a race (``Versioned``)
    │   └── SerializationFailureError    a serialization failure, deadlock or lock wait timeout
    ├── DatabaseUnavailableError         cannot reach or keep the database      -> 503
    │   ├── PoolTimeoutError             every pooled connection stayed busy
    │   └── QueryTimeoutError            a statement ran past its timeout
    ├── CommitFailedError                COMMIT itself failed: nothing was saved -> 500
    └── DatabaseError                    any other error the database reported  -> 500

The HTTP status codes on the right are what `asqla.fastapi`'s exception
handlers answer with.
"""

from __future__ import annotations

__all__ = [
    "AsqlaError",
    "CommitFailedError",
    "ConcurrentSessionUseError",
    "ConfigurationError",
    "ConflictError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DriverNotInstalledError",
    "EmptyMigrationError",
    "FilterError",
    "ForeignKeyViolationError",
    "InvalidCursorError",
    "InvalidQueryError",
    "InvalidRowError",
    "MigrationError",
    "MigrationLockError",
    "NotFoundError",
    "PoolTimeoutError",
    "QueryTimeoutError",
    "SerializationFailureError",
    "SessionUsageError",
    "UniqueViolationError",
    "VersionConflictError",
]


class AsqlaError(Exception):
    """The root of every error asqla raises."""


class ConfigurationError(AsqlaError):
    """The settings cannot work: a bad URL, an unknown preset, a bad value."""


class DriverNotInstalledError(ConfigurationError):
    """The database URL names a driver that is not installed."""


class SessionUsageError(AsqlaError):
    """A session was used in a way that cannot work."""


class ConcurrentSessionUseError(SessionUsageError):
    """One ``AsyncSession`` was used from two tasks at the same time."""


class InvalidQueryError(AsqlaError):
    """Untrusted input (a filter, a sort, a cursor) asked for something not allowed.

    Attributes:
        allowed: What would have been accepted, for the 400 response body.
    """

    def __init__(self, message: str, *, allowed: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.allowed = allowed or {}


class FilterError(InvalidQueryError):
    """A filter or sort names a field, operator or path that was not declared."""


class InvalidCursorError(InvalidQueryError):
    """A pagination cursor was tampered with, signed for another query, or is malformed."""


class InvalidRowError(AsqlaError, ValueError):
    """A row given to ``bulk_insert`` cannot be written; nothing was inserted.

    Attributes:
        index: The row's position in the input, from 0.
        column: The column or key at fault, if one is.
    """

    def __init__(self, message: str, *, index: int, column: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.column = column


class MigrationError(AsqlaError):
    """A migration command failed: a bad revision, a failed migration, a missing setup."""


class EmptyMigrationError(MigrationError):
    """Autogenerate found no difference between the models and the database; nothing was written.

    Pass ``allow_empty=True`` (``--empty``) to write an empty revision anyway,
    for operations that autogenerate cannot see (data migrations, raw SQL).
    """


class MigrationLockError(MigrationError):
    """The migration lock was not acquired within the wait: another process is still migrating."""


class NotFoundError(AsqlaError):
    """A row that had to exist was not found."""


class ConflictError(AsqlaError):
    """The write conflicts with data already in the database."""


class UniqueViolationError(ConflictError):
    """A unique constraint or primary key rejected the write."""


class ForeignKeyViolationError(ConflictError):
    """A foreign key rejected the write (missing parent, or rows still refer to it)."""


class VersionConflictError(ConflictError):
    """Another transaction changed the row since it was read (optimistic locking)."""


class SerializationFailureError(ConflictError):
    """The transaction lost a serialization race or a deadlock; rerunning it may succeed.

    PostgreSQL SQLSTATE 40001 and 40P01, MariaDB/MySQL errors 1213 and 1205.
    """


class DatabaseUnavailableError(AsqlaError):
    """The database cannot be reached, or the connection was lost."""


class PoolTimeoutError(DatabaseUnavailableError):
    """No pooled connection became free within the pool timeout."""


class QueryTimeoutError(DatabaseUnavailableError):
    """A statement ran longer than its timeout and was cancelled."""


class CommitFailedError(AsqlaError):
    """COMMIT failed, so nothing in the unit of work was saved.

    The translated reason (a `ConflictError` for a deferred constraint,
    a `DatabaseUnavailableError` for a lost connection) is ``__cause__``.
    """


class DatabaseError(AsqlaError):
    """Any other error reported by the database or its driver."""
