"""What the doctor reports: ``Finding``, ``Statement`` and the ``Report`` that holds them.

The JSON form is a contract (``asqla doctor run --format json`` prints it)::

    {"findings": [{"kind", "severity", "relationship", "count",
                   "location", "origin", "fix", "statement"}]}

``relationship`` is ``"Class.attribute"`` where it applies; ``location`` and
``origin`` are ``"path:line"``; keys without a value are ``null``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

__all__ = ["KINDS", "Finding", "Kind", "Report", "Severity", "Statement"]

Kind = Literal[
    "n_plus_one",
    "explicit_n_plus_one",
    "count_n_plus_one",
    "duplicate_query",
    "pagination_loop",
    "unused_eager_load",
    "flush_in_loop",
    "async_implicit_io",
    "slow_query",
]
"""The kinds of finding."""

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
"""Every kind, in the order the docs list them."""

Severity = Literal["info", "warning", "error"]
"""How bad a finding is: ``info`` never fails a run, ``error`` always breaks at run time."""

SEVERITY_RANK: Final[dict[Severity, int]] = {"info": 0, "warning": 1, "error": 2}

FINDING_KEYS: Final = (
    "kind",
    "severity",
    "relationship",
    "count",
    "location",
    "origin",
    "fix",
    "statement",
)
"""The keys of one finding in the JSON contract, in order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem the doctor found, with where it happened and how to fix it.

    Attributes:
        kind: What was found (see `Kind`).
        severity: ``"info"``, ``"warning"`` or ``"error"``.
        count: How many statements (or flushes) it covers.
        location: ``"path:line"`` of your line that triggered it.
        relationship: ``"Class.attribute"`` for relationship findings.
        origin: ``"path:line"`` of the query that loaded the parents (N+1),
            of the first run (duplicates): where the fix goes.
        fix: The fix, as code.
        statement: The SQL of one of the statements involved.
        detail: More context for people (not part of the JSON contract).
    """

    kind: Kind
    severity: Severity
    count: int
    location: str | None
    relationship: str | None = None
    origin: str | None = None
    fix: str | None = None
    statement: str | None = None
    detail: str | None = None

    @property
    def message(self) -> str:
        """The finding as one paragraph of text."""
        text = _MESSAGES[self.kind](self)
        if self.detail:
            text = f"{text} {self.detail}"
        if self.fix:
            text = f"{text}\n    fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the finding in the JSON contract's shape."""
        return {key: getattr(self, key) for key in FINDING_KEYS}


def _at(where: str | None) -> str:
    return f" at {where}" if where else ""


_MESSAGES: Final[dict[Kind, Callable[[Finding], str]]] = {
    "n_plus_one": lambda f: (
        f"N+1: {f.relationship} was loaded one parent at a time, {f.count} queries{_at(f.location)}"
        + (f", for parents loaded by the query at {f.origin}" if f.origin else "")
        + ". Load it with that query instead."
    ),
    "explicit_n_plus_one": lambda f: (
        f"N+1: the same statement ran {f.count} times{_at(f.location)}, once per row with "
        "different parameters. Run it once for all the rows."
    ),
    "count_n_plus_one": lambda f: (
        f"N+1: a count ran {f.count} times{_at(f.location)}, once per row. "
        "Count every group in one query."
    ),
    "duplicate_query": lambda f: (
        f"The same statement with the same parameters ran {f.count} times{_at(f.location)}"
        + (f" (first at {f.origin})" if f.origin and f.origin != f.location else "")
        + ". Reuse the first result."
    ),
    "pagination_loop": lambda f: (
        f"A paginated walk fetched {f.count} pages{_at(f.location)}. Fine for a batch job; "
        "a request should return one page and let the client ask for the next."
    ),
    "unused_eager_load": lambda f: (
        f"{f.relationship} was eager-loaded by the query{_at(f.location)} but nothing read it. "
        "Drop the loader option."
    ),
    "flush_in_loop": lambda f: (
        f"{f.count} flushes ran{_at(f.location)}, one per row. Add every row first and flush once."
    ),
    "async_implicit_io": lambda f: (
        f"{f.relationship or 'An attribute'} was loaded without await{_at(f.location)}: "
        "under asyncio that IO cannot happen implicitly (SQLAlchemy's MissingGreenlet)."
    ),
    "slow_query": lambda f: (
        f"A statement ran over the slow-query threshold {f.count} time(s){_at(f.location)}."
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One statement the doctor saw go to the database.

    Attributes:
        sql: The SQL as sent to the driver.
        parameters: The parameters as sent to the driver.
        location: ``"path:line"`` of your line that ran it.
        duration: Seconds from sending it to the driver returning (``None`` if it failed).
        dialect: The backend (``"postgresql"``, ``"mysql"``, ``"sqlite"``).
        transaction_control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT or RELEASE;
            query budgets do not count these.
    """

    sql: str
    parameters: Any
    location: str | None
    duration: float | None
    dialect: str
    transaction_control: bool

    def __str__(self) -> str:
        sql = " ".join(self.sql.split())
        where = f"  [{self.location}]" if self.location else ""
        return f"{sql}  {self.parameters!r}{where}"


class Report:
    """What one doctor scope saw: its statements and its findings.

    ``doctor()`` returns it from ``__enter__``; it fills in as the block runs
    and is final once the block has exited.
    """

    __slots__ = ("_find", "_findings", "_list", "_statements")

    def __init__(self) -> None:
        self._find: Callable[[], tuple[Finding, ...]] | None = None
        self._list: Callable[[], tuple[Statement, ...]] | None = None
        self._findings: tuple[Finding, ...] = ()
        self._statements: tuple[Statement, ...] | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The findings, most severe first (analysed now if the block is still running)."""
        return self._find() if self._find is not None else self._findings

    @property
    def statements(self) -> tuple[Statement, ...]:
        """Every statement, in the order they ran."""
        if self._statements is not None:
            return self._statements
        statements = self._list() if self._list is not None else ()
        if self._find is None:  # final: keep it
            self._statements, self._list = statements, None
        return statements

    @property
    def query_count(self) -> int:
        """The statements that are not transaction control (what budgets count)."""
        return sum(1 for s in self.statements if not s.transaction_control)

    def to_dict(self) -> dict[str, Any]:
        """Return the report in the JSON contract's shape: ``{"findings": [...]}``."""
        return {"findings": [finding.to_dict() for finding in self.findings]}

    def __str__(self) -> str:
        findings = self.findings
        if not findings:
            return f"asqla doctor: {self.query_count} statements, no findings."
        lines = [f"asqla doctor: {self.query_count} statements, {len(findings)} finding(s):"]
        lines += [f"- [{f.severity}] {f.kind}: {f.message}" for f in findings]
        return "\n".join(lines)

    def _live(
        self,
        find: Callable[[], tuple[Finding, ...]],
        list_statements: Callable[[], tuple[Statement, ...]],
    ) -> None:
        self._find, self._list = find, list_statements

    def _freeze(self) -> None:
        # The findings now, once; the statements when someone asks (most never do).
        if self._find is not None:
            self._findings, self._find = self._find(), None
