"""Timestamps: created_at and updated_at come from the database, as aware UTC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, String, select, update
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey, Timestamps


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Note(BigIntPrimaryKey, Timestamps, Model):
    __tablename__ = "note"
    text: Mapped[str] = mapped_column(String(50))


# The clock moves on between units of work: wider than SQLite's 1 ms resolution.
TICK = 0.02


async def _create(db: Database, text: str = "a") -> Note:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        note = Note(text=text)
        s.add(note)
    return note


async def _load(db: Database, note_id: int) -> Note:
    async with db.session() as s:
        note = await s.get(Note, note_id)
    assert note is not None
    return note


def _assert_utc_now(value: datetime) -> None:
    assert value.tzinfo is UTC
    # The database's clock and ours are the same machine's: a time zone
    # mistake would be off by hours.
    assert abs(datetime.now(UTC) - value) < timedelta(minutes=1)


async def test_insert_sets_both_and_returns_them_without_refresh(db: Database) -> None:
    note = await _create(db)
    # Read after commit, on the object that was added: no refresh, no lazy load.
    _assert_utc_now(note.created_at)
    assert note.updated_at == note.created_at
    loaded = await _load(db, note.id)
    assert (loaded.created_at, loaded.updated_at) == (note.created_at, note.updated_at)


async def test_orm_update_moves_updated_at_only(db: Database) -> None:
    note = await _create(db)
    await asyncio.sleep(TICK)
    async with db.session() as s:
        changed = await s.get(Note, note.id)
        assert changed is not None
        changed.text = "b"
    # Fetched back at flush (RETURNING, or a SELECT where UPDATE has none).
    assert changed.updated_at > note.updated_at
    _assert_utc_now(changed.updated_at)
    assert changed.created_at == note.created_at
    assert (await _load(db, note.id)).updated_at == changed.updated_at


async def test_bulk_update_moves_updated_at(db: Database) -> None:
    note = await _create(db)
    await asyncio.sleep(TICK)
    async with db.session() as s:
        await s.execute(update(Note).where(Note.id == note.id).values(text="b"))
    loaded = await _load(db, note.id)
    assert loaded.text == "b"
    assert loaded.updated_at > note.updated_at
    assert loaded.created_at == note.created_at


async def test_bulk_update_that_sets_updated_at_keeps_its_value(db: Database) -> None:
    note = await _create(db)
    chosen = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    async with db.session() as s:
        await s.execute(update(Note).where(Note.id == note.id).values(updated_at=chosen))
    assert (await _load(db, note.id)).updated_at == chosen


async def test_bulk_update_expires_updated_at_on_loaded_objects(db: Database) -> None:
    note = await _create(db)
    await asyncio.sleep(TICK)
    async with db.session() as s:
        loaded = await s.get(Note, note.id)
        assert loaded is not None
        await s.execute(update(Note).values(text="b"))
        # The new value is in the database only: load it explicitly.
        assert await loaded.awaitable_attrs.updated_at > note.updated_at


async def test_updated_at_stays_put_when_nothing_changes(db: Database) -> None:
    note = await _create(db)
    await asyncio.sleep(TICK)
    async with db.session() as s:
        loaded = (await s.scalars(select(Note))).one()
        loaded.text = "a"  # the value it already has
    assert (await _load(db, note.id)).updated_at == note.updated_at


async def test_timestamps_are_tz_aware_utc_on_every_backend(db: Database) -> None:
    note = await _create(db)
    loaded = await _load(db, note.id)
    for value in (note.created_at, note.updated_at, loaded.created_at, loaded.updated_at):
        assert value.tzinfo is UTC
        assert value.utcoffset() == timedelta(0)
