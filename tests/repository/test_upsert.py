"""Repository.upsert and upsert_many: native, atomic, on every backend."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import MetaData, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
    UUIDPrimaryKey,
    Versioned,
)
from asqla.repository import Repository


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Account(BigIntPrimaryKey, Timestamps, Versioned, SoftDelete, Model):
    __tablename__ = "account"
    email: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    score: Mapped[int] = mapped_column(default=0)


class Stock(UUIDPrimaryKey, Model):
    __tablename__ = "stock"
    __table_args__ = (UniqueConstraint("warehouse", "sku"),)
    warehouse: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int]


class Accounts(Repository[Account]):
    pass


class Stocks(Repository[Stock]):
    pass


@pytest.fixture
async def tables(db: Database) -> Database:
    await db.create_all(Model.metadata)
    return db


async def test_upsert_inserts_then_updates_the_same_row(tables: Database) -> None:
    async with tables.session() as s:
        made = await Accounts(s).upsert({"email": "a@x", "name": "Ada"}, conflict=["email"])
    assert (made.name, made.version, made.score) == ("Ada", 1, 0)
    async with tables.session() as s:
        again = await Accounts(s).upsert({"email": "a@x", "name": "Ada L"}, conflict=["email"])
        # The row as updated, read back in the same statement (RETURNING; on
        # MariaDB, INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING shows the
        # updated row too), with the database's new updated_at and version.
        assert (again.id, again.name, again.version) == (made.id, "Ada L", 2)
        assert again.created_at == made.created_at and again.updated_at > made.updated_at
    async with tables.session() as s:
        assert [(a.id, a.name) for a in await Accounts(s).list()] == [(made.id, "Ada L")]


async def test_update_names_the_columns_that_change(tables: Database) -> None:
    async with tables.session() as s:
        made = await Accounts(s).upsert(
            {"email": "a@x", "name": "Ada", "score": 1}, conflict=["email"]
        )
    async with tables.session() as s:
        repo = Accounts(s)
        kept = await repo.upsert(
            {"email": "a@x", "name": "X", "score": 5}, conflict=["email"], update=()
        )
        assert (kept.name, kept.score, kept.version) == ("Ada", 1, 1)
        assert kept.updated_at == made.updated_at  # nothing changed, nothing moved
        scored = await repo.upsert(
            {"email": "a@x", "name": "X", "score": 5}, conflict=["email"], update=["score"]
        )
        assert (scored.name, scored.score, scored.version) == ("Ada", 5, 2)


async def test_upsert_refreshes_the_object_in_the_session(tables: Database) -> None:
    async with tables.session() as s:
        made = await Accounts(s).upsert({"email": "a@x", "name": "Ada"}, conflict=["email"])
    async with tables.session() as s:
        held = await Accounts(s).get(made.id)
        again = await Accounts(s).upsert({"email": "a@x", "name": "B"}, conflict=["email"])
        assert again is held and held.name == "B" and held.version == 2


async def test_upsert_restores_a_soft_deleted_row(tables: Database) -> None:
    async with tables.session() as s:
        made = await Accounts(s).upsert({"email": "a@x", "name": "Ada"}, conflict=["email"])
        await Accounts(s).delete(made.id)
    async with tables.session() as s:
        back = await Accounts(s).upsert({"email": "a@x", "name": "Ada"}, conflict=["email"])
        assert back.id == made.id and not back.is_deleted
        assert await Accounts(s).get_or_none(made.id) is back


async def test_upsert_many_keeps_input_order_across_batches(tables: Database) -> None:
    # 2,500 rows: SQLAlchemy sends them 1,000 to a statement.
    first = [{"warehouse": "w1", "sku": f"s{i:04}", "quantity": i} for i in range(2500)]
    async with tables.session() as s:
        made = await Stocks(s).upsert_many(first, conflict=("warehouse", "sku"))
    assert [row.quantity for row in made] == list(range(2500))
    assert all(isinstance(row.id, uuid.UUID) for row in made)  # Python defaults per row
    second = [
        {"warehouse": "w2", "sku": "s0000", "quantity": -1},
        {"warehouse": "w1", "sku": "s2499", "quantity": -2},
        *({"warehouse": "w1", "sku": f"s{i:04}", "quantity": -i} for i in range(1, 2000)),
        {"warehouse": "w1", "sku": "s0000", "quantity": 0},
    ]
    async with tables.session() as s:
        rows = await Stocks(s).upsert_many(second, conflict=("warehouse", "sku"))
        assert [(r.warehouse, r.sku) for r in rows] == [(r["warehouse"], r["sku"]) for r in second]
        assert [r.quantity for r in rows] == [r["quantity"] for r in second]
        assert rows[1].id == made[2499].id and rows[-1].id == made[0].id
        assert await Stocks(s).count() == 2501
        assert await Stocks(s).upsert_many([]) == []


async def test_concurrent_upserts_of_one_key_make_one_row(tables: Database) -> None:
    async def task(i: int) -> int:
        async with tables.session() as s:
            row = await Accounts(s).upsert({"email": "same@x", "name": f"t{i}"}, conflict=["email"])
            return row.id

    ids = await asyncio.gather(*(task(i) for i in range(10)))
    assert len(set(ids)) == 1
    async with tables.session() as s:
        (only,) = await Accounts(s).list()
        assert only.version == 10  # one insert, then nine updates, none lost


@pytest.mark.backends("mysql")
async def test_without_insert_returning_the_row_is_read_back(
    tables: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MySQL (unlike MariaDB 10.5+) has no INSERT ... RETURNING.
    async with tables.session() as s:
        made = await Accounts(s).upsert({"email": "a@x", "name": "Ada"}, conflict=["email"])
    monkeypatch.setattr(tables.engine.dialect, "insert_returning", False)
    async with tables.session() as s:
        rows = await Accounts(s).upsert_many(
            [{"email": "b@x", "name": "Bob"}, {"email": "a@x", "name": "Ada L"}],
            conflict=["email"],
        )
        assert [(r.email, r.name, r.version) for r in rows] == [
            ("b@x", "Bob", 1),
            ("a@x", "Ada L", 2),
        ]
        assert rows[1].id == made.id


async def test_upsert_refuses_rows_it_cannot_write(tables: Database) -> None:
    async with tables.session() as s:
        repo = Accounts(s)
        with pytest.raises(ValueError, match=r"share the conflict key \('a@x',\)"):
            await repo.upsert_many(
                [{"email": "a@x", "name": "A"}, {"email": "a@x", "name": "B"}], conflict=["email"]
            )
        with pytest.raises(ValueError, match=r"must have the same columns"):
            await repo.upsert_many(
                [{"email": "a@x", "name": "A"}, {"email": "b@x"}], conflict=["email"]
            )
        with pytest.raises(ValueError, match=r"conflict columns \['email'\] must have values"):
            await repo.upsert({"name": "A"}, conflict=["email"])
        with pytest.raises(TypeError, match=r"upsert\(\) names \['nickname'\]"):
            await repo.upsert({"email": "a@x", "nickname": "A"}, conflict=["email"])
        with pytest.raises(TypeError, match=r"update names \['nope'\]"):
            await repo.upsert({"email": "a@x", "name": "A"}, conflict=["email"], update=["nope"])
        assert list(await s.scalars(select(Account))) == []
