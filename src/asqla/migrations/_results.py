"""What the migration commands return: plain, frozen values that print as text or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["AppliedRevision", "MigrationRun", "RevisionInfo", "SchemaDiff", "SchemaDifference"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionInfo:
    """One revision script.

    Attributes:
        revision: Its id.
        down_revisions: The revisions it follows (two or more for a merge, none for the first).
        message: The message it was created with.
        path: The script's path.
        is_head: Whether no revision follows it.
        branch_labels: Its branch labels, if any.
    """

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    path: str
    is_head: bool
    branch_labels: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The revision as the CLI's JSON output shows it."""
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedRevision:
    """One revision that a command applied (upgrade) or reverted (downgrade), and committed.

    Attributes:
        revision: The revision's id.
        message: Its message.
        direction: ``"upgrade"`` or ``"downgrade"``.
        seconds: How long it took.
    """

    revision: str
    message: str
    direction: Literal["upgrade", "downgrade"]
    seconds: float

    def as_json(self) -> dict[str, Any]:
        """The step as the CLI's JSON output shows it."""
        return {**asdict(self), "seconds": round(self.seconds, 4)}


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationRun:
    """What ``upgrade``, ``downgrade`` or ``stamp`` did.

    Attributes:
        before: The database's revisions before the command (empty: none applied).
        after: Its revisions after the command.
        applied: The revisions applied or reverted, in order.
        sql: With ``sql=True``, the SQL script, and nothing ran.
    """

    before: tuple[str, ...]
    after: tuple[str, ...]
    applied: tuple[AppliedRevision, ...]
    sql: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaDifference:
    """One difference between the models and the database.

    Attributes:
        operation: Alembic's name for the change that would fix it
            (``add_table``, ``add_column``, ``modify_type``, ``remove_index``...).
        table: The table concerned, if any.
        detail: The difference, in words: ``note.title: type VARCHAR(100) -> VARCHAR(200)``.
    """

    operation: str
    table: str | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaDiff:
    """The result of ``check``: where the migrated database differs from the models.

    Attributes:
        differences: Each difference, in Alembic's order; empty when they match.
        upgrade_code: The Alembic operations a new revision would hold to
            bring the database to the models; empty when they match.
    """

    differences: tuple[SchemaDifference, ...]
    upgrade_code: str

    @property
    def ok(self) -> bool:
        """Whether the database matches the models."""
        return not self.differences
