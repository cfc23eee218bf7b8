"""Run an Alembic command on an async connection, from async code or from sync code.

Alembic is synchronous: its commands run ``env.py``, which runs the
migrations on a SQLAlchemy ``Connection``. Under asyncio that connection is
the sync face of an ``AsyncConnection``, handed over through
``Config.attributes["connection"]`` inside ``AsyncConnection.run_sync()``,
so that the whole command runs in the caller's event loop, with no second
loop and no ``asyncio.run()`` (which fails inside a running loop: a FastAPI
lifespan, a pytest-asyncio test).

The sync entry points (the CLI, a plain ``alembic`` command) start a loop
of their own with ``asyncio.run()``, or, when the thread already runs one,
in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from alembic.config import Config
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .._translate import translate
from ..engine import create_engine
from ..settings import DatabaseSettings
from ._config import MigrationSettings, database_settings, settings_of
from ._errors import MigrationError
from ._lock import migration_lock
from ._timeouts import MigrationSession

__all__ = [
    "OWNED_KEY",
    "STEPS_KEY",
    "alembic_message",
    "run_blocking",
    "run_on_engine",
    "run_with_config_engine",
]

T = TypeVar("T")

# Config.attributes keys: the connection is one asqla opened (and may
# commit); the revisions applied so far by the running command.
OWNED_KEY = "asqla.owns_connection"
STEPS_KEY = "asqla.steps"

# The CLI's client-side limit beyond the migration's own statement timeout,
# so that the server's limit fires first with the clearer error.
_CLIENT_MARGIN = 60.0
_NO_STATEMENT_LIMIT = 24 * 3600.0


async def run_on_engine(
    engine: AsyncEngine, config: Config, work: Callable[[], T], *, lock: bool = False
) -> T:
    """Run ``work`` (an Alembic command) with a connection of ``engine`` handed to ``env.py``.

    The connection gets the migration timeouts; with ``lock``, the migration
    lock is held around ``work``. A connection that saw an error is
    discarded, not returned to the pool: its session state is unknown, and
    closing it releases a server-side lock.
    """
    settings = settings_of(config)
    async with engine.connect() as connection:
        try:
            return await _run(connection, config, settings, work, lock=lock)
        except BaseException:
            await connection.invalidate()
            raise


async def _run(
    connection: AsyncConnection,
    config: Config,
    settings: MigrationSettings,
    work: Callable[[], T],
    *,
    lock: bool,
) -> T:
    session = MigrationSession(connection, settings)
    await session.apply()
    config.attributes[STEPS_KEY] = []
    if lock:
        async with migration_lock(connection, wait=settings.lock_wait):
            result = await _work(connection, config, work)
    else:
        result = await _work(connection, config, work)
    await session.restore(schema_changed=bool(config.attributes[STEPS_KEY]))
    return result


async def _work(connection: AsyncConnection, config: Config, work: Callable[[], T]) -> T:
    try:
        result = await connection.run_sync(_with_connection, config, work)
    except (CommandError, RevisionError) as exc:
        raise MigrationError(alembic_message(exc)) from exc
    except sa_exc.DBAPIError as exc:
        raise MigrationError(_failure(config, exc)) from exc
    if connection.in_transaction():
        # Whatever env.py or a command left open (a read of the version
        # table, statements run before context.configure()) is committed,
        # never silently rolled back when the connection closes.
        await connection.commit()
    return result


def alembic_message(exc: Exception) -> str:
    """An Alembic error as one sentence, with the way out when Alembic does not give one."""
    message = str(exc).rstrip(".") + "."
    if "not up to date" in message:
        message += " Run `asqla migrations upgrade` first, then generate the revision."
    elif "Multiple head revisions" in message or "multiple heads" in message.lower():
        message += " Merge the branches with `alembic merge heads`, or name one head."
    return message


def _with_connection(connection: Connection, config: Config, work: Callable[[], T]) -> T:
    config.attributes["connection"] = connection
    config.attributes[OWNED_KEY] = True
    try:
        return work()
    finally:
        config.attributes.pop("connection", None)
        config.attributes.pop(OWNED_KEY, None)


def _failure(config: Config, exc: sa_exc.DBAPIError) -> str:
    steps = config.attributes.get(STEPS_KEY) or []
    done = f" after {len(steps)} revision(s) were applied and committed" if steps else ""
    return (
        f"A migration failed on the database{done}: {translate(exc)}. The failing revision's "
        "own transaction was rolled back; `asqla migrations current` shows where the database "
        "is." + _advice(exc.orig)
    )


def _advice(error: Any) -> str:
    """What to do about a migration timeout, when ``error`` is one."""
    code = getattr(error, "sqlstate", None)
    args = getattr(error, "args", ())
    errno = args[0] if args and isinstance(args[0], int) else None
    # PostgreSQL 55P03 lock_not_available; MySQL/MariaDB 1205 ER_LOCK_WAIT_TIMEOUT.
    if code == "55P03" or errno == 1205:
        return (
            " It waited longer than the migration lock timeout for a table lock that another "
            "transaction held: retry when that transaction is over (pg_stat_activity or SHOW "
            "PROCESSLIST names it), or raise migration_lock_timeout in [tool.asqla]."
        )
    # PostgreSQL 57014 query_canceled; MariaDB 1969 and MySQL 3024: statement time exceeded.
    if code == "57014" or errno in (1969, 3024):
        return (
            " A statement ran longer than migration_statement_timeout in [tool.asqla]: raise "
            "it for this migration, or split the work (a backfill in batches, an index built "
            "concurrently)."
        )
    return ""


def migration_engine(database: DatabaseSettings, settings: MigrationSettings) -> AsyncEngine:
    """An engine for one command: no pool, and a client timeout above the migration's own."""
    statement = settings.statement_timeout or _NO_STATEMENT_LIMIT
    command_timeout = max(statement, settings.lock_wait) + _CLIENT_MARGIN
    # No pool for a one-off command, except behind PgBouncer, whose preset
    # turns off the prepared statements that its transaction mode breaks.
    preset = "pgbouncer" if database.preset == "pgbouncer" else "serverless"
    tuned = database.model_copy(update={"preset": preset, "command_timeout": command_timeout})
    return create_engine(tuned)


async def run_with_config_engine(config: Config, work: Callable[[], T], *, lock: bool = False) -> T:
    """Run ``work`` on an engine built from the ``Config``'s database settings, then dispose it."""
    engine = migration_engine(database_settings(config), settings_of(config))
    try:
        return await run_on_engine(engine, config, work, lock=lock)
    finally:
        await engine.dispose()


def run_blocking(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory()`` makes to its end, from sync code.

    In a thread that already runs an event loop, the coroutine runs in a
    worker thread with a loop of its own, and this call blocks until it is
    done: prefer ``await upgrade_async(...)`` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="asqla-migrations") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
