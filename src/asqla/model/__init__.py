"""Declarative ``Base`` and composable model mixins.

Subclass `Base` and add the mixins a model needs; each adds its
columns and behaviour and nothing else, and they combine in any order::

    class Post(UUIDPrimaryKey, Timestamps, SoftDelete, Versioned, Base):
        __tablename__ = "post"
        title: Mapped[str] = mapped_column(String(200))
"""

from __future__ import annotations

from .base import NAMING_CONVENTION as NAMING_CONVENTION
from .base import TYPE_ANNOTATION_MAP as TYPE_ANNOTATION_MAP
from .base import Base as Base
from .bigint_pk import BigIntPrimaryKey as BigIntPrimaryKey
from .soft_delete import INCLUDE_DELETED as INCLUDE_DELETED
from .soft_delete import SoftDelete as SoftDelete
from .timestamps import Timestamps as Timestamps
from .types import UTCDateTime as UTCDateTime
from .uuid_pk import UUIDPrimaryKey as UUIDPrimaryKey
from .uuid_pk import uuid7 as uuid7
from .versioned import Versioned as Versioned

__all__ = [
    "INCLUDE_DELETED",
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "Base",
    "BigIntPrimaryKey",
    "SoftDelete",
    "Timestamps",
    "UTCDateTime",
    "UUIDPrimaryKey",
    "Versioned",
    "uuid7",
]
