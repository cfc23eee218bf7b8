"""Base: named constraints, the type map, and a user's own base with the same conventions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, Base, UTCDateTime


class Shelf(Base):
    __tablename__ = "shelf"
    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(20))
    __table_args__ = (UniqueConstraint("room", "code"),)


class Book(Base):
    __tablename__ = "book"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelf.id"))
    isbn: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(100), index=True)
    pages: Mapped[int]
    published_at: Mapped[datetime | None]
    __table_args__ = (
        CheckConstraint("pages > 0", name="positive_pages"),
        Index(None, "shelf_id", "title"),
    )


def _constraint_names(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    return {
        "unique": {
            c["name"] for t in ("shelf", "book") for c in inspector.get_unique_constraints(t)
        }
        | {i["name"] for t in ("shelf", "book") for i in inspector.get_indexes(t) if i["unique"]},
        "index": {i["name"] for i in inspector.get_indexes("book") if not i["unique"]},
        "foreign_key": {fk["name"] for fk in inspector.get_foreign_keys("book")},
    }


async def test_constraints_are_named_by_the_convention(db: Database) -> None:
    await db.create_all(Base.metadata)
    async with db.engine.connect() as connection:
        names = await connection.run_sync(_constraint_names)
    assert {"uq_shelf_room_code", "uq_book_isbn"} <= names["unique"]
    # MySQL names the index behind a foreign key after the constraint.
    assert {"ix_book_title", "ix_book_shelf_id_title"} <= names["index"]
    assert names["foreign_key"] == {"fk_book_shelf_id_shelf"}


def test_primary_key_and_check_constraint_names() -> None:
    table: Any = Book.__table__
    assert table.primary_key.name == "pk_book"
    checks = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
    assert checks == {"ck_book_positive_pages"}


def test_type_map_gives_utc_datetime_and_uuid() -> None:
    columns = Book.__table__.c
    assert isinstance(columns.published_at.type, UTCDateTime)
    assert columns.published_at.nullable
    assert isinstance(columns.id.type, Uuid)


def test_own_base_with_the_same_conventions() -> None:
    class OtherBase(AsyncAttrs, DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)
        type_annotation_map = TYPE_ANNOTATION_MAP

    class Thing(OtherBase):
        __tablename__ = "thing"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
        at: Mapped[datetime]
        name: Mapped[str] = mapped_column(String(10), unique=True)

    table: Any = Thing.__table__
    assert table.metadata is not Base.metadata
    assert isinstance(table.c.at.type, UTCDateTime)
    assert {c.name for c in table.constraints} == {"pk_thing", "uq_thing_name"}


def test_conventions_cannot_be_changed_by_accident() -> None:
    with pytest.raises(TypeError):
        NAMING_CONVENTION["pk"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        TYPE_ANNOTATION_MAP[str] = String(10)  # type: ignore[index]
