"""What a check can ask about the migration it looks at, and what earlier migrations did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ._ops import SCHEMA_KINDS, Kind, Migration, Operation
from ._sql import normalize_condition
from ._target import Target


@dataclass(frozen=True)
class CheckConstraint:
    """A CHECK constraint known from earlier operations: its table, condition and state."""

    table: str | None
    condition: str
    validated: bool


@dataclass
class Knowledge:
    """What the earlier migrations (and earlier operations) did that later rules rely on."""

    checks: dict[str, CheckConstraint] = field(default_factory=dict)

    def copy(self) -> Knowledge:
        return Knowledge(dict(self.checks))

    def merge(self, other: Knowledge) -> None:
        self.checks.update(other.checks)

    def apply(self, operation: Operation, *, dialect: str) -> None:
        name = (operation.name or "").lower()
        if operation.kind is Kind.ADD_CONSTRAINT and operation.constraint == "check" and name:
            condition = normalize_condition(operation.condition or "", dialect=dialect)
            self.checks[name] = CheckConstraint(
                operation.table, condition, validated=not operation.not_valid
            )
        elif operation.kind is Kind.VALIDATE_CONSTRAINT and name in self.checks:
            known = self.checks[name]
            self.checks[name] = CheckConstraint(known.table, known.condition, validated=True)
        elif operation.kind is Kind.DROP_CONSTRAINT:
            self.checks.pop(name, None)


@dataclass
class Context:
    """One migration being linted for one target."""

    migration: Migration
    target: Target
    history: Knowledge

    def __post_init__(self) -> None:
        self.ops = list(self.migration.operations)
        self._created: dict[str, int] = {}
        for index, operation in enumerate(self.ops):
            table = (operation.table or "").lower()
            if operation.kind is Kind.CREATE_TABLE and table:
                self._created.setdefault(table, index)
            elif operation.kind is Kind.RENAME_TABLE and table in self._created:
                self._created.setdefault((operation.new_name or "").lower(), index)

    def indexed(self) -> Iterator[tuple[int, Operation]]:
        return iter(enumerate(self.ops))

    def of(self, *kinds: Kind) -> Iterator[tuple[int, Operation]]:
        return ((i, op) for i, op in enumerate(self.ops) if op.kind in kinds)

    def is_new(self, index: int, table: str | None) -> bool:
        """Whether ``table`` was created earlier in this migration (and so holds no data)."""
        created = self._created.get((table or "").lower())
        return created is not None and created < index

    def existing(self, index: int) -> bool:
        """Whether operation ``index`` touches a table assumed to hold data and serve traffic."""
        return not self.is_new(index, self.ops[index].table)

    def knowledge_before(self, index: int) -> Knowledge:
        knowledge = self.history.copy()
        for operation in self.ops[:index]:
            knowledge.apply(operation, dialect=self.target.dialect)
        return knowledge

    def segment_changes_existing_schema(self, index: int) -> Operation | None:
        """A schema change on an existing table in the same transaction as operation ``index``."""
        segment = self.ops[index].placement.segment
        for other_index, other in enumerate(self.ops):
            if (
                other.placement.segment == segment
                and other.kind in SCHEMA_KINDS
                and other.kind is not Kind.CREATE_TABLE
                and self.existing(other_index)
            ):
                return other
        return None
