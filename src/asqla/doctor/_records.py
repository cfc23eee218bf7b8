"""What a doctor scope records while it is active: statements, ORM calls, flushes, reads."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.orm import InstanceState, RelationshipProperty

from ._findings import Finding
from ._stack import Location

if TYPE_CHECKING:
    from ._slow_plan import SlowPlan

__all__ = ["OPTION", "Capture", "Eager", "Execution", "Flush", "OrmCall", "current", "next_seq"]

OPTION: Final = "_asqla_doctor"
"""The execution option that carries an `OrmCall` from ``do_orm_execute`` to the cursor."""

current: ContextVar[Capture | None] = ContextVar("asqla_doctor", default=None)
"""The innermost active doctor scope of this context (a request, a task, a block)."""

next_seq = itertools.count().__next__
"""A global clock: orders statements, reads and flushes across scopes."""


@dataclass(frozen=True, slots=True)
class Eager:
    """One eager loader option of a query: ``selectinload(User.posts).selectinload(...)``."""

    path: tuple[RelationshipProperty[Any], ...]
    strategy: str  # "selectinload", "joinedload", "subqueryload", "immediateload"


@dataclass(eq=False, slots=True)
class OrmCall:
    """One ORM execution (``do_orm_execute``): what the ORM knew about the statement."""

    statement: Any
    parameters: Any
    location: Location
    path: tuple[RelationshipProperty[Any], ...]
    """The relationships from the root entity to this load; empty for a plain query."""
    lazy_parent: int | None
    """``id()`` of the instance whose relationship this lazy load fills."""
    origin: Execution | None
    """The statement that loaded the parent (lazy loads) or the parents (eager loads)."""
    eager: tuple[Eager, ...]
    last: Execution | None = None
    rows: int = 0

    @property
    def relationship(self) -> RelationshipProperty[Any] | None:
        return self.path[-1] if self.path else None


@dataclass(eq=False, slots=True)
class Execution:
    """One statement sent to the driver."""

    seq: int
    sql: str
    parameters: Any
    key: Any
    """The parameters made hashable, to compare runs."""
    location: Location
    dialect: str
    started: float
    statement: Any
    orm: OrmCall | None
    duration: float | None = None
    plan: SlowPlan | None = None
    """Its plan and index advice, taken when it ran over the ``slow_query`` threshold."""


@dataclass(eq=False, slots=True)
class Flush:
    """One ``Session.flush()`` that had something to write."""

    seq: int
    location: Location
    objects: int
    auto: bool
    """An autoflush, run by a query (not by ``flush()`` or ``commit()``)."""
    statement: str | None = None


class Capture:
    """The raw record of one doctor scope, fed by the event hooks while it is active."""

    def __init__(
        self, *, strict: bool, parent: Capture | None, slow_query: float | None = None
    ) -> None:
        self.strict: bool = strict or (parent is not None and parent.strict)
        inherited = parent.slow_query if parent is not None else None
        thresholds = [t for t in (slow_query, inherited) if t is not None]
        self.slow_query: float | None = min(thresholds) if thresholds else None
        """Statements at least this slow are explained while their connection is at hand."""
        self.parent = parent
        self.executions: list[Execution] = []
        self.flushes: list[Flush] = []
        self.eager_calls: list[OrmCall] = []
        self.errors: list[Finding] = []
        # Shared with the enclosing scopes: an instance has one origin, a read is a read.
        self.origins: weakref.WeakKeyDictionary[InstanceState[Any], Execution]
        """The statement that loaded each instance."""
        self.roots: weakref.WeakKeyDictionary[Any, Execution]
        """The last plain ORM query per greenlet: the parent query of its eager loads."""
        self.flushing: weakref.WeakKeyDictionary[Any, Flush]
        """The flush running per greenlet, to credit its statements."""
        self.watched: set[str]
        """The relationship keys some query loaded eagerly: reads of these are recorded."""
        self.reads: dict[tuple[type[Any], str], int]
        """When each watched attribute was last read, by class."""
        if parent is not None:
            self.origins, self.roots, self.flushing = parent.origins, parent.roots, parent.flushing
            self.watched, self.reads = parent.watched, parent.reads
        else:
            self.origins = weakref.WeakKeyDictionary()
            self.roots = weakref.WeakKeyDictionary()
            self.flushing = weakref.WeakKeyDictionary()
            self.watched, self.reads = set(), {}

    def chain(self) -> Iterator[Capture]:
        """Yield this scope and the scopes around it."""
        capture: Capture | None = self
        while capture is not None:
            yield capture
            capture = capture.parent
