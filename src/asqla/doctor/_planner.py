"""Ask the database what it has and what its planner would do: indexes, forced plans, trials.

`Catalog` reads a table's columns and indexes (primary key and unique
constraints included) through SQLAlchemy's inspector. `Planner` plans one
statement again under changed conditions, inside a savepoint that is always
rolled back, so that nothing it tries stays behind:

- with ``enable_seqscan = off`` (PostgreSQL): could an index serve the table
  at all, however small the table is now;
- with a HypoPG hypothetical index (PostgreSQL, where the extension is
  installed or can be created in the savepoint): would the planner use the
  suggested index, and at what estimated cost;
- with a trial index, built for real and rolled back (PostgreSQL without
  HypoPG, and SQLite), on tables of up to ``TRIAL_ROWS`` rows.

MariaDB/MySQL commit DDL implicitly, so nothing is tried there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ._explain import Plan, PlanNode, backend, run_explain
from ._index_ddl import IndexSpec, hypothetical_sql, trial_sql

__all__ = ["TRIAL_ROWS", "Catalog", "Planner", "in_autocommit", "uses_index"]

TRIAL_ROWS: Final = 1_000_000
"""The largest table (estimated rows) on which a trial index is built to confirm advice."""

_SAVEPOINT: Final = "asqla_doctor_advice"
_TRIAL: Final = "asqla_doctor_trial"

Checked = tuple[str | None, tuple[float, float] | None]
"""How a suggestion was confirmed (``"hypopg"``, ``"trial index"``, ``None``) and its costs."""


def in_autocommit(connection: Connection) -> bool:
    """Tell whether a PostgreSQL connection runs each statement in its own transaction."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return True
    driver_connection: Any = connection.connection.dbapi_connection
    return getattr(driver_connection, "autocommit", False) is True


def uses_index(plan: Plan, node: PlanNode, index: str | None = None) -> bool:
    """Tell whether ``plan`` looks rows of ``node``'s table up by an index (``index``, if given)."""
    scans = plan.scans_of(node.alias or node.table or "")
    return any(n.access == "index_scan" and index in (None, n.index) for n in scans)


class Catalog:
    """The columns and indexes of tables, read once each."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._inspector: Any = None
        self._columns: dict[str, set[str]] = {}
        self._indexes: dict[str, list[tuple[tuple[str | None, ...], str]]] = {}

    @property
    def inspector(self) -> Any:
        if self._inspector is None:
            self._inspector = inspect(self.connection)
        return self._inspector

    def columns(self, table: str) -> set[str]:
        """The column names of ``table`` (empty if it cannot be read)."""
        if table not in self._columns:
            try:
                self._columns[table] = {c["name"] for c in self.inspector.get_columns(table)}
            except sa_exc.SQLAlchemyError:
                self._columns[table] = set()
        return self._columns[table]

    def indexes(self, table: str) -> list[tuple[tuple[str | None, ...], str]]:
        """Every index of ``table`` as ``(columns, expressions)``, keys and uniques included."""
        if table not in self._indexes:
            found: list[tuple[tuple[str | None, ...], str]] = []
            try:
                primary = self.inspector.get_pk_constraint(table)
                if primary.get("constrained_columns"):
                    found.append((tuple(primary["constrained_columns"]), ""))
                for index in self.inspector.get_indexes(table):
                    expressions = index.get("expressions") or ()
                    found.append((tuple(index["column_names"]), " ".join(expressions)))
                for unique in self.inspector.get_unique_constraints(table):
                    found.append((tuple(unique["column_names"]), ""))
            except (sa_exc.SQLAlchemyError, NotImplementedError):
                pass
            self._indexes[table] = found
        return self._indexes[table]

    def has_index_on(self, table: str, column: str) -> bool:
        """Tell whether an index of ``table`` starts with ``column``."""
        return any(columns[:1] == (column,) for columns, _ in self.indexes(table))

    def has_expression_index(self, table: str, function: str, column: str) -> bool:
        """Tell whether ``table`` has an index on ``function(column)``."""
        wanted = re.compile(rf"{re.escape(function)}\s*\(\s*\(?{re.escape(column)}\b", re.I)
        return any(wanted.search(expressions) for _, expressions in self.indexes(table))


class Planner:
    """Plans one statement again under changed conditions, in a savepoint rolled back after."""

    def __init__(
        self, connection: Connection, sql: str, parameters: Any, *, hypopg: bool, trial: bool
    ) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.backend = backend(connection.dialect.name)
        self.sql, self.parameters = sql, parameters
        self.trial = trial
        self.in_transaction = False
        self._hypopg: bool | None = None if hypopg else False

    @contextmanager
    def savepoint(self) -> Iterator[Planner]:
        """Open the savepoint the trials run in (none on MySQL, or in autocommit)."""
        if self.backend == "mysql" or (
            self.backend == "postgresql" and in_autocommit(self.connection)
        ):
            yield self
            return
        self._run(f"SAVEPOINT {_SAVEPOINT}")
        self.in_transaction = True
        try:
            yield self
        finally:
            self.in_transaction = False
            self._run(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            self._run(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    def explain(self) -> Plan:
        """Plan the statement as things stand."""
        return run_explain(self.connection, self.sql, self.parameters)

    def explain_without_seqscan(self) -> Plan:
        """Plan the statement with sequential scans disabled (PostgreSQL)."""
        # In the savepoint the SET is undone by the rollback if anything fails;
        # without a transaction each statement stands alone and RESET always runs.
        self._run("SET enable_seqscan = off")
        try:
            plan = self.explain()
        except Exception:
            if not self.in_transaction:
                self._run("RESET enable_seqscan")
            raise
        self._run("RESET enable_seqscan")
        return plan

    def confirm(
        self, spec: IndexSpec, node: PlanNode, before: Plan, *, chosen: bool = False
    ) -> Checked | None:
        """Build ``spec`` hypothetically (or for real, rolled back) and plan again.

        Returns ``(how, cost)`` when the planner uses the index, ``(None,
        None)`` when it could not be checked, ``None`` when the planner would
        not use it: with sequential scans disabled, or, with ``chosen``, as
        things stand.
        """
        unchecked: Checked = (None, None)
        if self.backend == "mysql":
            return unchecked
        how, name = "hypopg", self._hypothetical(spec) if self.backend == "postgresql" else None
        if name is None:
            if not self._may_trial(spec.table):
                return unchecked
            how, name = "trial index", _TRIAL
            self._run(trial_sql(spec, self.dialect, name))
        try:
            forced = self.explain_without_seqscan() if self.backend == "postgresql" else None
            after = self.explain()
        finally:
            # HypoPG's indexes live in the backend's memory, not in the savepoint.
            self._run("SELECT hypopg_reset()" if how == "hypopg" else f"DROP INDEX {name}")
        if not uses_index(after if chosen else (forced or after), node, name):
            return None
        if before.cost is None or after.cost is None:
            return how, None
        return how, (before.cost, after.cost)

    def _run(self, statement: str, **parameters: Any) -> Any:
        return self.connection.execute(text(statement), parameters)

    def _may_trial(self, table: str) -> bool:
        return self.trial and self.in_transaction and self._rows(table) <= TRIAL_ROWS

    def _hypothetical(self, spec: IndexSpec) -> str | None:
        """Create a HypoPG index and return its name, or ``None`` without HypoPG."""
        if self._hypopg is None:
            installed = self._run("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").first()
            self._hypopg = installed is not None or (self.in_transaction and self._load_hypopg())
        if not self._hypopg:
            return None
        statement = hypothetical_sql(spec, self.dialect)
        row = self._run("SELECT indexname FROM hypopg_create_index(:sql)", sql=statement).one()
        return str(row[0])

    def _load_hypopg(self) -> bool:
        available = self._run("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").first()
        if available is None:
            return False
        # Rolled back with the savepoint; a nested one keeps a refusal
        # (no privilege) from aborting the transaction.
        self._run("SAVEPOINT asqla_doctor_hypopg")
        try:
            self._run("CREATE EXTENSION hypopg")
        except sa_exc.DBAPIError:
            self._run("ROLLBACK TO SAVEPOINT asqla_doctor_hypopg")
            return False
        finally:
            self._run("RELEASE SAVEPOINT asqla_doctor_hypopg")
        return True

    def _rows(self, table: str) -> float:
        quoted = self.dialect.identifier_preparer.quote(table)
        if self.backend == "postgresql":
            sql = "SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"
            value = self._run(sql, name=quoted).scalar()
        else:
            try:  # the largest rowid: an upper bound found without a count
                value = self._run(f"SELECT max(rowid) FROM {quoted}").scalar()
            except sa_exc.DBAPIError:  # a WITHOUT ROWID table
                value = None
        return float(value or 0)
