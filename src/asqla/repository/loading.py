"""How a repository reads: criteria, order, loader options, lock and page, made a SELECT.

The pieces a read takes travel together through `Read`, one frozen
object, so that each repository method names only the few a caller sets.
A page is asked for with `OffsetPagination` or
`KeysetPagination` and answered by `asqla.repository.pagination`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, and_, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.interfaces import ORMOption

from ..model.soft_delete import INCLUDE_DELETED, SoftDelete
from ._cursor import CursorSigner
from .filters import FilterSet, Sort
from .pagination import (
    DEFAULT_OPTIONS,
    CountStrategy,
    KeysetCountStrategy,
    PageOptions,
    break_ties,
)

__all__ = [
    "Criterion",
    "KeysetPagination",
    "Load",
    "Lock",
    "OffsetPagination",
    "Order",
    "Read",
]

Criterion: TypeAlias = "ColumnElement[bool] | FilterSet"
"""A condition on rows: a SQLAlchemy expression, or filters parsed from untrusted input."""

Load: TypeAlias = Sequence[ORMOption]
"""SQLAlchemy loader options: ``[selectinload(User.posts), joinedload(User.team)]``."""

Lock: TypeAlias = "bool | dict[str, Any]"
"""``True`` for ``SELECT ... FOR UPDATE``, or ``Select.with_for_update`` keyword arguments
such as ``{"skip_locked": True}`` or ``{"read": True}`` (ignored by SQLite)."""

Order: TypeAlias = "Sort | str | Sequence[ColumnElement[Any]] | None"
"""A parsed `Sort`, a sort string checked against ``sortable`` (``"-created_at,name"``),
or trusted SQLAlchemy ``ORDER BY`` expressions."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetPagination:
    """Ask ``Repository.list`` for the page of ``limit`` rows after the first ``offset``.

    See `paginate_offset()`.
    """

    limit: int
    offset: int = 0
    count: CountStrategy = "exact"
    options: PageOptions = DEFAULT_OPTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class KeysetPagination:
    """Ask ``Repository.list`` for the page of ``limit`` rows after (or before) a cursor.

    ``after`` is the ``next`` of the previous page, ``before`` the
    ``previous`` of the following one; neither gives the first page. See
    `paginate_keyset()`.
    """

    limit: int
    after: str | None = None
    before: str | None = None
    count: KeysetCountStrategy = "none"
    signer: CursorSigner | None = None
    options: PageOptions = DEFAULT_OPTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class Read:
    """Everything one read asks for, for one model.

    Rows are ordered by ``sort`` then by the primary key, in the direction of
    the last sort key, so that the order is total and pages never repeat or
    skip rows. ``execution_options`` are the caller's SQLAlchemy execution
    options for every statement of the read; see `run_options()`.
    """

    model: type[Any]
    criteria: tuple[Criterion, ...] = ()
    sort: Order = None
    sortable: tuple[str, ...] = ()
    load: Load = ()
    with_for_update: Lock = False
    include_deleted: bool = False
    execution_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if INCLUDE_DELETED in self.execution_options:
            name = self.model.__name__
            raise ValueError(
                f"execution_options={dict(self.execution_options)!r} sets {INCLUDE_DELETED!r}, "
                f"which a repository sets itself, so that soft-deleted {name} rows stay "
                "hidden from every read and every count. Leave it out, and make the "
                "repository with include_deleted=True to see them: "
                "YourRepository(session, include_deleted=True)."
            )

    def run_options(self) -> dict[str, Any]:
        """Return the execution options of this read's statements: the caller's, then asqla's.

        asqla's own carry a guarantee, so they win over the caller's:
        ``include_deleted`` follows the repository (a caller cannot set it),
        and a locking read sets ``populate_existing``.
        """
        options = {**self.execution_options, INCLUDE_DELETED: self.include_deleted}
        if self.with_for_update:
            # A locking read returns the latest committed row: overwrite the
            # stale copy a session may hold, or an update would be lost.
            options["populate_existing"] = True
        return options

    def where(self, *, explicit_soft_delete: bool = False) -> list[ColumnElement[bool]]:
        """Return the WHERE conditions.

        ``explicit_soft_delete`` adds ``deleted_at IS NULL`` for statements the
        ORM's soft-delete hook does not see: counts, UPDATE and DELETE.
        """
        clauses = [self._clause(criterion) for criterion in self.criteria]
        if explicit_soft_delete and not self.include_deleted and _soft(self.model):
            clauses.append(self.model.deleted_at.is_(None))
        return clauses

    def order_by(self) -> list[ColumnElement[Any]]:
        """Return ``ORDER BY`` expressions: the sort, then the primary key as a tiebreaker.

        The tiebreaker runs in the direction of the last sort key, so that
        ``-created_at`` is ``created_at DESC, id DESC``, which an index on
        ``(created_at, id)`` serves without a sort (see `break_ties()`).
        """
        sort = self.sort
        if isinstance(sort, str):
            sort = Sort.parse(sort, model=self.model, sortable=self.sortable)
        order = sort.order_by(self.model) if isinstance(sort, Sort) else list(sort or ())
        return break_ties(order, _primary_key(self.model))

    def select(self, *, ordered: bool = True, explicit_soft_delete: bool = False) -> Select[Any]:
        """Return ``SELECT model`` with the conditions, order, loader options and lock.

        Its execution options are `run_options()`.
        """
        statement = select(self.model).where(*self.where(explicit_soft_delete=explicit_soft_delete))
        if ordered:
            statement = statement.order_by(*self.order_by())
        if self.load:
            statement = statement.options(*self.load)
        if self.with_for_update:
            lock = {} if self.with_for_update is True else dict(self.with_for_update)
            statement = statement.with_for_update(**lock)
        return statement.execution_options(**self.run_options())

    def _clause(self, criterion: Criterion) -> ColumnElement[bool]:
        if isinstance(criterion, FilterSet):
            if criterion.model is not self.model:
                raise TypeError(
                    f"These filters were parsed for {criterion.model.__name__}, not "
                    f"{self.model.__name__}. Parse them with the repository that reads them."
                )
            return criterion.where_clause(include_deleted=self.include_deleted)
        return criterion


def key_clause(model: type[Any], key: Any) -> ColumnElement[bool]:
    """Return ``primary key = key``; ``key`` is a value, or a tuple for a composite key."""
    columns = _primary_key(model)
    values = key if isinstance(key, tuple) else (key,)
    if len(values) != len(columns):
        raise TypeError(
            f"{model.__name__} has a primary key of {len(columns)} column(s) "
            f"({', '.join(c.key for c in columns)}); got the key {key!r}. Pass "
            + ("one value." if len(columns) == 1 else "a tuple with one value per column.")
        )
    return and_(*(column == value for column, value in zip(columns, values, strict=True)))


async def load_expired(session: AsyncSession, row: Any) -> None:
    """Load the attributes of ``row`` that a flush left expired (server defaults).

    Reading an expired attribute later would need lazy IO, which asyncio forbids.
    """
    expired = inspect(row).expired_attributes
    if expired:
        await session.refresh(row, attribute_names=list(expired))


def column_names(model: type[Any], names: Iterable[str], *, what: str) -> list[str]:
    """Return ``names`` if each is a column attribute of ``model``; raise TypeError if not."""
    known = inspect(model).column_attrs
    names = list(names)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise TypeError(
            f"{what} names {unknown!r}, which {'is' if len(unknown) == 1 else 'are'} not "
            f"column(s) of {model.__name__}. Use column attribute names: {sorted(known.keys())}."
        )
    return names


def _primary_key(model: type[Any]) -> list[InstrumentedAttribute[Any]]:
    mapper = inspect(model)
    # The mapped attributes, not the table's columns: the ORM can then apply an
    # UPDATE to the objects in the session itself, without a SELECT first.
    return [getattr(model, mapper.get_property_by_column(c).key) for c in mapper.primary_key]


def _soft(model: type[Any]) -> bool:
    return isinstance(model, type) and issubclass(model, SoftDelete)
