"""``Timestamps``: ``created_at`` and ``updated_at``, set by the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ._mapper_args import inherited_mapper_args
from .types import UTCDateTime, utc_now

__all__ = ["Timestamps"]


class Timestamps:
    """Add ``created_at`` and ``updated_at``, both set by the database.

    ``created_at`` is the database's time at INSERT (a server default).
    ``updated_at`` is the same at INSERT and moves to the database's time on
    every UPDATE that SQLAlchemy emits and that does not set it itself: a
    flushed change to the object, and a bulk ``update(Model).values(...)``
    alike, because the column's ``onupdate`` is a SQL expression that Core
    adds to every UPDATE of the table. An UPDATE written in raw SQL does not
    move it. A flush that changes nothing emits no UPDATE, so ``updated_at``
    stays put. After a bulk update, objects already loaded in the session
    have ``updated_at`` expired (SQLAlchemy cannot compute it in Python):
    read it with ``await obj.awaitable_attrs.updated_at``.

    Both are `UTCDateTime` (aware UTC) and come back to the object at
    flush (``eager_defaults``: RETURNING where the backend has it, else a
    SELECT), so they can be read after commit without a refresh. PostgreSQL
    gives the transaction's start time (``CURRENT_TIMESTAMP``); MySQL/MariaDB
    ``UTC_TIMESTAMP(6)``; SQLite ``strftime('%Y-%m-%d %H:%M:%f', 'now')``, in
    milliseconds.

    Example::

        class Post(UUIDPrimaryKey, Timestamps, Base):
            __tablename__ = "post"
            title: Mapped[str]

        await session.execute(update(Post).values(title="x"))  # moves updated_at
    """

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=utc_now(), nullable=False, sort_order=100
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        server_default=utc_now(),
        onupdate=utc_now(),
        nullable=False,
        sort_order=100,
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # eager_defaults=True fetches server values after UPDATE too, not
        # only INSERT: an expired updated_at would need a lazy load, which
        # raises MissingGreenlet under asyncio.
        return {**inherited_mapper_args(cls, Timestamps), "eager_defaults": True}
