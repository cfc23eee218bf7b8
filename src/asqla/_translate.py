"""The one place where database and driver errors become asqla errors.

Codes come from each database's documentation: PostgreSQL SQLSTATE
(Appendix A, "PostgreSQL Error Codes"), MariaDB/MySQL error numbers
("MariaDB Error Codes"), and SQLite extended result codes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from ._retry import (
    MYSQL_RETRYABLE_ERRNOS,
    MYSQL_SAVEPOINT_DOES_NOT_EXIST,
    PG_RETRYABLE_SQLSTATES,
    is_retryable,
)
from .exceptions import (
    AsqlaError,
    DatabaseError,
    DatabaseUnavailableError,
    ForeignKeyViolationError,
    PoolTimeoutError,
    QueryTimeoutError,
    SerializationFailureError,
    UniqueViolationError,
    VersionConflictError,
)

__all__ = ["is_translatable", "translate"]

_PG_UNIQUE = {"23505"}
_PG_FOREIGN_KEY = {"23503"}
_PG_REJECTED_VALUE = {"23502", "23514"}  # not_null_violation, check_violation
_PG_TIMEOUT = {"57014", "25P03"}  # query_canceled, idle_in_transaction_session_timeout
_PG_UNAVAILABLE_PREFIXES = ("08", "57P")  # connection exceptions, operator intervention

_MY_UNIQUE = {1062, 1586}  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
_MY_FOREIGN_KEY = {1216, 1217, 1451, 1452}
# ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD, MariaDB's and MySQL's CHECK failures
_MY_REJECTED_VALUE = {1048, 1364, 4025, 3819}
_MY_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_MY_UNAVAILABLE = {1040, 1053, 2002, 2003, 2005, 2006, 2013, 2055, 4031}

_SQLITE_UNIQUE = {1555, 2067}  # SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
_SQLITE_FOREIGN_KEY = {787}  # SQLITE_CONSTRAINT_FOREIGNKEY
_SQLITE_REJECTED_VALUE = {1299, 275}  # SQLITE_CONSTRAINT_NOTNULL, SQLITE_CONSTRAINT_CHECK
# SQLITE_INTERRUPT: asqla interrupts a statement only when it runs past the
# command timeout (see _dialects._install_sqlite_deadline).
_SQLITE_TIMEOUT = {9}
_SQLITE_UNAVAILABLE = {5, 6, 14}  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN (& 0xFF)


def is_translatable(exc: BaseException) -> bool:
    """Return True for the errors `translate()` knows how to translate."""
    return isinstance(exc, sa_exc.SQLAlchemyError | orm_exc.StaleDataError | TimeoutError | OSError)


def translate(exc: BaseException) -> AsqlaError:
    """Return the asqla error for a SQLAlchemy or driver error ``exc``.

    The caller raises it ``from exc`` so that the original stays attached.
    """
    if isinstance(exc, AsqlaError):
        return exc
    if isinstance(exc, orm_exc.StaleDataError):
        return VersionConflictError(
            f"{exc} Another transaction changed or deleted the row after it was read. "
            "Reload the row and apply the change again, or report a conflict to the client."
        )
    if isinstance(exc, sa_exc.TimeoutError):  # the pool's, not the driver's
        return PoolTimeoutError(
            f"No database connection became free in time ({exc.args[0] if exc.args else exc}). "
            "Requests hold connections too long or the pool is too small: raise "
            "ASQLA_POOL_SIZE / ASQLA_MAX_OVERFLOW, or shorten the work done inside a session."
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return QueryTimeoutError(
            "A database call ran past its timeout and was abandoned; its connection was "
            "discarded. Raise ASQLA_COMMAND_TIMEOUT if the work is expected to take this long."
        )
    if isinstance(exc, sa_exc.DBAPIError):
        return _translate_dbapi(exc)
    if isinstance(exc, OSError):
        return DatabaseUnavailableError(
            f"Cannot reach the database: {exc}. Check that the server is up and "
            "that the host and port in the database URL are reachable from here."
        )
    return DatabaseError(str(exc))


def _translate_dbapi(exc: sa_exc.DBAPIError) -> AsqlaError:
    orig: Any = exc.orig
    message = _first_line(orig if orig is not None else exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    errno = _mysql_errno(orig)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)

    if (
        sqlstate in _PG_UNIQUE
        or errno in _MY_UNIQUE
        or sqlite_code in _SQLITE_UNIQUE
        or (sqlite_code is None and "UNIQUE constraint failed" in message)
    ):
        return UniqueViolationError(
            f"A unique constraint rejected the write: {message}. "
            "The value is already taken; choose another or update the existing row."
        )
    if (
        sqlstate in _PG_FOREIGN_KEY
        or errno in _MY_FOREIGN_KEY
        or sqlite_code in _SQLITE_FOREIGN_KEY
        or (sqlite_code is None and "FOREIGN KEY constraint failed" in message)
    ):
        return ForeignKeyViolationError(
            f"A foreign key rejected the write: {message}. "
            "The referenced row does not exist, or other rows still refer to this one."
        )
    if (
        sqlstate in _PG_REJECTED_VALUE
        or errno in _MY_REJECTED_VALUE
        or sqlite_code in _SQLITE_REJECTED_VALUE
    ):
        # Not a ConflictError: no other row is involved, the value itself is
        # invalid, so retrying or reloading cannot help (a 500, not a 409).
        return DatabaseError(
            f"The database rejected a value: {message}. A NOT NULL or CHECK constraint "
            "forbids it; validate the input before writing it."
        )
    if (
        sqlstate in PG_RETRYABLE_SQLSTATES
        or errno in MYSQL_RETRYABLE_ERRNOS
        # After a deadlock InnoDB has rolled the whole transaction back, savepoints
        # included: the RELEASE / ROLLBACK TO that follows fails with 1305. The
        # deadlock is on its chain (it was being handled when 1305 was raised).
        or (errno == MYSQL_SAVEPOINT_DOES_NOT_EXIST and is_retryable(exc))
    ):
        return SerializationFailureError(
            f"The transaction lost a serialization race or a deadlock and was rolled back: "
            f"{message}. Run the whole transaction again, e.g. with "
            "asqla.transactions.retry_on_conflict."
        )
    if sqlite_code in _SQLITE_TIMEOUT:
        return QueryTimeoutError(
            f"SQLite interrupted a statement that ran past the command timeout: {message}. "
            "Make the statement cheaper or raise ASQLA_COMMAND_TIMEOUT."
        )
    if sqlstate in _PG_TIMEOUT:
        return QueryTimeoutError(
            f"The database cancelled a statement that ran past its timeout: {message}. "
            "Make the statement cheaper or raise ASQLA_STATEMENT_TIMEOUT."
        )
    if errno in _MY_TIMEOUT:
        # The server's limit is ASQLA_STATEMENT_TIMEOUT, or else a backstop just
        # after the command timeout (see _dialects._mysql_statement_limit).
        return QueryTimeoutError(
            f"The database cancelled a statement that ran past its timeout: {message}. "
            "Make the statement cheaper or raise ASQLA_STATEMENT_TIMEOUT (or, if that "
            "is not set, ASQLA_COMMAND_TIMEOUT)."
        )
    if isinstance(orig, TimeoutError | asyncio.TimeoutError):
        return translate(orig)
    if (
        exc.connection_invalidated
        or (sqlstate is not None and sqlstate.startswith(_PG_UNAVAILABLE_PREFIXES))
        or errno in _MY_UNAVAILABLE
        or (sqlite_code is not None and sqlite_code & 0xFF in _SQLITE_UNAVAILABLE)
        or isinstance(orig, OSError)
    ):
        return DatabaseUnavailableError(
            f"The database is unavailable or the connection was lost: {message}. "
            "Retry the request; if this persists, check that the server is up and reachable."
        )
    return DatabaseError(message)


def _mysql_errno(orig: Any) -> int | None:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].rstrip(".")
