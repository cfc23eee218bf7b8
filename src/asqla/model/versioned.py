"""``Versioned``: optimistic locking through a version counter."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ._mapper_args import inherited_mapper_args

__all__ = ["Versioned"]


class Versioned:
    """Add ``version: Mapped[int]`` and reject updates based on a stale read.

    Every UPDATE and DELETE of the row says ``WHERE id = ? AND version = ?``
    and increments ``version`` (SQLAlchemy's ``version_id_col``, see
    "Configuring a Version Counter"). If another transaction changed the
    row since this one read it, no row matches and SQLAlchemy raises
    ``StaleDataError``; sessions from [`Database`][asqla.Database] raise it as
    `asqla.exceptions.VersionConflictError`, a ``ConflictError``
    (HTTP 409 under `asqla.fastapi`). The first version is 1. A bulk
    ``update(Model)`` statement does not check or move the version.

    The mixin sets ``version_id_col`` in ``__mapper_args__`` and merges the
    arguments of the other asqla mixins. If your model defines
    ``__mapper_args__`` itself, merge them too, or the version check is lost::

        @declared_attr.directive
        def __mapper_args__(cls) -> dict[str, Any]:
            return {**super().__mapper_args__, "confirm_deleted_rows": False}

    Example::

        class Account(UUIDPrimaryKey, Versioned, Base):
            __tablename__ = "account"
            balance: Mapped[int]

        account.balance -= 10
        await session.commit()  # VersionConflictError if it changed meanwhile
    """

    version: Mapped[int] = mapped_column(nullable=False, sort_order=100)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {**inherited_mapper_args(cls, Versioned), "version_id_col": cls.version}
