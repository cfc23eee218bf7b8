"""Index advice: from a statement's plan to the index that removes a full scan.

For every table the plan reads in full, the comparisons on that table's
columns (read from the SQL text) say what an index could serve: equalities
first, then one range, the order a B-tree uses them in. A comparison that
wraps the column in a function or a cast, or a ``LIKE`` pattern that starts
with a wildcard, defeats any index on the column: that gets advice of its
own (`_defeated`).

Small tables must not fool the advice: on a table of a hundred rows every
planner prefers a full scan, index or not. So before suggesting anything:

- PostgreSQL: the statement is planned again with ``enable_seqscan = off``.
  If an existing index then serves the table, the full scan was the
  planner's choice for a small table: no advice. A suggested index is
  confirmed the same way, with HypoPG's hypothetical index where the
  extension is installed or available, else with a real index built inside
  a savepoint and rolled back. Advice the planner would not use is dropped.
- MariaDB/MySQL: ``possible_keys`` lists the indexes the optimizer could use;
  a table that has one is left alone. The warnings after EXPLAIN name the
  indexes a type conversion made unusable.
- SQLite: the planner uses any index that fits (it has no statistics unless
  ANALYZE ran), and a suggestion is confirmed with a trial index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from ._defeated import defeated
from ._explain import Bind, Plan, PlanNode, backend, connection_for, driver_sql, unwatched
from ._findings import Statement
from ._index_advice import Advice, IndexAdvice
from ._index_ddl import IndexSpec, alembic_code, create_index_sql
from ._planner import Catalog, Checked, Planner, uses_index
from ._predicates import UNKNOWN, Predicate, parse

__all__ = ["advise", "advise_on"]

_EQUALITY: Final = frozenset({"=", "IN", "IS"})
_RANGE: Final = frozenset({"<", ">", "<=", ">=", "BETWEEN"})


async def advise(
    bind: Bind,
    statement: Executable | Statement | str,
    parameters: Any = None,
    *,
    confirm: bool = True,
    hypopg: bool = True,
) -> Advice:
    """EXPLAIN ``statement`` and suggest the indexes that would remove its full scans.

    Advice is given for a table read in full to find rows by a condition an
    index could serve, and for a comparison that defeats an index (a
    function or a cast on the column, a ``LIKE`` pattern starting with
    ``%``). Small tables do not fool it: on PostgreSQL the planner is asked
    whether it could use an index at all (``enable_seqscan = off``), and
    each suggestion is confirmed with the planner before it is made.
    Nothing is left behind: hypothetical and trial indexes live in a
    savepoint that is rolled back.

    Args:
        bind: A [`Database`][asqla.Database], ``AsyncEngine``,
            ``AsyncConnection`` or ``AsyncSession`` (whose transaction the
            plan then sees).
        statement: A SQLAlchemy statement, a `Statement` the doctor
            captured, or driver-level SQL text.
        parameters: The parameters, for SQL text (in the driver's format).
        confirm: Confirm each suggestion with the planner (HypoPG or a trial
            index on PostgreSQL, a trial index on SQLite). Default ``True``.
        hypopg: On PostgreSQL, use HypoPG where it is installed or available
            (``CREATE EXTENSION`` in the savepoint, rolled back); ``False``
            builds a trial index instead. Default ``True``.

    Example:
        >>> advice = await advise(db, select(Post).where(Post.author_id == 3))  # doctest: +SKIP
        >>> print(advice.suggestions[0].create_index)  # doctest: +SKIP
        CREATE INDEX CONCURRENTLY ix_post_author_id ON post (author_id);
    """
    with unwatched():
        async with connection_for(bind) as connection:
            return await connection.run_sync(_advise_sync, statement, parameters, confirm, hypopg)


def _advise_sync(
    connection: Connection,
    statement: Executable | Statement | str,
    parameters: Any,
    confirm: bool,
    hypopg: bool,
) -> Advice:
    sql, params, plan = driver_sql(connection, statement, parameters)
    return Advice(plan, advise_on(connection, sql, params, plan, confirm=confirm, hypopg=hypopg))


def advise_on(
    connection: Connection,
    sql: str,
    parameters: Any,
    plan: Plan,
    *,
    confirm: bool,
    hypopg: bool = True,
    trial: bool = True,
) -> tuple[IndexAdvice, ...]:
    """Return the advice for driver-level ``sql`` whose ``plan`` is known (sync, for hooks).

    ``trial=False`` never builds a real index (HypoPG's hypothetical ones are
    still used): for advice given in the middle of the application's own
    transaction, where a trial index would hold locks until it ends.
    """
    if not plan.full_scans:
        return ()
    with unwatched():
        planner = Planner(connection, sql, parameters, hypopg=hypopg, trial=trial)
        return _Advisor(connection, parse(sql, parameters), plan, planner, confirm=confirm).run()


@dataclass
class _Candidate:
    """A table read in full, and the comparisons the statement makes on it."""

    node: PlanNode
    table: str
    predicates: list[Predicate]


class _Advisor:
    """The advice for one statement on one connection."""

    def __init__(
        self, connection: Connection, parsed: Any, plan: Plan, planner: Planner, *, confirm: bool
    ) -> None:
        self.connection = connection
        self.backend = backend(connection.dialect.name)
        self.parsed, self.plan, self.planner = parsed, plan, planner
        self.catalog = Catalog(connection)
        self.confirm = confirm
        self._confirms_choice = confirm and self.backend == "postgresql"

    def run(self) -> tuple[IndexAdvice, ...]:
        candidates = [c for c in map(self._candidate, self.plan.full_scans) if c is not None]
        if not candidates:
            return ()
        found: dict[tuple[str, str, tuple[str, ...]], IndexAdvice] = {}
        with self.planner.savepoint():
            forced = (
                self.planner.explain_without_seqscan() if self.backend == "postgresql" else None
            )
            for candidate in candidates:
                if forced is not None and uses_index(forced, candidate.node):
                    continue  # an index serves it: the full scan is the planner's choice
                for advice in self._for(candidate):
                    found.setdefault((advice.kind, advice.table, advice.columns), advice)
        return tuple(found.values())

    def _candidate(self, node: PlanNode) -> _Candidate | None:
        name = node.alias or node.table
        if name is None:
            return None
        table = node.table or self.parsed.tables.get(name) or name
        tables = set(self.parsed.tables.values())
        # An alias the statement declares names this scan alone (a self-join has two).
        qualifiers = {name} if name in self.parsed.tables else {name, table}
        predicates = []
        for predicate in self.parsed.predicates:
            if predicate.alias is not None:
                mine = predicate.alias.lower() in {q.lower() for q in qualifiers}
            else:
                mine = len(tables) <= 1 or predicate.column in self.catalog.columns(table)
            # A join condition is an index's business where the table is read once
            # per row of another one (the inner side of a nested loop); elsewhere
            # (a hash join) only if the planner confirms it would switch to the index.
            joins_ok = node.inner or node.automatic or self._confirms_choice
            if mine and (predicate.joins is None or joins_ok):
                predicates.append(predicate)
        return _Candidate(node, table, predicates) if predicates else None

    def _for(self, candidate: _Candidate) -> Iterator[IndexAdvice]:
        found = list(
            defeated(
                self.connection,
                candidate.table,
                candidate.node,
                self.plan,
                candidate.predicates,
                self.catalog.has_expression_index,
            )
        )
        yield from found
        cast = {column for advice in found if advice.kind == "cast" for column in advice.columns}
        served = [p for p in candidate.predicates if self._sargable(p) and p.column not in cast]
        if not served:
            return
        columns = _index_columns(served)
        if self.catalog.has_index_on(candidate.table, columns[0]) or candidate.node.candidates:
            return  # an index the planner could use exists: its choice, or a cast said above
        spec = IndexSpec(candidate.table, columns)
        # A join index is only worth it if the planner would choose it now; a
        # filter's index, if it could use it at all (the table may be small yet).
        node = candidate.node
        chosen = all(p.joins for p in served) and not (node.inner or node.automatic)
        checked: Checked | None = (None, None)
        if self.confirm:
            checked = self.planner.confirm(spec, node, self.plan, chosen=chosen)
        if checked is None or (chosen and checked[0] is None):
            return  # the planner would not use it, or that could not be checked
        yield IndexAdvice(
            kind="missing_index",
            table=candidate.table,
            columns=columns,
            reason=self._reason(candidate, columns, checked),
            create_index=create_index_sql(spec, self.connection.dialect),
            alembic=alembic_code(spec, self.connection.dialect.name),
            checked=checked[0],
            cost=checked[1],
        )

    def _sargable(self, predicate: Predicate) -> bool:
        if predicate.wrapper is not None or predicate.in_or:
            return False
        if predicate.operator == "IS":
            return bool(predicate.value == "NULL")
        if predicate.operator == "LIKE" and self.backend == "mysql":
            # A prefix pattern is a range on MariaDB/MySQL's case-insensitive collations.
            return isinstance(predicate.value, str) and not predicate.value.startswith(("%", "_"))
        return predicate.operator in _EQUALITY or predicate.operator in _RANGE

    def _reason(self, candidate: _Candidate, columns: tuple[str, ...], checked: Checked) -> str:
        node, table = candidate.node, candidate.table
        how, cost = checked
        rows = f", ~{node.rows:,.0f} rows" if node.rows is not None else ""
        per_row = " once per row of the outer table" if node.inner else ""
        condition = " AND ".join(
            _describe(p) for p in candidate.predicates if p.column in columns and self._sargable(p)
        )
        reason = (
            f"{table} is read in full ({node.operation}{rows}){per_row} to find the rows where "
            f"{condition}: no index starts with {columns[0]}."
        )
        if how == "hypopg":
            reason += " HypoPG confirms that the planner can use the index"
        elif how == "trial index":
            reason += " A trial index (rolled back) confirms that the planner can use it"
        if cost is not None and cost[1] < cost[0]:
            reason += f", at an estimated cost of {cost[1]:,.1f} instead of {cost[0]:,.1f}."
        elif how and self.backend == "postgresql":
            reason += (
                "; at this table's current size a full scan costs as little, which will "
                "change as it grows."
            )
        elif how:
            reason += "."
        return reason


def _describe(predicate: Predicate) -> str:
    if predicate.joins:
        return f"{predicate.column} {predicate.operator} {predicate.joins}"
    value = "?" if predicate.value is UNKNOWN else repr(predicate.value)
    return f"{predicate.column} {predicate.operator} {value}"


def _index_columns(predicates: list[Predicate]) -> tuple[str, ...]:
    """Equalities first, in the order written, then the first range: a B-tree's best order."""
    columns: list[str] = []
    for predicate in predicates:
        if predicate.operator in _EQUALITY and predicate.column not in columns:
            columns.append(predicate.column)
    ranged = next((p.column for p in predicates if p.operator not in _EQUALITY), None)
    if ranged is not None and ranged not in columns:
        columns.append(ranged)
    return tuple(columns)
