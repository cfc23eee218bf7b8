"""The declarative ``Base``: constraint naming, ``AsyncAttrs`` and the type map."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import MetaData, Uuid
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase

from .types import UTCDateTime

__all__ = ["NAMING_CONVENTION", "TYPE_ANNOTATION_MAP", "Base"]

NAMING_CONVENTION: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Alembic, "The Importance of Naming Constraints": every constraint
        # gets a predictable name, so that a migration can drop or alter it
        # on every backend. The column_0_N forms name every column of a
        # composite constraint. Names longer than the backend allows are
        # truncated by SQLAlchemy with a stable hash suffix.
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""The constraint naming convention of `Base`'s ``MetaData``."""

TYPE_ANNOTATION_MAP: Final[Mapping[Any, Any]] = MappingProxyType(
    {
        datetime.datetime: UTCDateTime(),
        # Native UUID on PostgreSQL and MariaDB 10.7+, CHAR(32) elsewhere.
        uuid.UUID: Uuid(),
    }
)
"""The Python-type-to-column-type map of `Base`."""


class Base(AsyncAttrs, DeclarativeBase):
    """Subclass this to declare models.

    Every model shares ``Base.metadata``, whose constraints are named by
    `NAMING_CONVENTION`. ``Mapped[datetime]`` columns are
    `UTCDateTime` (aware UTC on every backend) and ``Mapped[uuid.UUID]``
    columns are ``Uuid``. ``AsyncAttrs`` adds ``obj.awaitable_attrs``, to load
    a lazy relationship under asyncio: ``await post.awaitable_attrs.comments``.

    For models on a separate ``MetaData`` (a second database, say), declare
    your own base with the same conventions rather than subclassing this one::

        class OtherBase(AsyncAttrs, DeclarativeBase):
            metadata = MetaData(naming_convention=NAMING_CONVENTION)
            type_annotation_map = TYPE_ANNOTATION_MAP

    Example::

        class Post(UUIDPrimaryKey, Timestamps, Base):
            __tablename__ = "post"
            title: Mapped[str] = mapped_column(String(200))

        await db.create_all(Base.metadata)
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP
