"""What index advice says: `IndexAdvice` (one suggestion), `Advice` (all, with the plan)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._explain import Plan

__all__ = ["Advice", "AdviceKind", "IndexAdvice", "cast_advice"]

AdviceKind = Literal["missing_index", "function", "cast", "leading_wildcard"]
"""What defeats the index: none exists, a function or a cast on the column, a ``LIKE '%...'``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexAdvice:
    """One suggestion: the index to create, or the comparison to rewrite.

    Attributes:
        kind: ``"missing_index"``, ``"function"`` (``lower(email) = ...``),
            ``"cast"`` (the column is converted to another type) or
            ``"leading_wildcard"`` (``LIKE '%...'``).
        table: The table read in full.
        columns: The columns the index would cover, in order.
        reason: Why, in one paragraph.
        create_index: The ``CREATE INDEX`` statement (``CONCURRENTLY`` on
            PostgreSQL), where an index is the fix.
        alembic: The same as Alembic migration code.
        rewrite: How to change the query instead (or as well).
        checked: How the planner's use of the index was confirmed:
            ``"hypopg"``, ``"trial index"``, or ``None`` (not confirmed).
        cost: PostgreSQL's estimated cost without and with the index.
    """

    kind: AdviceKind
    table: str
    columns: tuple[str, ...]
    reason: str
    create_index: str | None = None
    alembic: str | None = None
    rewrite: str | None = None
    checked: str | None = None
    cost: tuple[float, float] | None = None

    @property
    def fix(self) -> str:
        """The fix as code: the SQL and the Alembic code, or the rewrite."""
        parts = []
        if self.create_index:
            parts.append(self.create_index)
        if self.alembic:
            parts.append(f"# Alembic:\n{self.alembic}")
        if self.rewrite:
            parts.append(f"# or rewrite: {self.rewrite}" if parts else self.rewrite)
        return "\n".join(parts)

    def __str__(self) -> str:
        return f"{self.reason}\n{self.fix}"


@dataclass(frozen=True, slots=True)
class Advice:
    """What `advise()` found: the plan, and the suggestions.

    Attributes:
        plan: The statement's plan.
        suggestions: The advice, empty when no index would remove a full scan.
    """

    plan: Plan
    suggestions: tuple[IndexAdvice, ...] = ()

    def __str__(self) -> str:
        if not self.suggestions:
            return f"No index advice. Plan:\n{self.plan}"
        return "\n\n".join(str(s) for s in self.suggestions)


def cast_advice(table: str, column: str, what: str) -> IndexAdvice:
    """Advice for a column converted to another type, which no index on it can serve."""
    return IndexAdvice(
        kind="cast",
        table=table,
        columns=(column,),
        reason=(
            f"{table} is read in full because {what}: the condition converts the column to "
            "another type, so its index cannot be used."
        ),
        rewrite=(
            f"compare {column} with a value of its own type (a str for a string column, an "
            "int for an integer column), so that the value is converted, not the column"
        ),
    )
