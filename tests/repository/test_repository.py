"""Repository: every read and write, on every backend, with and without the model mixins."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import ForeignKey, MetaData, String, select, true
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from asqla import (
    AsqlaError,
    Database,
    NotFoundError,
    VersionConflictError,
)
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
    UUIDPrimaryKey,
    Versioned,
)
from asqla.repository import (
    FilterSpec,
    KeysetPagination,
    OffsetPagination,
    Page,
    Repository,
)


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Team(BigIntPrimaryKey, Model):
    __tablename__ = "team"
    name: Mapped[str] = mapped_column(String(50), unique=True)
    members: Mapped[list[Member]] = relationship(back_populates="team", order_by="Member.id")


class Member(BigIntPrimaryKey, Timestamps, Model):
    __tablename__ = "member"
    email: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None]
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    team: Mapped[Team | None] = relationship(back_populates="members")


class Doc(UUIDPrimaryKey, Timestamps, SoftDelete, Versioned, Model):
    __tablename__ = "doc"
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(100))


class MemberRepository(Repository[Member]):
    filters = FilterSpec(name=["eq", "contains"], age=["gt", "lt"])
    sortable = ("name", "age", "created_at")


class TeamRepository(Repository[Team]):
    pass


class DocRepository(Repository[Doc]):
    sortable = ("slug",)


@pytest.fixture
async def tables(db: Database) -> Database:
    await db.create_all(Model.metadata)
    return db


async def _members(db: Database, *rows: tuple[str, int | None]) -> list[Member]:
    async with db.session() as s:
        return await MemberRepository(s).create_many(
            {"email": f"{name}@example.com", "name": name, "age": age} for name, age in rows
        )


async def _docs(db: Database, *slugs: str) -> list[Doc]:
    async with db.session() as s:
        return await DocRepository(s).create_many({"slug": x, "title": x.upper()} for x in slugs)


# -- declaring a repository ------------------------------------------------------------


def test_the_model_comes_from_the_type_parameter_or_the_class_body() -> None:
    class Explicit(Repository[Any]):
        model = Doc

    class Base(Repository[Any]):
        pass

    class Inherited(MemberRepository):
        pass

    assert MemberRepository.model is Member
    assert Explicit.model is Doc
    assert Inherited.model is Member
    with pytest.raises(TypeError, match=r"Base does not know its model\. Subclass Repository"):
        Base(None)  # type: ignore[arg-type]


# -- reads -----------------------------------------------------------------------------


async def test_create_flushes_but_never_commits(tables: Database) -> None:
    with pytest.raises(RuntimeError, match="abort"):
        async with tables.session() as s:
            member = await MemberRepository(s).create({"email": "a@x", "name": "a"})
            assert member.id is not None and member.created_at is not None
            raise RuntimeError("abort")
    async with tables.session() as s:
        assert await MemberRepository(s).count() == 0


async def test_create_takes_an_object(tables: Database) -> None:
    async with tables.session() as s:
        member = await MemberRepository(s).create(Member(email="b@x", name="b"))
    assert member.id is not None and member.updated_at == member.created_at


async def test_create_many_without_rows_back_takes_the_bulk_path(tables: Database) -> None:
    async def rows() -> Any:
        for i in range(3):
            yield {"email": f"{i}@x", "name": f"n{i}", "age": i}

    async with tables.session() as s:
        repo = MemberRepository(s)
        assert await repo.create_many(rows(), returning=False) == 3
        made = await repo.create_many(rows_ for rows_ in [{"email": "z@x", "name": "z"}])
        assert made[0].id is not None and made[0].created_at is not None
        assert [m.age for m in await repo.list()] == [0, 1, 2, None]


async def test_get_and_get_or_none(tables: Database) -> None:
    (ada,) = await _members(tables, ("ada", 36))
    async with tables.session() as s:
        repo = MemberRepository(s)
        assert (await repo.get(ada.id)).name == "ada"
        assert await repo.get_or_none(ada.id + 1000) is None
        with pytest.raises(NotFoundError, match=rf"^Member with key {ada.id + 1000} does not"):
            await repo.get(ada.id + 1000)
        with pytest.raises(TypeError, match=r"primary key of 1 column\(s\) \(id\)"):
            await repo.get((1, 2))


async def test_get_by(tables: Database) -> None:
    await _members(tables, ("ada", 36), ("bob", 20))
    async with tables.session() as s:
        repo = MemberRepository(s)
        assert (await repo.get_by(email="bob@example.com")).age == 20
        assert await repo.get_by_or_none(name="ada", age=99) is None
        with pytest.raises(NotFoundError, match=r"Member with name='zed' does not exist"):
            await repo.get_by(name="zed")
        with pytest.raises(TypeError, match=r"get_by\(\) names \['password'\], which is not"):
            await repo.get_by(password="x")


async def test_load_eager_loads_even_when_the_row_is_already_in_the_session(
    tables: Database,
) -> None:
    async with tables.session() as s:
        team = await TeamRepository(s).create({"name": "core"})
        await MemberRepository(s).create({"email": "a@x", "name": "a", "team_id": team.id})
    async with tables.session() as s:
        repo = TeamRepository(s)
        bare = await repo.get(team.id)
        loaded = await repo.get(team.id, load=[selectinload(Team.members)])
        assert loaded is bare
        assert [m.name for m in loaded.members] == ["a"]  # no lazy IO: it would raise
        listed = await MemberRepository(s).list(load=[selectinload(Member.team)])
        assert [m.team.name for m in listed if m.team] == ["core"]


async def test_list_filters_and_sorts(tables: Database) -> None:
    await _members(tables, ("cy", 30), ("ada", 36), ("bob", 20), ("dee", None))
    async with tables.session() as s:
        repo = MemberRepository(s)
        assert [m.name for m in await repo.list()] == ["cy", "ada", "bob", "dee"]
        assert [m.name for m in await repo.list(sort="name")] == ["ada", "bob", "cy", "dee"]
        older = await repo.list(Member.age > 25, sort="-age")
        assert [m.name for m in older] == ["ada", "cy"]
        parsed = repo.parse_filters({"name__contains": "e"})
        assert [m.name for m in await repo.list(parsed)] == ["dee"]
        by_email = await repo.list(sort=[Member.email.desc()])
        assert by_email[0].name == "dee"
        assert await repo.count() == 4
        assert await repo.count(Member.age < 35) == 2
        assert await repo.exists(Member.name == "bob")
        assert not await repo.exists(parsed, Member.age.is_not(None))


async def test_list_pages(tables: Database) -> None:
    await _members(tables, *((f"m{i:02}", i) for i in range(7)))
    async with tables.session() as s:
        repo = MemberRepository(s)
        first = await repo.list(Member.age >= 1, sort="-age", page=OffsetPagination(limit=4))
        assert isinstance(first, Page)
        assert [m.age for m in first.items] == [6, 5, 4, 3]
        assert (first.total, first.next) == (6, 4)
        seen: list[int | None] = []
        cursor: str | None = None
        while True:
            page = await repo.list(sort="name", page=KeysetPagination(limit=3, after=cursor))
            seen += [m.age for m in page.items]
            if not isinstance(page.next, str):
                break
            cursor = page.next
        assert seen == list(range(7))


async def test_stream_yields_every_row(tables: Database) -> None:
    await _members(tables, *((f"m{i:02}", i) for i in range(25)))
    async with tables.session() as s:
        rows = [m.age async for m in MemberRepository(s).stream(Member.age < 20, yield_per=4)]
        assert rows == list(range(20))
        async with MemberRepository(s).stream(sort="-age") as stream:
            async for member in stream:
                assert member.age == 24
                break
        assert await MemberRepository(s).count() == 25  # the session is usable again


@pytest.mark.backends("postgresql", "mysql")
async def test_with_for_update_locks_the_row(tables: Database) -> None:
    (ada,) = await _members(tables, ("ada", 1))
    async with tables.session() as holder:
        await MemberRepository(holder).get(ada.id, with_for_update=True)
        async with tables.session() as other:
            repo = MemberRepository(other)
            with pytest.raises(AsqlaError):
                await repo.get(ada.id, with_for_update={"nowait": True})
    async with tables.session() as s:
        locked = await MemberRepository(s).list(Member.id == ada.id, with_for_update=True)
        assert [m.id for m in locked] == [ada.id]


@pytest.mark.backends("postgresql", "mysql")
async def test_a_locking_read_refreshes_a_stale_copy(tables: Database) -> None:
    (ada,) = await _members(tables, ("ada", 1))
    async with tables.session() as s:
        repo = MemberRepository(s)
        stale = await repo.get(ada.id)
        async with tables.session() as other:
            await MemberRepository(other).update(ada.id, {"age": 2})
        assert (await repo.get(ada.id)).age == 1  # the identity map answers
        assert (await repo.get(ada.id, with_for_update=True)) is stale and stale.age == 2
        await s.commit()  # release the lock for the other session
        async with tables.session() as other:
            await MemberRepository(other).update(ada.id, {"age": 3})
        listed = await repo.list(Member.id == ada.id, with_for_update={"read": True})
        assert listed == [stale] and stale.age == 3


# -- updates ---------------------------------------------------------------------------


async def test_update_by_key_returns_database_values_and_refreshes_the_session(
    tables: Database,
) -> None:
    (ada,) = await _members(tables, ("ada", 36))
    async with tables.session() as s:
        repo = MemberRepository(s)
        held = await repo.get(ada.id)
        updated = await repo.update(ada.id, {"age": 37})
        assert updated is held and held.age == 37
        assert updated.updated_at > ada.updated_at  # the database's clock, read back
        with pytest.raises(NotFoundError, match=r"Member with key 0 does not exist"):
            await repo.update(0, {"age": 1})
        with pytest.raises(TypeError, match=r"update\(\) names \['nope'\]"):
            await repo.update(ada.id, {"nope": 1})
    async with tables.session() as s:
        assert (await MemberRepository(s).get(ada.id)).age == 37


async def test_update_an_object(tables: Database) -> None:
    (ada,) = await _members(tables, ("ada", 36))
    async with tables.session() as s:
        updated = await MemberRepository(s).update(ada, {"name": "Ada"})
    assert updated is ada and ada.name == "Ada" and ada.updated_at > ada.created_at


async def test_update_of_a_versioned_row(tables: Database) -> None:
    (doc,) = await _docs(tables, "a")
    doc_id = doc.id  # the failed unit of work below expires `doc`
    assert doc.version == 1
    async with tables.session() as s:
        repo = DocRepository(s)
        assert (await repo.update(doc.id, {"title": "B"})).version == 2
        assert (await repo.update(doc.id, {"title": "C", "version": 2})).version == 3
        with pytest.raises(VersionConflictError, match=r"no longer at version 1: another"):
            await repo.update(doc.id, {"title": "D", "version": 1})
        with pytest.raises(NotFoundError):
            await repo.update(uuid.uuid4(), {"title": "D", "version": 1})
    with pytest.raises(VersionConflictError):  # a failed flush ends the unit of work
        async with tables.session() as s:
            await DocRepository(s).update(doc, {"title": "stale"})  # doc was read at version 1
    async with tables.session() as s:
        current = await DocRepository(s).get(doc_id)
        with pytest.raises(VersionConflictError, match=r"no longer at version 7"):
            await DocRepository(s).update(current, {"version": 7, "title": "x"})
        assert (await DocRepository(s).update(current, {"title": "E"})).version == 4


async def test_update_where_counts_bumps_versions_and_skips_deleted_rows(
    tables: Database,
) -> None:
    a, _, c = await _docs(tables, "a", "b", "c")
    async with tables.session() as s:
        repo = DocRepository(s)
        await repo.delete(c.id)
        held = await repo.get(a.id)
        assert await repo.update_where(Doc.slug != "b", {"title": "T"}) == 1
        assert held.title == "T" and held.version == 2
        with pytest.raises(NotFoundError):
            await repo.update(c.id, {"title": "T"})
        empty = DocRepository.parse_filters({})
        with pytest.raises(ValueError, match=r"Refusing to write every Doc row"):
            await repo.update_where(empty, {"title": "all"})
        assert await repo.update_where(true(), {"title": "all"}) == 2


# -- deletes ---------------------------------------------------------------------------


async def test_soft_delete_hides_rows_and_hard_delete_removes_them(tables: Database) -> None:
    a, b, _ = await _docs(tables, "a", "b", "c")
    async with tables.session() as s:
        repo = DocRepository(s)
        held = await repo.get(a.id)
        await repo.delete(a.id)
        assert await repo.get_or_none(a.id) is None  # not answered from the identity map
        assert held not in s
        await repo.delete(await repo.get(b.id))
        with pytest.raises(NotFoundError):
            await repo.delete(a.id)  # already deleted
        assert [d.slug for d in await repo.list()] == ["c"]
        assert await repo.count() == 1 and not await repo.exists(Doc.slug == "a")
    async with tables.session() as s:
        everything = DocRepository(s, include_deleted=True)
        assert [d.slug for d in await everything.list(sort="slug")] == ["a", "b", "c"]
        assert await everything.count() == 3
        assert await everything.exists(Doc.slug == "a")
        assert (await everything.get(a.id)).is_deleted
        await DocRepository(s).delete(a.id, hard=True)
        await DocRepository(s).delete(await everything.get(b.id), hard=True)
        assert [d.slug for d in await everything.list()] == ["c"]
        with pytest.raises(NotFoundError, match=r"Doc with key UUID\('.*'\) does not exist"):
            await DocRepository(s).delete(a.id, hard=True)


async def test_delete_where(tables: Database) -> None:
    await _docs(tables, "a", "b", "c", "d")
    async with tables.session() as s:
        repo = DocRepository(s)
        assert await repo.delete_where(Doc.slug.in_(["a", "b"])) == 2
        assert await repo.delete_where(Doc.slug.in_(["a", "b", "c"])) == 1
        assert await repo.count() == 1
        assert await repo.delete_where([Doc.slug != "z"], hard=True) == 4
        assert await DocRepository(s, include_deleted=True).count() == 0
    await _members(tables, ("ada", 1), ("bob", 2))
    async with tables.session() as s:
        assert await MemberRepository(s).delete_where(Member.age > 1) == 1
        with pytest.raises(ValueError, match=r"Refusing to write every Member row"):
            await MemberRepository(s).delete_where([])
        assert [m.name for m in await MemberRepository(s).list()] == ["ada"]


async def test_hard_delete_by_key_lets_the_orm_unlink_children(tables: Database) -> None:
    async with tables.session() as s:
        team = await TeamRepository(s).create({"name": "core"})
        await MemberRepository(s).create({"email": "a@x", "name": "a", "team_id": team.id})
    async with tables.session() as s:
        await TeamRepository(s).delete(team.id)
        assert (await MemberRepository(s).get_by(name="a")).team_id is None


# -- get_or_create ---------------------------------------------------------------------


async def test_get_or_create(tables: Database) -> None:
    async with tables.session() as s:
        repo = MemberRepository(s)
        made, created = await repo.get_or_create({"name": "ada"}, email="a@x")
        assert created and made.name == "ada" and made.created_at is not None
        again, created = await repo.get_or_create({"name": "other"}, email="a@x")
        assert not created and again is made


async def test_get_or_create_is_safe_under_concurrency(tables: Database, backend: str) -> None:
    # On PostgreSQL and MariaDB every task reads "no row" before any inserts,
    # so nine of them take the unique-violation path. SQLite serialises writers
    # from their first statement (BEGIN IMMEDIATE), so a barrier would deadlock.
    barrier = asyncio.Barrier(10) if backend != "sqlite" else None

    class Racing(MemberRepository):
        async def _one(self, read: Any) -> Member | None:
            found = await super()._one(read)
            if barrier is not None and not getattr(self, "raced", False):
                self.raced = True
                await barrier.wait()
            return found

    async def task(i: int) -> tuple[int, bool]:
        async with tables.session() as s:
            row, created = await Racing(s).get_or_create({"name": f"t{i}"}, email="same@x")
            return row.id, created

    results = await asyncio.gather(*(task(i) for i in range(10)))
    assert len({row_id for row_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with tables.session() as s:
        assert await MemberRepository(s).count() == 1


async def test_get_or_create_is_not_fooled_by_an_unrelated_conflict(tables: Database) -> None:
    await _members(tables, ("ada", 1))
    async with tables.session() as s:
        with pytest.raises(AsqlaError, match="unique constraint"):
            await MemberRepository(s).get_or_create({"email": "ada@example.com"}, name="new")
        assert await MemberRepository(s).count() == 1  # the transaction is still usable


async def test_session_owned_writes_roll_back_with_the_unit_of_work(tables: Database) -> None:
    (ada,) = await _members(tables, ("ada", 1))
    with pytest.raises(RuntimeError):
        async with tables.session() as s:
            repo = MemberRepository(s)
            await repo.update(ada.id, {"age": 2})
            await repo.delete(ada.id)
            raise RuntimeError
    async with tables.session() as s:
        assert (await MemberRepository(s).get(ada.id)).age == 1
        stmt = select(Member.age)
        assert list(await s.scalars(stmt)) == [1]
