"""The migration lock: ten replicas booting at once, and exactly one of them migrates.

``upgrade --lock`` holds the lock from before Alembic reads the version
table until the last revision is committed; the processes that waited then
find the database at head and have nothing to do.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``),
  scoped to the database. It needs a real session: not PgBouncer in
  transaction mode.
- MySQL/MariaDB: ``GET_LOCK``, named after the database, since its names are
  server-wide.
- SQLite: an exclusive ``flock`` on a file beside the database
  (``app.db.migrations-lock``); an in-memory database has one process only.

Each is taken on the migrating connection itself, and released with it: a
process that dies mid-migration lets the next one in. Waiting is a poll
with a short sleep, not a blocking call, so that it is bounded by
``lock_wait`` alone (not by a driver's command timeout or the server's
statement limit) and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ._errors import MigrationLockError

__all__ = ["migration_lock"]

logger = logging.getLogger("asqla.migrations")

LOCK_NAME = "asqla.migrations"
_POLL_FIRST = 0.05
_POLL_MAX = 0.5
_WAITING = "asqla: another process is migrating; waiting up to %gs for it to finish"
_ACQUIRED = "asqla: migration lock acquired"


@asynccontextmanager
async def migration_lock(connection: AsyncConnection, *, wait: float) -> AsyncIterator[None]:
    """Hold the database's migration lock on ``connection`` for the ``with`` block.

    Raises:
        MigrationLockError: another process held the lock for ``wait`` seconds.
    """
    backend = connection.dialect.name
    if backend == "sqlite":
        async with _file_lock(connection, wait=wait):
            yield
        return
    lock: _ServerLock = _PostgresLock() if backend == "postgresql" else _MySQLLock(connection)
    await _poll(connection, lock, wait)
    yield
    # Only on success: after an error the caller discards the connection,
    # which releases a session lock on the server without another round trip.
    await lock.release(connection)
    if connection.in_transaction():
        await connection.commit()


class _ServerLock(ABC):
    """A named lock on the database server, held by one connection at a time."""

    @abstractmethod
    async def try_acquire(self, connection: AsyncConnection) -> bool: ...

    @abstractmethod
    async def release(self, connection: AsyncConnection) -> None: ...

    @abstractmethod
    async def holder(self, connection: AsyncConnection) -> str: ...


class _PostgresLock(_ServerLock):
    # A signed 64-bit key derived from a fixed name: advisory locks are
    # per database, so every database gets its own lock under the same key.
    key = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)

    async def try_acquire(self, connection: AsyncConnection) -> bool:
        result = await connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
        )
        return bool(result.scalar())

    async def release(self, connection: AsyncConnection) -> None:
        await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})

    async def holder(self, connection: AsyncConnection) -> str:
        # pg_locks splits a bigint key into classid (high half) and objid (low half).
        row = (
            await connection.execute(
                text(
                    "SELECT a.pid, a.application_name, a.client_addr::text, a.state "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database()) AND l.classid::bigint = :high AND l.objid::bigint = :low"
                ),
                {"high": (self.key >> 32) & 0xFFFFFFFF, "low": self.key & 0xFFFFFFFF},
            )
        ).first()
        if row is None:
            return "another session"
        return f"backend pid {row[0]} (application_name {row[1]!r}, client {row[2]}, {row[3]})"


class _MySQLLock(_ServerLock):
    def __init__(self, connection: AsyncConnection) -> None:
        # GET_LOCK names are server-wide and at most 64 characters.
        database = connection.engine.url.database or ""
        name = f"{LOCK_NAME}.{database}"
        if len(name) > 64:
            name = f"{LOCK_NAME}.{hashlib.sha256(database.encode()).hexdigest()[:40]}"
        self.name = name

    async def try_acquire(self, connection: AsyncConnection) -> bool:
        result = await connection.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": self.name})
        return result.scalar() == 1

    async def release(self, connection: AsyncConnection) -> None:
        await connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})

    async def holder(self, connection: AsyncConnection) -> str:
        result = await connection.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": self.name})
        holder = result.scalar()
        return "another session" if holder is None else f"connection id {holder}"


async def _poll(connection: AsyncConnection, lock: _ServerLock, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay = _POLL_FIRST
    announced = False
    while True:
        acquired = await lock.try_acquire(connection)
        await connection.commit()  # a session lock outlives the transaction
        if acquired:
            if announced:
                logger.info(_ACQUIRED)
            return
        if time.monotonic() >= deadline:
            holder = await lock.holder(connection)
            await connection.commit()
            raise _timed_out(wait, holder)
        if not announced:
            logger.info(_WAITING, wait)
            announced = True
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _POLL_MAX)


@asynccontextmanager
async def _file_lock(connection: AsyncConnection, *, wait: float) -> AsyncIterator[None]:
    database = connection.engine.url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        yield  # one process, one database: nothing to race with
        return
    path = Path(f"{database}.migrations-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        delay = _POLL_FIRST
        announced = False
        while not _try_lock_file(fd):
            if time.monotonic() >= deadline:
                raise _timed_out(wait, f"the process holding {str(path)!r}")
            if not announced:
                logger.info(_WAITING, wait)
                announced = True
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, _POLL_MAX)
        if announced:
            logger.info(_ACQUIRED)
        try:
            yield
        finally:
            _unlock_file(fd)
    finally:
        # The file stays: removing it while another process waits on it
        # would let a third one lock a new file at the same path.
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - CI runs on Linux
    import msvcrt

    def _try_lock_file(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_file(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock_file(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _timed_out(wait: float, holder: Any) -> MigrationLockError:
    return MigrationLockError(
        f"Another process held the migration lock for {wait:g}s and is probably still "
        f"migrating: {holder}. Let it finish (its log names each revision as it is applied), "
        "or raise migration_lock_wait in [tool.asqla] if its migrations take longer."
    )
