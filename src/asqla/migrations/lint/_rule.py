"""What a rule is: a check over a migration, plus the text the reference page is made of.

A rule's ``why`` and ``recipes`` are ``string.Template`` text: a finding
renders them with the names of its own table and column, the reference page
with example names. Recipes hold Alembic code; ``# --- next migration``
separates the migrations of a multi-step recipe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from string import Template
from typing import TYPE_CHECKING, Literal

from ._ops import Operation
from ._target import Dialect, Target

if TYPE_CHECKING:
    from ._context import Context

Severity = Literal["error", "warning"]
NEXT_MIGRATION = "# --- next migration"

_WHEN = re.compile(r"^(?P<dialect>postgresql|mysql|sqlite)(?:(?P<op>>=|<)(?P<version>[\d.]+))?$")


@dataclass(frozen=True)
class Hit:
    """What a check found: the operation (or line), a lead sentence and which ``why`` applies."""

    line: int
    lead: str
    why: str
    end_line: int | None = None
    operation: Operation | None = None
    names: Mapping[str, str] = field(default_factory=dict)


Check = Callable[["Context"], Iterator[Hit]]


@dataclass(frozen=True)
class Recipe:
    """The safe way, as Alembic code, for the servers that ``when`` names.

    ``when`` is a dialect, optionally with a version bound: ``postgresql``,
    ``postgresql>=12``, ``postgresql<11``.
    """

    when: str
    code: str

    def applies(self, target: Target) -> bool:
        match = _WHEN.match(self.when)
        if match is None:
            raise ValueError(f"bad recipe condition {self.when!r}")
        if match["dialect"] != target.dialect:
            return False
        if match["op"] is None:
            return True
        version = tuple(int(p) for p in match["version"].split("."))
        return target.at_least(*version) if match["op"] == ">=" else not target.at_least(*version)

    @property
    def label(self) -> str:
        match = _WHEN.match(self.when)
        assert match is not None
        label = DIALECT_LABELS[match["dialect"]]
        if match["op"] == ">=":
            return f"{label} {match['version']} and later"
        if match["op"] == "<":
            return f"{label} before {match['version']}"
        return label

    def migrations(self, names: Mapping[str, str]) -> list[str]:
        """The recipe's migrations (upgrade bodies) with ``names`` filled in."""
        text = Template(self.code).safe_substitute(names)
        parts: list[str] = []
        current: list[str] = []
        for line in text.splitlines():
            if line.startswith(NEXT_MIGRATION) and current:
                parts.append("\n".join(current).strip("\n"))
                current = []
            current.append(line)
        parts.append("\n".join(current).strip("\n"))
        return [part for part in parts if part]


DIALECT_LABELS = {"postgresql": "PostgreSQL", "mysql": "MySQL and MariaDB", "sqlite": "SQLite"}


@dataclass(frozen=True)
class Rule:
    """One lint rule.

    Attributes:
        name: the rule's name, used in findings and in ``# asqla: ignore[name]``.
        summary: one line for the reference's table of rules.
        severity: the severity on each dialect it applies to (its keys).
        why: why it is dangerous, per dialect (and variant key a check picks).
        example: a flagged ``upgrade()`` body, per dialect.
        recipes: the safe ways, first match wins for a finding's ``fix``.
        check: yields the rule's Hits for a migration.
    """

    name: str
    summary: str
    severity: Mapping[Dialect, Severity]
    why: Mapping[str, str]
    example: Mapping[Dialect, str]
    recipes: tuple[Recipe, ...]
    check: Check

    def recipe_for(self, target: Target) -> Recipe:
        for recipe in self.recipes:
            if recipe.applies(target):
                return recipe
        raise LookupError(f"rule {self.name!r} has no recipe for {target.label}")


def render(text: str, names: Mapping[str, str]) -> str:
    return Template(text).safe_substitute(names)


def same(dialects: tuple[Dialect, ...], text: str) -> dict[Dialect, str]:
    """The same text for several dialects (examples shared by all of them)."""
    return dict.fromkeys(dialects, text)
