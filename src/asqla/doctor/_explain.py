"""EXPLAIN on the current backend, read into one shape: a `Plan` of `PlanNode`s.

Each backend describes a plan in its own words, and the doctor needs only a
few of them: which tables are read in full, which through an index, with
what condition, how many rows the planner expects, and whether the read
repeats once per row of another table (the inner side of a nested loop).

- PostgreSQL: ``EXPLAIN (FORMAT JSON)``, a tree of nodes; ``Seq Scan`` is a
  full scan, ``Index Scan`` / ``Index Only Scan`` / ``Bitmap Heap Scan`` use
  an index. The parameters are planned with their values (a custom plan), so
  the conditions show them.
- MariaDB/MySQL: ``EXPLAIN FORMAT=JSON``; ``access_type`` ``ALL`` is a full
  scan, ``index`` a full scan of an index, anything else a lookup. Tables are
  named by their alias; ``possible_keys`` are the indexes the optimizer could
  use. ``SHOW WARNINGS`` afterwards says why an index could not be used (a
  comparison with a value of another type).
- SQLite: ``EXPLAIN QUERY PLAN``, one line per loop: ``SCAN t`` is a full
  scan, ``SEARCH t USING INDEX ix (a=?)`` a lookup; an ``AUTOMATIC`` index is
  one SQLite builds for this query alone, because no index serves it.

No ``ANALYZE`` variant is ever used: EXPLAIN plans the statement and never
runs it, so a slow UPDATE can be explained without being run twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from ..database import Database
from ._findings import Statement
from ._records import current

__all__ = [
    "Access",
    "Bind",
    "Plan",
    "PlanNode",
    "backend",
    "connection_for",
    "driver_sql",
    "explain",
    "explainable",
    "read_mysql",
    "read_postgresql",
    "read_sqlite",
    "run_explain",
    "unwatched",
]

Access = Literal["full_scan", "index_scan", "other"]
"""How a plan node reads its table: all of it, through an index, or neither (a sort, a join)."""

Bind = Database | AsyncEngine | AsyncConnection | AsyncSession
"""What `explain()` and `advise()` run on."""

_PREFIX: Final = {
    "postgresql": "EXPLAIN (FORMAT JSON) ",
    "mysql": "EXPLAIN FORMAT=JSON ",
    "sqlite": "EXPLAIN QUERY PLAN ",
}
_NO_EXPLAIN: Final = "asqla reads EXPLAIN from PostgreSQL, MySQL/MariaDB and SQLite only"
_EXPLAINABLE = re.compile(r"\s*\(?\s*(SELECT|WITH|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanNode:
    """One step of a plan that reads a table (or sorts, joins, aggregates).

    Attributes:
        operation: The backend's own name for the step (``"Seq Scan"``,
            ``"ALL"``, ``"SCAN"``).
        access: ``"full_scan"``, ``"index_scan"`` or ``"other"``.
        table: The table's real name, where the backend gives it (PostgreSQL).
        alias: The name the statement uses for the table (its alias, or the table).
        index: The index used, if any.
        rows: The planner's estimate of the rows this step returns (per loop).
        condition: The condition applied at this step, as the backend prints it.
        candidates: The indexes the optimizer considered (MariaDB/MySQL ``possible_keys``).
        inner: The step runs once per row of an outer table (a nested loop's inner side).
        automatic: SQLite builds a temporary index for this query alone.
        depth: How deep in the plan tree the step is, for display.
    """

    operation: str
    access: Access
    table: str | None = None
    alias: str | None = None
    index: str | None = None
    rows: float | None = None
    condition: str | None = None
    candidates: tuple[str, ...] = ()
    inner: bool = False
    automatic: bool = False
    depth: int = 0

    @property
    def name(self) -> str | None:
        """The table as the plan names it: the alias if there is one, else the table."""
        return self.alias or self.table

    def __str__(self) -> str:
        text = self.operation
        if self.name:
            text += f" on {self.table or self.name}"
            if self.alias and self.table and self.alias != self.table:
                text += f" as {self.alias}"
        if self.index:
            text += f" using {self.index}"
        if self.rows is not None:
            text += f" (~{self.rows:,.0f} rows{' per loop' if self.inner else ''})"
        if self.condition:
            text += f" where {self.condition}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A statement's plan on one backend, in the doctor's shape.

    Attributes:
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        nodes: Every step, in the order the backend lists them.
        cost: The planner's total cost estimate (PostgreSQL only).
        notes: What the backend said about the plan (MariaDB/MySQL warnings).
        raw: The backend's own output, unchanged.
    """

    dialect: str
    nodes: tuple[PlanNode, ...]
    cost: float | None = None
    notes: tuple[str, ...] = ()
    raw: Any = field(default=None, compare=False, repr=False)

    @property
    def full_scans(self) -> tuple[PlanNode, ...]:
        """The steps that read a whole table."""
        return tuple(node for node in self.nodes if node.access == "full_scan")

    def scans_of(self, name: str) -> tuple[PlanNode, ...]:
        """The steps that read the table or alias ``name``."""
        return tuple(n for n in self.nodes if name in (n.alias, n.table))

    def __str__(self) -> str:
        lines = [f"{'  ' * node.depth}{node}" for node in self.nodes]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def backend(dialect_name: str) -> str:
    """Return ``"postgresql"``, ``"mysql"`` (MariaDB included) or ``"sqlite"``."""
    return "mysql" if dialect_name == "mariadb" else dialect_name


def explainable(sql: str) -> bool:
    """Tell whether EXPLAIN can plan ``sql``: a SELECT, WITH, UPDATE or DELETE."""
    return _EXPLAINABLE.match(sql) is not None


# -- reading each backend's output ---------------------------------------------------------


def read_postgresql(document: Any) -> Plan:
    """Read PostgreSQL's ``EXPLAIN (FORMAT JSON)`` output (a JSON text or the decoded list)."""
    if isinstance(document, str):
        document = json.loads(document)
    root = document[0]["Plan"]
    nodes: list[PlanNode] = []
    _walk_postgresql(root, nodes, depth=0, inner=False)
    return Plan(dialect="postgresql", nodes=tuple(nodes), cost=root.get("Total Cost"), raw=document)


_PG_SCANS: Final = frozenset(
    {"Seq Scan", "Parallel Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
)


def _pg_access(node: dict[str, Any]) -> Access:
    kind = node.get("Node Type", "")
    if kind not in _PG_SCANS:
        return "other"
    # An index scan without an Index Cond walks the whole index (for its order, or
    # because enable_seqscan is off): a full scan all the same.
    if kind == "Bitmap Heap Scan" or "Index Cond" in node:
        return "index_scan"
    return "full_scan"


def _walk_postgresql(node: dict[str, Any], out: list[PlanNode], *, depth: int, inner: bool) -> None:
    kind = node.get("Node Type", "?")
    index = node.get("Index Name")
    if kind == "Bitmap Heap Scan":
        index = next((child.get("Index Name") for child in node.get("Plans", ())), None)
    if kind != "Bitmap Index Scan":  # its Bitmap Heap Scan parent says it all
        out.append(
            PlanNode(
                operation=kind,
                access=_pg_access(node),
                table=node.get("Relation Name"),
                alias=node.get("Alias"),
                index=index,
                rows=node.get("Plan Rows"),
                condition=node.get("Filter")
                or node.get("Index Cond")
                or node.get("Recheck Cond")
                # A join's own condition.
                or node.get("Hash Cond")
                or node.get("Merge Cond")
                or node.get("Join Filter"),
                inner=inner,
                depth=depth,
            )
        )
    nested_loop = kind == "Nested Loop"
    for child in node.get("Plans", ()):
        child_inner = inner or (nested_loop and child.get("Parent Relationship") == "Inner")
        _walk_postgresql(child, out, depth=depth + 1, inner=child_inner)


def read_mysql(document: Any, warnings: tuple[str, ...] = ()) -> Plan:
    """Read MariaDB/MySQL's ``EXPLAIN FORMAT=JSON`` output and the warnings that followed it."""
    if isinstance(document, bytes | str):
        document = json.loads(document)
    nodes: list[PlanNode] = []
    _walk_mysql(document, nodes, depth=0)
    # The tables sit under query_block and nested_loop: the outermost is depth 0.
    top = min((node.depth for node in nodes), default=0)
    nodes = [replace(node, depth=node.depth - top) for node in nodes]
    return Plan(dialect="mysql", nodes=tuple(nodes), notes=warnings, raw=document)


_MYSQL_LOOKUPS: Final = frozenset(
    {"system", "const", "eq_ref", "ref", "fulltext", "ref_or_null", "index_merge"}
    | {"unique_subquery", "index_subquery", "range"}
)


def _walk_mysql(value: Any, out: list[PlanNode], *, depth: int, inner: bool = False) -> None:
    if isinstance(value, list):
        for item in value:
            _walk_mysql(item, out, depth=depth, inner=inner)
        return
    if not isinstance(value, dict):
        return
    table = value.get("table")
    if isinstance(table, dict) and "access_type" in table:
        access = table["access_type"]
        out.append(
            PlanNode(
                operation=access,
                access="full_scan"
                if access in ("ALL", "index")
                else ("index_scan" if access in _MYSQL_LOOKUPS else "other"),
                alias=table.get("table_name"),
                index=table.get("key"),
                rows=table.get("rows"),
                condition=table.get("attached_condition") or table.get("index_condition"),
                candidates=tuple(table.get("possible_keys") or ()),
                inner=inner,
                depth=depth,
            )
        )
    for key, item in value.items():
        if key == "table":
            continue
        if key == "nested_loop" and isinstance(item, list):
            # The join order: each table after the first is read once per outer row.
            for position, step in enumerate(item):
                _walk_mysql(step, out, depth=depth + 1, inner=inner or position > 0)
            continue
        # A block nested loop joins its table once per buffer of outer rows.
        _walk_mysql(item, out, depth=depth + 1, inner=inner or key == "block-nl-join")


_SQLITE_DETAIL = re.compile(
    # "SCAN t", "SEARCH t USING INDEX ix (a=?)"; before SQLite 3.36 "SCAN TABLE t AS a".
    r"^(?P<op>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<name>\S+)(?:\s+AS\s+(?P<alias>\S+))?"
    r"(?:\s+USING\s+(?P<how>.*?INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)(?:\s+(?P<index>[^\s(]+))?)?"
    r"(?:\s+\((?P<condition>.*)\))?\s*$"
)


def read_sqlite(rows: Any) -> Plan:
    """Read SQLite's ``EXPLAIN QUERY PLAN`` rows: ``(id, parent, notused, detail)``."""
    nodes: list[PlanNode] = []
    depth: dict[int, int] = {0: -1}
    loops: dict[int, int] = {}
    for node_id, parent, _, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        match = _SQLITE_DETAIL.match(detail)
        if match is None:
            nodes.append(PlanNode(operation=detail, access="other", depth=depth[node_id]))
            continue
        how = match["how"] or ""
        automatic = "AUTOMATIC" in how
        operation = f"{match['op']} USING {how}" if how and automatic else match["op"]
        # A SCAN reads everything, through a covering index or not.
        access: Access = "full_scan" if match["op"] == "SCAN" or automatic else "index_scan"
        # Loops under one parent nest in order: the second one runs once per row of the first.
        loops[parent] = loops.get(parent, 0) + 1
        nodes.append(
            PlanNode(
                operation=operation,
                access=access,
                alias=match["alias"] or match["name"],
                table=match["name"] if match["alias"] else None,
                index=None if automatic else (match["index"] or (how or None)),
                condition=match["condition"],
                inner=loops[parent] > 1,
                automatic=automatic,
                depth=depth[node_id],
            )
        )
    return Plan(dialect="sqlite", nodes=tuple(nodes), raw=[tuple(row) for row in rows])


# -- running EXPLAIN -----------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """``EXPLAIN <statement>`` for the dialect it is compiled for (never ANALYZE)."""

    __visit_name__ = "asqla_explain"
    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 - SQLAlchemy's own declaration
        ("statement", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = _PREFIX.get(backend(compiler.dialect.name))
    if prefix is None:
        raise sa_exc.UnsupportedCompilationError(compiler, type(element), _NO_EXPLAIN)
    return prefix + compiler.process(element.statement, **kw)


@contextmanager
def unwatched() -> Iterator[None]:
    """Hide the statements run inside from the doctor: its own work is not the app's."""
    token = current.set(None)
    try:
        yield
    finally:
        current.reset(token)


def run_explain(connection: Connection, sql: str, parameters: Any) -> Plan:
    """EXPLAIN driver-level ``sql`` with its driver-level ``parameters`` on ``connection``."""
    name = backend(connection.dialect.name)
    with unwatched():
        result = connection.exec_driver_sql(_PREFIX[name] + sql, parameters)
        return _read(connection, name, list(result.all()))


def _read(connection: Connection, name: str, rows: list[Any]) -> Plan:
    if name == "postgresql":
        return read_postgresql(rows[0][0])
    if name == "mysql":
        warnings = connection.exec_driver_sql("SHOW WARNINGS").all()
        return read_mysql(rows[0][0], tuple(str(row[2]) for row in warnings))
    return read_sqlite(rows)


def driver_sql(
    connection: Connection, statement: Executable | Statement | str, parameters: Any = None
) -> tuple[str, Any, Plan]:
    """Return ``statement`` as the driver receives it, its parameters, and its plan.

    A SQLAlchemy statement is compiled as its execution would compile it
    (bind processors, expanded IN lists) by running ``EXPLAIN`` on it, and the
    text sent to the driver is kept for what follows. A `Statement`
    captured by the doctor, or a string, is already driver-level.
    """
    name = backend(connection.dialect.name)
    if name not in _PREFIX:
        raise ValueError(
            f"asqla can EXPLAIN on PostgreSQL, MariaDB/MySQL and SQLite, not {name!r}."
        )
    if isinstance(statement, Statement):
        if backend(statement.dialect) != name:
            raise ValueError(
                f"This statement ran on {statement.dialect!r}, and the connection is {name!r}: "
                "explain it on a connection to the database it ran on."
            )
        return driver_sql(connection, statement.sql, statement.parameters)
    if isinstance(statement, str):
        if not explainable(statement):
            raise ValueError(
                f"EXPLAIN plans SELECT, WITH, UPDATE and DELETE statements, not {statement!r}."
            )
        parameters = parameters or ()
        return statement, parameters, run_explain(connection, statement, parameters)
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append((sql, params))

    event.listen(connection, "before_cursor_execute", keep)
    try:
        with unwatched():
            rows = list(connection.execute(Explain(statement), parameters or {}).all())
            plan = _read(connection, name, rows)
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    # Other statements may come first (a BEGIN that a "begin" hook sends).
    sql, params = next((sql, p) for sql, p in seen if sql.startswith(_PREFIX[name]))
    return sql.removeprefix(_PREFIX[name]), params, plan


@asynccontextmanager
async def connection_for(bind: Bind) -> AsyncIterator[AsyncConnection]:
    """Yield an ``AsyncConnection`` for ``bind``: the session's own, or a new one."""
    if isinstance(bind, AsyncConnection):
        yield bind
    elif isinstance(bind, AsyncSession):
        # The session's connection, in its transaction: its uncommitted rows count.
        yield await bind.connection()
    else:
        engine = bind.engine if isinstance(bind, Database) else bind
        async with engine.connect() as connection:
            yield connection
            await connection.rollback()


async def explain(
    bind: Bind, statement: Executable | Statement | str, parameters: Any = None
) -> Plan:
    """Plan ``statement`` on ``bind``'s database with EXPLAIN (never ANALYZE: it does not run).

    Args:
        bind: A [`Database`][asqla.Database], an ``AsyncEngine``, an
            ``AsyncConnection`` or an ``AsyncSession`` (whose transaction, and
            so whose uncommitted rows, the plan sees).
        statement: A SQLAlchemy statement; a `Statement` the doctor
            captured (``report.statements[i]``); or SQL text as the driver
            takes it, with ``parameters`` in the driver's format.
        parameters: The parameters, for a statement that has bind parameters
            without values, or for SQL text.

    Returns:
        The plan, read into one shape for every backend.

    Example:
        >>> plan = await explain(db, select(User).where(User.email == "ada@example.com"))
        ... # doctest: +SKIP
        >>> [node.access for node in plan.nodes]  # doctest: +SKIP
        ['index_scan']
    """
    with unwatched():
        async with connection_for(bind) as connection:
            _, _, plan = await connection.run_sync(driver_sql, statement, parameters)
    return plan
