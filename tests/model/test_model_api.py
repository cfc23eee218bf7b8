"""Pin ``asqla.model.__all__``: a name added or removed must be a decision."""

from __future__ import annotations

import asqla.model

PUBLIC = [
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


def test_public_names_are_pinned() -> None:
    assert asqla.model.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(asqla.model, name) is not None


def test_include_deleted_is_the_option_name() -> None:
    assert asqla.model.INCLUDE_DELETED == "include_deleted"
