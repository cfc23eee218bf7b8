"""BigIntPrimaryKey: a 64-bit id the database numbers, on every backend."""

from __future__ import annotations

from sqlalchemy import MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Counter(BigIntPrimaryKey, Model):
    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(20))


BEYOND_32_BITS = 2**40


async def test_database_numbers_the_rows(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        first, second = Counter(name="a"), Counter(name="b")
        s.add_all([first, second])
        await s.flush()
        assert (first.id, second.id) == (1, 2)


async def test_ids_beyond_32_bits(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        s.add(Counter(id=BEYOND_32_BITS, name="big"))
    async with db.session() as s:
        following = Counter(name="next")
        s.add(following)
    async with db.session() as s:
        rows = (await s.execute(select(Counter.id, Counter.name).order_by(Counter.id))).all()
    # The sequence is not moved by an explicit id on PostgreSQL; it is on the others.
    assert (BEYOND_32_BITS, "big") in rows
    assert following.id in (1, BEYOND_32_BITS + 1)
