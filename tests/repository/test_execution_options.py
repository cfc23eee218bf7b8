"""Repository reads take SQLAlchemy execution options, as ``AsyncSession.execute`` does.

Each read applies them to every statement it runs (a page's count and
PostgreSQL estimate, eager loads), they have their effect
(``populate_existing``, ``schema_translate_map``), and asqla's own options
win where they carry a guarantee: a locking read refreshes, and no option
shows soft-deleted rows to a repository that hides them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import ForeignKey, MetaData, String, event, insert, update
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, mapped_column, relationship
from sqlalchemy.orm import selectinload as selectin

from asqla import Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey, SoftDelete
from asqla.repository import KeysetPagination, OffsetPagination, Repository
from asqla.repository.pagination import PageOptions

MARK = {"asqla_test_marker": "seen"}
"""An option of the caller's own, as a ``do_orm_execute`` hook of theirs would read."""


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Item(BigIntPrimaryKey, SoftDelete, Model):
    __tablename__ = "item"
    name: Mapped[str] = mapped_column(String(50))
    tags: Mapped[list[Tag]] = relationship()


class Tag(BigIntPrimaryKey, Model):
    __tablename__ = "tag"
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    label: Mapped[str] = mapped_column(String(20))


class ItemRepository(Repository[Item]):
    pass


LIVE = [1, 2, 3, 4, 5]
GONE = datetime(2024, 1, 1, tzinfo=UTC)
DELETED = [6, 7]


async def _seed(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        await s.execute(
            insert(Item),
            [
                {"id": i, "name": f"item {i}", "deleted_at": None if i in LIVE else GONE}
                for i in LIVE + DELETED
            ],
        )
        await s.execute(insert(Tag), [{"item_id": i, "label": f"tag {i}"} for i in LIVE])


@contextmanager
def _options_seen(session: AsyncSession) -> Iterator[list[dict[str, Any]]]:
    """The execution options of each statement ``session`` runs in the ``with`` block."""
    seen: list[dict[str, Any]] = []

    def record(state: ORMExecuteState) -> None:
        seen.append(dict(state.execution_options))

    event.listen(session.sync_session, "do_orm_execute", record)
    try:
        yield seen
    finally:
        event.remove(session.sync_session, "do_orm_execute", record)


async def _streamed(repo: ItemRepository, **options: Any) -> list[Item]:
    async with repo.stream(**options) as rows:
        return [row async for row in rows]


Read = Callable[[ItemRepository, Mapping[str, Any] | None], Awaitable[Any]]

READS = [
    pytest.param(lambda r, o: r.get(2, execution_options=o), 1, id="get"),
    pytest.param(lambda r, o: r.get_or_none(99, execution_options=o), 1, id="get_or_none"),
    pytest.param(
        lambda r, o: r.get(2, load=[selectin(Item.tags)], execution_options=o),
        2,
        id="get-with-an-eager-load",
    ),
    pytest.param(
        lambda r, o: r.get(2, with_for_update=True, execution_options=o), 1, id="get-locking"
    ),
    pytest.param(lambda r, o: r.get_by(name="item 2", execution_options=o), 1, id="get_by"),
    pytest.param(
        lambda r, o: r.get_by_or_none(name="nobody", execution_options=o), 1, id="get_by_or_none"
    ),
    pytest.param(lambda r, o: r.list(execution_options=o), 1, id="list"),
    pytest.param(
        lambda r, o: r.list(load=[selectin(Item.tags)], execution_options=o),
        2,
        id="list-with-an-eager-load",
    ),
    pytest.param(
        lambda r, o: r.list(page=OffsetPagination(limit=2), execution_options=o),
        2,  # the page, then its COUNT
        id="list-offset-page",
    ),
    pytest.param(
        lambda r, o: r.list(page=KeysetPagination(limit=2, count="exact"), execution_options=o),
        2,
        id="list-keyset-page",
    ),
    pytest.param(lambda r, o: r.count(execution_options=o), 1, id="count"),
    pytest.param(lambda r, o: r.exists(execution_options=o), 1, id="exists"),
    pytest.param(lambda r, o: _streamed(r, execution_options=o), 1, id="stream"),
]


@pytest.mark.parametrize(("read", "statements"), READS)
async def test_each_read_passes_the_options_to_every_statement(
    db: Database, read: Read, statements: int
) -> None:
    await _seed(db)
    async with db.session() as s:
        with _options_seen(s) as seen:
            await read(ItemRepository(s), MARK)
    assert len(seen) == statements, seen
    assert all(options.items() >= MARK.items() for options in seen), seen


@pytest.mark.backends("postgresql")
async def test_a_page_estimate_carries_the_options(db: Database) -> None:
    await _seed(db)
    page = KeysetPagination(limit=2, count="estimate", options=PageOptions(exact_count_below=0))
    async with db.session() as s:
        with _options_seen(s) as seen:
            found = await ItemRepository(s).list(page=page, execution_options=MARK)
    assert isinstance(found.total, int)
    assert len(seen) == 2, seen  # the page, then the EXPLAIN probe
    assert [options.get("asqla_explain", False) for options in seen] == [False, True]
    assert all(options.items() >= MARK.items() for options in seen), seen


async def _rename_elsewhere(db: Database, name: str) -> None:
    async with db.session() as other:
        await other.execute(update(Item).where(Item.id == 2).values(name=name))


async def test_populate_existing_refreshes_a_stale_object(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        items = ItemRepository(s)
        held = await items.get(2)
        # A new transaction for the reads below: one under MySQL's REPEATABLE
        # READ would not see the other session's commit otherwise.
        await s.commit()
        await _rename_elsewhere(db, "renamed")

        assert (await items.get(2)).name == "item 2"  # the identity map answers
        assert [i.name for i in await items.list(Item.id == 2)] == ["item 2"]
        assert await items.get_by(name="renamed") is held and held.name == "item 2"

        fresh = await items.get(2, execution_options={"populate_existing": True})
        assert fresh is held and held.name == "renamed"

        await s.commit()
        await _rename_elsewhere(db, "listed")
        listed = await items.list(Item.id == 2, execution_options={"populate_existing": True})
        assert listed == [held] and held.name == "listed"


async def test_a_locking_read_refreshes_whatever_the_options_say(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        items = ItemRepository(s)
        held = await items.get(2)
        await s.commit()
        await _rename_elsewhere(db, "renamed")
        await items.get(2, with_for_update=True, execution_options={"populate_existing": False})
        assert held.name == "renamed"


async def test_schema_translate_map_names_the_schema_in_the_sql(db: Database) -> None:
    await _seed(db)
    sql: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sql.append(statement)

    async with db.session() as s:
        schema = (await s.connection()).dialect.default_schema_name
        assert schema, "the dialect knows its default schema once connected"
        options = {"schema_translate_map": {None: schema}}
        items = ItemRepository(s)
        event.listen(db.engine.sync_engine, "before_cursor_execute", record)
        try:
            listed = await items.list(execution_options=options)
            counted = await items.count(execution_options=options)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert [i.id for i in listed] == LIVE and counted == len(LIVE)
    assert len(sql) == 2
    qualified = re.compile(rf"FROM [`\"]?{re.escape(schema)}[`\"]?\.[`\"]?item\b")
    assert all(qualified.search(statement) for statement in sql), sql


# -- soft delete holds whatever the options ------------------------------------------------

EVERY = LIVE + DELETED

SOFT_READS = [
    # the read, what it shows while deleted rows are hidden, what it shows with them
    pytest.param(lambda r, o: r.count(execution_options=o), 5, 7, id="count"),
    pytest.param(
        lambda r, o: r.exists(Item.id.in_(DELETED), execution_options=o), False, True, id="exists"
    ),
    pytest.param(lambda r, o: r.list(execution_options=o), LIVE, EVERY, id="list"),
    pytest.param(
        lambda r, o: r.list(page=OffsetPagination(limit=2, offset=4), execution_options=o),
        ([5], 5),
        ([5, 6], 7),
        id="list-offset-page",
    ),
    pytest.param(
        lambda r, o: r.list(page=KeysetPagination(limit=2, count="exact"), execution_options=o),
        ([1, 2], 5),
        ([1, 2], 7),
        id="list-keyset-page",
    ),
    pytest.param(lambda r, o: r.get_or_none(6, execution_options=o), None, 6, id="get_or_none"),
    pytest.param(lambda r, o: _streamed(r, execution_options=o), LIVE, EVERY, id="stream"),
]


def _shown(found: Any) -> Any:
    """What a read shows: ids, a page's ids and total, a count or a flag."""
    if isinstance(found, list):
        return [item.id for item in found]
    if isinstance(found, Item):
        return found.id
    if isinstance(found, int | bool | None):
        return found
    return ([item.id for item in found.items], found.total)


@pytest.mark.parametrize(("read", "hidden", "shown"), SOFT_READS)
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(None, id="none"),
        pytest.param({"populate_existing": True, **MARK}, id="populate_existing"),
    ],
)
async def test_soft_deleted_rows_stay_hidden_whatever_the_options(
    db: Database, read: Read, hidden: Any, shown: Any, options: dict[str, Any] | None
) -> None:
    await _seed(db)
    async with db.session() as s:
        assert _shown(await read(ItemRepository(s), options)) == hidden
        assert _shown(await read(ItemRepository(s, include_deleted=True), options)) == shown


@pytest.mark.parametrize(("read", "hidden", "shown"), SOFT_READS)
@pytest.mark.parametrize("include_deleted", [True, False])
async def test_the_include_deleted_option_is_the_repositorys_to_set(
    db: Database, read: Read, hidden: Any, shown: Any, include_deleted: bool
) -> None:
    await _seed(db)
    async with db.session() as s:
        for repo in (ItemRepository(s), ItemRepository(s, include_deleted=True)):
            with _options_seen(s) as seen, pytest.raises(ValueError, match=REFUSED):
                await read(repo, {"include_deleted": include_deleted, **MARK})
            assert seen == []  # refused before any SQL


REFUSED = (
    r"execution_options=\{'include_deleted': (True|False), 'asqla_test_marker': 'seen'\} sets "
    r"'include_deleted', which a repository sets itself, so that soft-deleted Item rows stay "
    r"hidden from every read and every count\. Leave it out, and make the repository with "
    r"include_deleted=True to see them: YourRepository\(session, include_deleted=True\)\."
)
