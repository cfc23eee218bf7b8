"""SoftDelete: deleted rows are hidden from every ORM read, with an explicit opt-out."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, ForeignKey, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    aliased,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)

from asqla import Database
from asqla.model import (
    INCLUDE_DELETED,
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    UUIDPrimaryKey,
)


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


post_tag = Table(
    "post_tag",
    Model.metadata,
    Column("post_id", ForeignKey("post.id"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id"), primary_key=True),
)


class Author(UUIDPrimaryKey, Model):
    __tablename__ = "author"
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.title")


class Post(UUIDPrimaryKey, SoftDelete, Model):
    __tablename__ = "post"
    title: Mapped[str] = mapped_column(String(50))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="posts")
    tags: Mapped[list[Tag]] = relationship(secondary=post_tag, order_by="Tag.name")


class Tag(BigIntPrimaryKey, SoftDelete, Model):
    __tablename__ = "tag"
    name: Mapped[str] = mapped_column(String(50))


async def _seed(db: Database) -> uuid.UUID:
    """One author with posts "kept" and "gone"; "kept" has tags "red" and "old"."""
    await db.create_all(Model.metadata)
    async with db.session() as s:
        red, old = Tag(name="red"), Tag(name="old")
        kept, gone = Post(title="kept", tags=[red, old]), Post(title="gone")
        author = Author(name="ann", posts=[kept, gone])
        s.add(author)
        await s.flush()
        gone.soft_delete()
        old.soft_delete()
    return author.id


def _titles(posts: list[Post]) -> list[str]:
    return [post.title for post in posts]


async def test_select_hides_deleted_rows(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        assert _titles(list(await s.scalars(select(Post)))) == ["kept"]
        assert await s.scalar(select(func.count()).select_from(Post)) == 1
        assert list(await s.scalars(select(Post.title))) == ["kept"]
        hidden = aliased(Post)
        assert list(await s.scalars(select(hidden.title))) == ["kept"]


async def test_join_hides_deleted_rows(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        stmt = select(Author.name).join(Author.posts).where(Post.title == "gone")
        assert list(await s.scalars(stmt)) == []


async def test_get_hides_a_row_deleted_by_another_session(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        gone_id = (
            await s.scalars(
                select(Post.id).where(Post.title == "gone").execution_options(include_deleted=True)
            )
        ).one()
    async with db.session() as s:
        assert await s.get(Post, gone_id) is None
        shown = await s.get(Post, gone_id, execution_options={INCLUDE_DELETED: True})
        assert shown is not None and shown.is_deleted


async def test_get_hides_a_row_deleted_in_the_same_session(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        post = (await s.scalars(select(Post).where(Post.title == "kept"))).one()
        assert await s.get(Post, post.id) is post  # from the identity map
        post.soft_delete()
        await s.flush()
        assert await s.get(Post, post.id) is None
        assert post.title == "kept" and post.is_deleted  # the instance stays readable
        assert _titles(list(await s.scalars(select(Post)))) == []


async def test_lazy_load_hides_deleted_rows(db: Database) -> None:
    author_id = await _seed(db)
    async with db.session() as s:
        author = await s.get(Author, author_id)
        assert author is not None
        posts = await author.awaitable_attrs.posts
        assert _titles(posts) == ["kept"]
        assert [tag.name for tag in await posts[0].awaitable_attrs.tags] == ["red"]


async def test_lazy_load_from_an_object_no_query_loaded_hides_deleted_rows(db: Database) -> None:
    # SQLAlchemy's recipe relies on the criteria travelling with the objects a
    # query loaded; an object created in this session carries none.
    await db.create_all(Model.metadata)
    async with db.session() as s:
        author = Author(name="bob")
        s.add(author)
        await s.flush()
        s.add_all([Post(title="a", author_id=author.id), Post(title="b", author_id=author.id)])
        await s.flush()
        (await s.scalars(select(Post).where(Post.title == "b"))).one().soft_delete()
        await s.flush()
        assert _titles(await author.awaitable_attrs.posts) == ["a"]


async def test_eager_loads_hide_deleted_rows(db: Database) -> None:
    await _seed(db)
    for option in (selectinload, joinedload, subqueryload):
        async with db.session() as s:
            stmt = select(Author).options(option(Author.posts).options(option(Post.tags)))
            author = (await s.scalars(stmt)).unique().one()
            assert _titles(author.posts) == ["kept"], option
            assert [tag.name for tag in author.posts[0].tags] == ["red"], option


async def test_include_deleted_shows_rows_and_their_eager_loads(db: Database) -> None:
    author_id = await _seed(db)
    async with db.session() as s:
        stmt = select(Post).order_by(Post.title).execution_options(include_deleted=True)
        assert _titles(list(await s.scalars(stmt))) == ["gone", "kept"]
    for option in (selectinload, joinedload, subqueryload):
        async with db.session() as s:
            eager = (
                select(Author)
                .options(option(Author.posts).options(option(Post.tags)))
                .execution_options(include_deleted=True)
            )
            author = (await s.scalars(eager)).unique().one()
            assert _titles(author.posts) == ["gone", "kept"], option
            assert [tag.name for tag in author.posts[1].tags] == ["old", "red"], option
    async with db.session() as s:
        # A later lazy load is a statement of its own, without the option.
        loaded = await s.get(Author, author_id, execution_options={INCLUDE_DELETED: True})
        assert loaded is not None
        assert _titles(await loaded.awaitable_attrs.posts) == ["kept"]


async def test_restore_brings_a_row_back(db: Database) -> None:
    author_id = await _seed(db)
    async with db.session() as s:
        stmt = select(Post).where(Post.title == "gone").execution_options(include_deleted=True)
        gone = (await s.scalars(stmt)).one()
        gone.restore()
    assert not gone.is_deleted
    async with db.session() as s:
        author = await s.get(Author, author_id)
        assert author is not None
        assert _titles(await author.awaitable_attrs.posts) == ["gone", "kept"]


async def test_soft_delete_keeps_the_first_deletion_time(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        stmt = select(Post).where(Post.title == "gone").execution_options(include_deleted=True)
        gone = (await s.scalars(stmt)).one()
        first = gone.deleted_at
        gone.soft_delete()
        assert gone.deleted_at == first
        await s.refresh(gone)  # refreshing an object you hold is not filtered
        assert gone.deleted_at == first
