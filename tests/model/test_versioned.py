"""Versioned: a stale write raises VersionConflictError; the mixins combine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from asqla import Database, VersionConflictError
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
    UUIDPrimaryKey,
    Versioned,
)


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Account(UUIDPrimaryKey, Timestamps, SoftDelete, Versioned, Model):
    __tablename__ = "account"
    balance: Mapped[int]


class Ledger(Versioned, SoftDelete, Timestamps, BigIntPrimaryKey, Model):
    """The same mixins in another order, and a __mapper_args__ of its own."""

    __tablename__ = "ledger"
    name: Mapped[str] = mapped_column(String(20))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {**super().__mapper_args__, "confirm_deleted_rows": False}


def test_mixins_merge_their_mapper_args() -> None:
    for model in (Account, Ledger):
        mapper: Any = model.__mapper__
        assert mapper.version_id_col is model.__table__.c.version
        assert mapper.eager_defaults is True
    assert Ledger.__mapper__.confirm_deleted_rows is False


def test_columns_are_ordered_id_first_bookkeeping_last() -> None:
    assert list(Account.__table__.c.keys()) == [
        "id",
        "balance",
        "created_at",
        "updated_at",
        "deleted_at",
        "version",
    ]


async def test_version_starts_at_one_and_counts_updates(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        account = Account(balance=10)
        s.add(account)
    assert account.version == 1
    async with db.session() as s:
        s.add(account)
        account.balance = 20
    assert account.version == 2


async def test_stale_write_raises_version_conflict(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        s.add(Account(balance=10))
    with pytest.raises(
        VersionConflictError, match="Another transaction changed or deleted the row"
    ):
        async with db.session() as mine:
            account = (await mine.scalars(select(Account))).one()
            await mine.commit()  # end the read transaction, keep the object
            async with db.session() as theirs:
                (await theirs.scalars(select(Account))).one().balance = 50
            account.balance -= 5  # based on the stale 10
    async with db.session() as s:
        assert (await s.scalars(select(Account.balance))).one() == 50


async def test_combined_mixins_work_together(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        ledger = Ledger(name="cash")
        s.add(ledger)
    created = ledger.updated_at
    await asyncio.sleep(0.02)
    async with db.session() as s:
        s.add(ledger)
        ledger.soft_delete()
    assert ledger.version == 2
    assert ledger.updated_at > created
    async with db.session() as s:
        assert list(await s.scalars(select(Ledger))) == []
        stmt = select(Ledger).execution_options(include_deleted=True)
        restored = (await s.scalars(stmt)).one()
        restored.restore()
    assert (restored.version, restored.deleted_at) == (3, None)
