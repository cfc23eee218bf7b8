"""``count="window"``: a page and its total in one round trip, equal to the exact count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import ForeignKey, MetaData, String, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey, SoftDelete
from asqla.repository import FilterSpec, KeysetPagination, OffsetPagination, Repository
from asqla.repository.pagination import CursorSigner, paginate_keyset, paginate_offset


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Post(BigIntPrimaryKey, SoftDelete, Model):
    __tablename__ = "post"
    rank: Mapped[int]
    title: Mapped[str] = mapped_column(String(40))
    comments: Mapped[list[Comment]] = relationship()


class Comment(BigIntPrimaryKey, Model):
    __tablename__ = "comment"
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"))


class PostRepository(Repository[Post]):
    filters = FilterSpec(rank=["ge"], title=["contains"])
    sortable = ("rank", "title")


POSTS = 23
DELETED = {3, 9, 14}  # soft-deleted post ids


def _comments(post_id: int) -> int:
    return post_id % 4


async def _seed(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        await s.execute(
            insert(Post),
            [{"id": i, "rank": i % 5, "title": f"post {i:02}"} for i in range(1, POSTS + 1)],
        )
        await s.execute(
            insert(Comment),
            [{"post_id": i} for i in range(1, POSTS + 1) for _ in range(_comments(i))],
        )
        for post in (await s.scalars(select(Post).where(Post.id.in_(DELETED)))).all():
            post.soft_delete()


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """The SQL sent to the database while the ``with`` block runs."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _exact_total(s: AsyncSession, statement: Any, **options: Any) -> int | None:
    return (await paginate_offset(s, statement, limit=2, offset=1, **options)).total


VISIBLE = [i for i in range(1, POSTS + 1) if i not in DELETED]


@pytest.mark.parametrize(
    ("offset", "limit", "expected_items"),
    [
        pytest.param(0, 5, 5, id="first"),
        pytest.param(5, 5, 5, id="middle"),
        pytest.param(15, 5, 5, id="last-full"),
        pytest.param(17, 5, 3, id="last-short"),
        pytest.param(0, 50, 20, id="one-short-page"),
    ],
)
async def test_a_page_carries_its_total_in_one_statement(
    db: Database, offset: int, limit: int, expected_items: int
) -> None:
    await _seed(db)
    async with db.read_session() as s:
        posts = PostRepository(s)
        with _statements(db) as sent:
            page = await posts.list(
                sort="-rank", page=OffsetPagination(limit=limit, offset=offset, count="window")
            )
        assert len(sent) == 1, sent
        assert "over ()" in sent[0].lower(), sent[0]
        exact = await posts.list(
            sort="-rank", page=OffsetPagination(limit=limit, offset=offset, count="exact")
        )
        assert page.total == exact.total == await posts.count() == len(VISIBLE)
    assert len(page.items) == expected_items
    assert all(isinstance(post, Post) for post in page.items)  # the total column is stripped
    assert [p.id for p in page.items] == [p.id for p in exact.items]
    assert (page.next, page.previous) == (exact.next, exact.previous)


async def test_a_page_past_the_end_falls_back_to_the_count_query(db: Database) -> None:
    await _seed(db)
    async with db.read_session() as s:
        posts = PostRepository(s)
        with _statements(db) as sent:
            page = await posts.list(page=OffsetPagination(limit=5, offset=40, count="window"))
        assert page.items == [] and page.total == len(VISIBLE) == await posts.count()
    assert len(sent) == 2, sent
    assert "count(" in sent[1].lower() and "over ()" not in sent[1].lower(), sent[1]


async def test_nothing_matching_is_a_total_of_zero_without_a_second_query(db: Database) -> None:
    await _seed(db)
    async with db.read_session() as s:
        with _statements(db) as sent:
            page = await PostRepository(s).list(
                Post.rank > 100, page=OffsetPagination(limit=5, count="window")
            )
    assert (page.items, page.total, page.next, page.previous) == ([], 0, None, None)
    assert len(sent) == 1, sent


@pytest.mark.parametrize("include_deleted", [False, True], ids=["visible", "include-deleted"])
async def test_soft_delete_and_filters_shape_the_window(
    db: Database, include_deleted: bool
) -> None:
    await _seed(db)
    async with db.read_session() as s:
        posts = PostRepository(s, include_deleted=include_deleted)
        filters = posts.parse_filters({"rank__ge": "2", "title__contains": "post 1"})
        for criteria in [(), (filters,), (Post.rank == 0,)]:
            window = await posts.list(
                *criteria, sort="title", page=OffsetPagination(limit=2, count="window")
            )
            exact = await posts.list(
                *criteria, sort="title", page=OffsetPagination(limit=2, count="exact")
            )
            assert window.total == exact.total == await posts.count(*criteria), criteria
    ids = range(1, POSTS + 1) if include_deleted else VISIBLE
    assert window.total == sum(1 for i in ids if i % 5 == 0)


async def test_joined_eager_load_of_a_collection_counts_entities(db: Database) -> None:
    # The joined collection repeats each post over its comments; SQLAlchemy
    # nests the LIMIT query in a subquery, and the window goes in with it.
    await _seed(db)
    statement = select(Post).options(joinedload(Post.comments))
    async with db.read_session() as s:
        with _statements(db) as sent:
            page = await paginate_offset(
                s, statement, sort=[Post.rank], limit=4, offset=4, count="window"
            )
        assert len(sent) == 1, sent
        assert page.total == await _exact_total(s, statement) == len(VISIBLE)
    assert len(page.items) == 4 and len({p.id for p in page.items}) == 4
    assert all(len(p.comments) == _comments(p.id) for p in page.items)


async def test_a_join_counts_the_rows_it_returns_as_exact_does(db: Database) -> None:
    await _seed(db)
    statement = select(Post).join(Post.comments).where(Post.rank < 3)
    async with db.read_session() as s:
        page = await paginate_offset(s, statement, limit=3, offset=3, count="window")
        assert page.total == await _exact_total(s, statement)
    assert page.total == sum(_comments(i) for i in VISIBLE if i % 5 < 3)


async def test_group_by_counts_the_groups(db: Database) -> None:
    await _seed(db)
    post, comment = Post.__table__, Comment.__table__
    statement = (
        select(post.c.rank, func.count().label("comments"))
        .select_from(post.join(comment))
        .group_by(post.c.rank)
    )
    async with db.read_session() as s:
        with _statements(db) as sent:
            page = await paginate_offset(
                s, statement, sort=[post.c.rank], limit=2, offset=2, count="window"
            )
        assert len(sent) == 1, sent
        assert page.total == await _exact_total(s, statement) == 5
    # A Core statement of tables reaches no ORM soft-delete hook: every post counts.
    assert [tuple(row) for row in page.items] == [
        (rank, sum(_comments(i) for i in range(1, POSTS + 1) if i % 5 == rank)) for rank in (2, 3)
    ]  # rows of the statement's own two columns, without the total


async def test_selected_columns_come_back_without_the_total(db: Database) -> None:
    await _seed(db)
    async with db.read_session() as s:
        page = await paginate_offset(
            s, select(Post.id, Post.title), sort=[Post.id], limit=3, count="window"
        )
        scalars = await paginate_offset(s, select(Post.title), limit=3, count="window")
    assert [tuple(row) for row in page.items] == [(1, "post 01"), (2, "post 02"), (4, "post 04")]
    assert page.items[0]._fields == ("id", "title")
    assert scalars.items == ["post 01", "post 02", "post 04"]
    assert page.total == scalars.total == len(VISIBLE)


async def test_for_update_falls_back_to_the_count_query(db: Database) -> None:
    # PostgreSQL: "FOR UPDATE is not allowed with window functions".
    await _seed(db)
    async with db.session() as s:
        posts = PostRepository(s)
        with _statements(db) as sent:
            page = await posts.list(
                sort="rank",
                with_for_update=True,
                page=OffsetPagination(limit=3, offset=3, count="window"),
            )
        assert page.total == await posts.count() == len(VISIBLE)
    selects = [sql for sql in sent if sql.startswith("SELECT")]  # not SQLite's BEGIN
    assert not any("over (" in sql.lower() for sql in selects), selects
    assert len(selects) == 2, selects


async def test_distinct_is_refused(db: Database) -> None:
    await _seed(db)
    statement = select(Post).join(Post.comments).distinct()
    async with db.read_session() as s:
        with pytest.raises(ValueError, match=r"count='window' cannot count a DISTINCT statement"):
            await paginate_offset(s, statement, limit=3, count="window")
        page = await paginate_offset(s, statement, limit=3, count="exact")
    assert page.total == sum(1 for i in VISIBLE if _comments(i))


async def test_keyset_refuses_window(db: Database) -> None:
    await _seed(db)
    signer = CursorSigner("window-count-tests-secret-0123456")
    message = r"count='window' does not work with keyset pagination"
    async with db.read_session() as s:
        with pytest.raises(ValueError, match=message):
            await paginate_keyset(s, select(Post), limit=3, count="window", signer=signer)
        with pytest.raises(ValueError, match=message):
            await PostRepository(s).list(
                page=KeysetPagination(limit=3, count="window", signer=signer)
            )
