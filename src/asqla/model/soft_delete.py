"""``SoftDelete``: mark rows deleted, and hide them from every ORM read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import event, inspect
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    UserDefinedOption,
    mapped_column,
    with_loader_criteria,
)

from .types import UTCDateTime

__all__ = ["INCLUDE_DELETED", "SoftDelete"]

INCLUDE_DELETED: Final = "include_deleted"
"""Execution option that shows soft-deleted rows to one statement."""

_FLUSHED_DELETES = "asqla_soft_deleted_in_flush"


class SoftDelete:
    """Add ``deleted_at`` and hide rows where it is set from every ORM read.

    `soft_delete()` and `restore()` set and clear ``deleted_at`` on
    the object; the unit of work writes it like any other change.

    Every ORM SELECT run by any ``Session`` or ``AsyncSession`` gets
    ``WHERE deleted_at IS NULL`` for every soft-deletable entity in it:
    ``select(Model)``, ``session.get()``, joins and aliases, and relationship
    loads of every strategy (lazy, selectin, joined, subquery, immediate,
    many-to-many). Refreshing an object you hold (``session.refresh()``, an
    expired attribute) still loads it. Bulk ``update()`` and ``delete()``
    are not filtered.

    ``select(Model).execution_options(include_deleted=True)`` (the option is
    `INCLUDE_DELETED`) shows deleted rows to that statement and to the
    eager loads it runs (joined, selectin, subquery); a lazy load later is a
    statement of its own and hides them again.

    ``session.get()`` answers from the identity map without SQL when the
    object is already loaded. So that it cannot return a row this session
    soft-deleted, the flush that writes ``deleted_at`` takes the object out
    of the session, as a flushed ``session.delete()`` does: you can still
    read its loaded attributes, but changes made to it afterwards are not
    saved, and a rollback does not put it back. To restore a row, load it
    with ``include_deleted=True`` (``session.merge()`` cannot find it, and
    would try to INSERT it again).

    Example::

        post.soft_delete()
        await session.flush()
        await session.get(Post, post.id)  # None
        stmt = select(Post).execution_options(include_deleted=True)
        (await session.scalars(stmt)).one().restore()
    """

    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, nullable=True, sort_order=100
    )

    @property
    def is_deleted(self) -> bool:
        """Whether the object is soft-deleted (``deleted_at`` is set)."""
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        """Mark the object deleted now, unless it already is; saved at the next flush."""
        if self.deleted_at is None:
            self.deleted_at = datetime.now(UTC)

    def restore(self) -> None:
        """Clear ``deleted_at``, so the row shows again after the next flush."""
        self.deleted_at = None


def _not_deleted(cls: type[SoftDelete]) -> Any:
    # A module-level function rather than a lambda, so that loaded objects
    # that carry the option stay picklable (with_loader_criteria docs).
    return cls.deleted_at.is_(None)


class _HidesDeleted(UserDefinedOption):
    """Marks a statement that already carries the soft-delete criteria."""

    propagate_to_loaders = True


@event.listens_for(Session, "do_orm_execute")
def _hide_deleted(execute_state: ORMExecuteState) -> None:
    # SQLAlchemy's recipe ("ORM Querying Guide", "Adding global WHERE / ON
    # criteria") adds the criteria to top-level SELECTs only and lets it
    # propagate to the relationship loads of the objects they load. That
    # misses lazy loads from objects no such SELECT loaded (objects created
    # in this session, or loaded with INCLUDE_DELETED), so relationship loads
    # get it here too unless it came along: the marker option says whether
    # it did, without adding the same WHERE twice. Refreshes of an object
    # you hold (is_column_load) are left alone. Eager loaders run with the
    # top-level statement's execution options merged in (orm/context.py,
    # "sa_top_level_orm_context"), so INCLUDE_DELETED reaches them.
    if (
        not execute_state.is_select
        or execute_state.is_column_load
        or execute_state.execution_options.get(INCLUDE_DELETED, False)
        or any(isinstance(opt, _HidesDeleted) for opt in execute_state.user_defined_options)
    ):
        return
    execute_state.statement = execute_state.statement.options(
        # propagate_to_loaders (the default) is what applies it to joined
        # eager loads, whose ON clause is built in the same statement.
        with_loader_criteria(SoftDelete, _not_deleted, include_aliases=True),
        _HidesDeleted(),
    )


@event.listens_for(Session, "after_flush")
def _collect_soft_deleted(session: Session, flush_context: UOWTransaction) -> None:
    # The attribute history still shows this flush's changes here (and no
    # longer in after_flush_postexec, where the session can be changed).
    deleted = [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, SoftDelete)
        and obj.deleted_at is not None
        and inspect(obj).attrs.deleted_at.history.added
    ]
    session.info[_FLUSHED_DELETES] = deleted


@event.listens_for(Session, "after_flush_postexec")
def _forget_soft_deleted(session: Session, flush_context: UOWTransaction) -> None:
    for obj in session.info.pop(_FLUSHED_DELETES, ()):
        if obj in session:
            session.expunge(obj)
