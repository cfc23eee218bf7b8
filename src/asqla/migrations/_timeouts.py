"""The database session a migration runs in: lock and statement timeouts, SQLite's foreign keys.

The settings are set at session level, before Alembic starts its
transactions, and put back afterwards, because the connection may come from
the application's pool (``upgrade_async`` inside a FastAPI lifespan) and
must go back to it as it came.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ._config import MigrationSettings
from ._errors import MigrationError

__all__ = ["MigrationSession", "offline_statements"]

logger = logging.getLogger("asqla.migrations")

# MySQL's and MariaDB's default lock_wait_timeout: one year, i.e. for ever.
_MYSQL_NO_LOCK_TIMEOUT = 31_536_000


def offline_statements(dialect: str, settings: MigrationSettings) -> list[str]:
    """The timeouts as SQL, for the head of an ``upgrade --sql`` script."""
    if dialect == "postgresql":
        return [
            f"SET lock_timeout = {_ms(settings.lock_timeout)}",
            f"SET statement_timeout = {_ms(settings.statement_timeout)}",
        ]
    if dialect in ("mysql", "mariadb"):
        return [f"SET SESSION lock_wait_timeout = {_mysql_lock_wait(settings.lock_timeout)}"]
    return []


class MigrationSession:
    """Set a connection's session up for migrations, and put it back afterwards."""

    def __init__(self, connection: AsyncConnection, settings: MigrationSettings) -> None:
        self._connection = connection
        self._settings = settings
        self._dialect = connection.dialect.name
        self._saved: dict[str, Any] = {}

    async def apply(self) -> None:
        """Save the session's settings, set the migration ones, and commit."""
        if self._dialect == "postgresql":
            await self._apply_postgresql()
        elif self._dialect in ("mysql", "mariadb"):
            await self._apply_mysql()
        elif self._dialect == "sqlite":
            await self._apply_sqlite()
        if self._connection.in_transaction():
            # Alembic treats a connection already in a transaction as the
            # caller's, and then commits nothing: end ours before it starts.
            await self._connection.commit()

    async def restore(self, *, schema_changed: bool) -> None:
        """Put the saved settings back; on SQLite, check the foreign keys first."""
        connection = self._connection
        if connection.in_transaction():
            await connection.commit()
        if self._dialect == "postgresql":
            await connection.execute(
                text(
                    "SELECT set_config('lock_timeout', :lock, false), "
                    "set_config('statement_timeout', :statement, false)"
                ),
                {"lock": self._saved["lock"], "statement": self._saved["statement"]},
            )
        elif self._dialect in ("mysql", "mariadb"):
            statements = [f"lock_wait_timeout = {int(self._saved['lock'])}"]
            if "variable" in self._saved:
                statements.append(f"{self._saved['variable']} = {self._saved['statement']}")
            await connection.exec_driver_sql("SET SESSION " + ", ".join(statements))
        elif self._dialect == "sqlite":
            violations = await self._sqlite("PRAGMA foreign_key_check") if schema_changed else []
            await self._sqlite(f"PRAGMA foreign_keys = {int(self._saved['foreign_keys'])}")
            if violations:
                tables = sorted({str(row[0]) for row in violations})
                raise MigrationError(
                    f"The migrations left {len(violations)} row(s) whose foreign key points to "
                    f"no row, in table(s) {tables!r} (PRAGMA foreign_key_check). They ran with "
                    "foreign keys off, as SQLite requires to rebuild a table; fix the data or "
                    "the migration, then check with PRAGMA foreign_key_check."
                )
        if connection.in_transaction():
            await connection.commit()

    async def _apply_postgresql(self) -> None:
        row = await self._one(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        self._saved = {"lock": row[0], "statement": row[1]}
        for statement in offline_statements("postgresql", self._settings):
            await self._connection.exec_driver_sql(statement)

    async def _apply_mysql(self) -> None:
        connection = self._connection
        version, lock = await self._one("SELECT VERSION(), @@session.lock_wait_timeout")
        self._saved = {"lock": lock}
        statements = [f"lock_wait_timeout = {_mysql_lock_wait(self._settings.lock_timeout)}"]
        limit = self._settings.statement_timeout or 0
        # MariaDB limits every statement, in seconds; MySQL only SELECTs, in
        # milliseconds. The application's engine sets a short limit on its
        # connections (asqla._dialects), which a migration must not inherit.
        if "mariadb" in str(version).lower():
            variable, value = "max_statement_time", f"{limit:g}"
        else:
            variable, value = "max_execution_time", str(round(limit * 1000))
        (current,) = await self._one(f"SELECT @@session.{variable}")
        self._saved.update(variable=variable, statement=current)
        statements.append(f"{variable} = {value}")
        await connection.exec_driver_sql("SET SESSION " + ", ".join(statements))

    async def _apply_sqlite(self) -> None:
        # Rebuilding a table (Alembic's batch mode) drops the old one: with
        # foreign keys on, that deletes or fails the rows that refer to it, and
        # the pragma is a no-op inside a transaction, so it is set first
        # (https://www.sqlite.org/lang_altertable.html#otheralter).
        if self._connection.in_transaction():
            await self._connection.commit()
        (row,) = await self._sqlite("PRAGMA foreign_keys")
        self._saved = {"foreign_keys": row[0]}
        await self._sqlite("PRAGMA foreign_keys = OFF")

    async def _one(self, statement: str) -> tuple[Any, ...]:
        return tuple((await self._connection.exec_driver_sql(statement)).one())

    async def _sqlite(self, statement: str) -> list[Any]:
        # On the driver's connection, outside SQLAlchemy's transaction
        # bookkeeping: asqla's engine begins every transaction with BEGIN
        # IMMEDIATE, inside which these pragmas would do nothing.
        raw = await self._connection.get_raw_connection()
        driver: Any = raw.driver_connection
        cursor = await driver.execute(statement)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()


def _ms(seconds: float | None) -> str:
    # 0 turns the limit off, on PostgreSQL as in asqla's settings.
    return "0" if seconds is None else str(max(1, round(seconds * 1000)))


def _mysql_lock_wait(seconds: float | None) -> int:
    # Whole seconds, at least 1 (MariaDB KB, "lock_wait_timeout").
    return _MYSQL_NO_LOCK_TIMEOUT if seconds is None else max(1, round(seconds))
