"""UUIDPrimaryKey and uuid7(): RFC 9562 version 7, ordered by creation time."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, UUIDPrimaryKey, uuid7

MODULE = "asqla.model.uuid_pk"


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Item(UUIDPrimaryKey, Model):
    __tablename__ = "item"
    name: Mapped[str] = mapped_column(String(20))


def test_version_and_variant_bits() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert str(value)[14] == "7"  # the version nibble, as people read it


def test_timestamp_is_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_ids_increase_in_creation_order() -> None:
    values = [uuid7() for _ in range(10_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert [str(v) for v in values] == sorted(str(v) for v in values)


@pytest.mark.parametrize(
    "clock_ms",
    [
        pytest.param([1_700_000_000_000] * 50, id="same-millisecond"),
        pytest.param(list(range(1_700_000_000_050, 1_700_000_000_000, -1)), id="clock-steps-back"),
    ],
)
def test_ids_never_go_backwards(monkeypatch: pytest.MonkeyPatch, clock_ms: list[int]) -> None:
    ticks = iter(ms * 1_000_000 for ms in clock_ms)
    monkeypatch.setattr(f"{MODULE}._last_ms", 0)
    monkeypatch.setattr(f"{MODULE}.time_ns", lambda: next(ticks))
    values = [uuid7() for _ in clock_ms]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert all(v.version == 7 and v.variant == uuid.RFC_4122 for v in values)


def test_random_part_exhausted_borrows_the_next_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(f"{MODULE}.time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    monkeypatch.setattr(f"{MODULE}._last_ms", 1_700_000_000_000)
    monkeypatch.setattr(f"{MODULE}._last_random", (1 << 74) - 1)
    value = uuid7()
    assert value.int >> 80 == 1_700_000_000_001
    assert value.version == 7


async def test_primary_key_defaults_to_uuid7_and_sorts_by_creation(db: Database) -> None:
    await db.create_all(Model.metadata)
    names = [f"item-{i:02}" for i in range(20)]
    async with db.session() as s:
        items = [Item(name=name) for name in names]
        assert all(item.id is None for item in items)  # assigned at flush
        for item in items:
            s.add(item)
            await s.flush()
    assert all(item.id.version == 7 for item in items)
    async with db.session() as s:
        assert list(await s.scalars(select(Item.name).order_by(Item.id))) == names
        loaded = await s.get(Item, items[3].id)
        assert loaded is not None and loaded.id == items[3].id
        assert isinstance(loaded.id, uuid.UUID)
