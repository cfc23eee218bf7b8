"""Transactions: an isolation level per unit of work, savepoints, and retries.

``db.transaction()`` is ``db.session()`` with the transaction's isolation level
and access mode chosen for this transaction only. ``savepoint()`` nests a
SAVEPOINT inside it. ``retry_on_conflict`` / ``retrying()`` rerun a whole unit
of work that lost a serialization race or a deadlock.

Example:
    >>> @retry_on_conflict(RetryPolicy(attempts=5))  # doctest: +SKIP
    ... async def transfer(db, source, destination, amount):
    ...     async with db.transaction(isolation_level="SERIALIZABLE") as session:
    ...         ...
    ...         async with savepoint(session, suppress=(UniqueViolationError,)):
    ...             session.add(AuditEntry(...))  # skipped if already there
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession as _SAAsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from . import _dialects
from ._retry import (
    Attempt,
    Backoff,
    RetryEvent,
    Retrying,
    RetryPolicy,
    is_retryable,
    retry_on_conflict,
    retrying,
)
from ._session import AsyncSession
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .database import Database

__all__ = [
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
]

# Every backend accepts the four SQL-standard levels. PostgreSQL runs READ
# UNCOMMITTED as READ COMMITTED (PostgreSQL docs, 13.2 "Transaction Isolation"),
# and SQLite runs every transaction SERIALIZABLE: the standard allows a stronger
# level than the one asked for (SQL:2011 4.35.4).
ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


@asynccontextmanager
async def transaction(
    db: Database, *, isolation_level: str | None = None, read_only: bool = False
) -> AsyncIterator[AsyncSession]:
    """Open a unit of work like ``db.session()``, with its own isolation level and access mode.

    The level and mode apply to this transaction only: the connection goes
    back to the pool with the server's defaults.

    Args:
        db: The database.
        isolation_level: ``"READ COMMITTED"``, ``"REPEATABLE READ"``,
            ``"SERIALIZABLE"`` or ``"READ UNCOMMITTED"`` (case and underscores
            do not matter); ``None`` keeps the server's default. SQLite runs
            every transaction serializably, whichever level is named.
        read_only: Refuse writes: the database refuses them on PostgreSQL and
            MySQL/MariaDB (``DatabaseError``), and the session refuses ORM
            writes and DML statements everywhere (``SessionUsageError``). On
            SQLite the transaction does not take the write lock.

    Raises:
        ConfigurationError: ``isolation_level`` names no isolation level.

    Example:
        >>> async with db.transaction(isolation_level="SERIALIZABLE") as session:  # doctest: +SKIP
        ...     account = await session.get(Account, 1, with_for_update=True)
        ...     account.balance -= 10
    """
    level = _checked_level(isolation_level)
    backend = db.engine.dialect.name
    async with db.session() as session:
        if read_only:
            session._asqla_read_only = True
        if backend == "postgresql" and (level or read_only):
            options: dict[str, Any] = {"postgresql_readonly": True} if read_only else {}
            if level:
                # asyncpg has no READ UNCOMMITTED; PostgreSQL runs it as READ COMMITTED.
                options["isolation_level"] = level.replace("UNCOMMITTED", "COMMITTED")
            await session.connection(execution_options=options)
        elif backend == "sqlite" and read_only:
            await session.connection(execution_options={_dialects.SQLITE_BEGIN_OPTION: "DEFERRED"})
        elif backend in ("mysql", "mariadb") and (level or read_only):
            # Without SESSION, SET TRANSACTION applies to the next transaction
            # only (MariaDB "SET TRANSACTION"): nothing to reset at check-in,
            # and one round trip where execution_options(isolation_level=...)
            # takes four (SET SESSION + COMMIT, then again to restore).
            traits = [f"ISOLATION LEVEL {level}"] if level else []
            traits += ["READ ONLY"] if read_only else []
            await session.execute(text(f"SET TRANSACTION {', '.join(traits)}"))
        yield session


def _checked_level(isolation_level: str | None) -> str | None:
    if isolation_level is None:
        return None
    level = " ".join(str(isolation_level).replace("_", " ").upper().split())
    if level == "AUTOCOMMIT":
        raise ConfigurationError(
            "isolation_level='AUTOCOMMIT' runs each statement on its own, which is not a "
            "transaction. Use db.read_session() for reads without a transaction, or choose "
            f"one of {', '.join(ISOLATION_LEVELS)}."
        )
    if level not in ISOLATION_LEVELS:
        raise ConfigurationError(
            f"Unknown isolation_level {isolation_level!r}. Choose one of "
            f"{', '.join(ISOLATION_LEVELS)}."
        )
    return level


class Savepoint:
    """The state of one `savepoint()` block.

    Attributes:
        error: The exception the block raised and the savepoint suppressed, if any.
        rolled_back: True when the block's changes were rolled back.
    """

    __slots__ = ("error", "rolled_back")

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.rolled_back = False

    def __repr__(self) -> str:
        state = "rolled back" if self.rolled_back else "active or released"
        return f"<Savepoint {state} error={self.error!r}>"


@asynccontextmanager
async def savepoint(
    session: _SAAsyncSession, *, suppress: tuple[type[Exception], ...] = ()
) -> AsyncIterator[Savepoint]:
    """Run a block inside a SAVEPOINT: an error undoes the block only.

    On success the block's changes are flushed and the savepoint released
    (``RELEASE SAVEPOINT``). When the block raises, its changes are rolled
    back (``ROLLBACK TO SAVEPOINT``), the outer transaction carries on, and the
    exception propagates, unless it is an instance of one of ``suppress``:
    then it is kept in `Savepoint.error` and execution continues after
    the block. A serialization failure or a deadlock always propagates, even
    if listed in ``suppress``: only rerunning the whole transaction can
    repair it (on MariaDB/MySQL a deadlock has already rolled the whole
    transaction back, savepoint included).

    Args:
        session: The session whose transaction the savepoint nests in.
        suppress: Exception types to swallow after rolling back, such as
            ``(UniqueViolationError,)`` for "insert unless it is there".

    Example:
        >>> async with savepoint(session, suppress=(UniqueViolationError,)) as sp:  # doctest: +SKIP
        ...     session.add(Tag(name="python"))
        >>> sp.rolled_back  # doctest: +SKIP
        True
    """
    for kind in suppress:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise ConfigurationError(
                f"savepoint(suppress=...) takes Exception subclasses; got {kind!r}. "
                "Example: savepoint(session, suppress=(UniqueViolationError,))."
            )
    # Through run_sync, so that the SAVEPOINT, RELEASE and ROLLBACK TO get the
    # session's guard, timeout and error translation.
    nested: SessionTransaction = await session.run_sync(Session.begin_nested)
    state = Savepoint()
    try:
        yield state
        await session.run_sync(lambda _: nested.commit())
    except Exception as exc:
        await _roll_back_to(session, nested, exc)
        state.rolled_back = True
        if isinstance(exc, suppress) and not is_retryable(exc):
            state.error = exc
            return
        raise


async def _roll_back_to(
    session: _SAAsyncSession, nested: SessionTransaction, exc: Exception
) -> None:
    """ROLLBACK TO the savepoint; when that fails, ``exc`` remains the error to raise.

    After a deadlock InnoDB has rolled the whole transaction back, and the
    savepoint with it: ROLLBACK TO fails with error 1305, which says nothing
    useful. SQLAlchemy has marked the savepoint closed either way, and the
    unit of work's ROLLBACK ends the transaction.
    """
    try:
        await session.run_sync(lambda _: nested.rollback())
    except Exception:
        if not is_retryable(exc):
            raise
