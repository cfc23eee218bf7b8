"""Repository reads: the order they ask for, the plan it gets, and what a page's count selects.

The primary key breaks ties in the direction of the last sort key, so that
``sort="-created_at"`` is ``ORDER BY created_at DESC, id DESC``: one direction,
which a plain btree index on ``(created_at, id)`` serves by scanning it
backward, with no sort. A page's exact count selects the primary key only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ForeignKey, Index, MetaData, String, Text, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

from asqla import Database
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
)
from asqla.repository import (
    Criterion,
    FilterSpec,
    KeysetPagination,
    OffsetPagination,
    Page,
    Repository,
)
from asqla.repository.pagination import CountStrategy, CursorSigner, paginate_offset

SIGNER = CursorSigner("repository-read-tests-secret-0123")
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INDEX = "ix_entry_created_at_id"


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Entry(BigIntPrimaryKey, Timestamps, SoftDelete, Model):
    __tablename__ = "entry"
    __table_args__ = (Index(INDEX, "created_at", "id"),)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int | None]
    marks: Mapped[list[Mark]] = relationship()


class Mark(BigIntPrimaryKey, Model):
    __tablename__ = "mark"
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id"))
    name: Mapped[str] = mapped_column(String(20))


class EntryRepository(Repository[Entry]):
    filters = FilterSpec(score=["ge", "is_null"], title=["contains"])
    sortable = ("created_at", "score", "title")


def _rows(count: int, *, deleted_every: int = 0) -> list[dict[str, Any]]:
    """Rows whose ``created_at`` repeat (ties for the id to break) out of id order."""
    minutes = max(count // 3, 1)
    return [
        {
            "id": i,
            "title": f"entry {i:04}",
            "body": "text " * 20,
            "score": None if i % 5 == 0 else i % 4,
            "created_at": BASE + timedelta(minutes=(i * 7) % minutes),
            "deleted_at": BASE if deleted_every and i % deleted_every == 0 else None,
        }
        for i in range(1, count + 1)
    ]


async def _seed(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        await s.execute(insert(Entry), list(rows))


def _expected(rows: Sequence[dict[str, Any]], sort: str) -> list[int]:
    """Ids in the order of ``sort``: NULLs smallest, then the id in the last key's direction."""
    keys = [(name.removeprefix("-"), name.startswith("-")) for name in sort.split(",")]
    ordered = sorted(rows, key=lambda row: row["id"], reverse=keys[-1][1])
    for name, descending in reversed(keys):
        ordered = sorted(ordered, key=_nulls_smallest(name), reverse=descending)
    return [row["id"] for row in ordered]


def _nulls_smallest(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda row: (0, 0) if row[name] is None else (1, row[name])


class _Recording:
    """The statements (SQL and parameters) sent to the database while the ``with`` block runs."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.statements: list[tuple[str, Any]] = []

    def __enter__(self) -> _Recording:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))

    def only(self, word: str) -> tuple[str, Any]:
        found = [item for item in self.statements if word in item[0].lower()]
        assert len(found) == 1, [sql for sql, _ in self.statements]
        return found[0]


# -- the tiebreaker follows the last key -----------------------------------------------


async def test_a_descending_sort_breaks_ties_descending(db: Database) -> None:
    rows = _rows(30)
    await _seed(db, rows)
    async with db.read_session() as s:
        repo = EntryRepository(s)
        with _Recording(db) as recording:
            newest = await repo.list(sort="-created_at")
        oldest = await repo.list(sort="created_at")
        trusted = await repo.list(sort=[Entry.created_at.desc()])
        pages = [
            await repo.list(sort="-created_at", page=OffsetPagination(limit=7, offset=offset))
            for offset in range(0, 30, 7)
        ]

    sql, _ = recording.only("select")
    assert re.search(r"ORDER BY entry\.created_at DESC, entry\.id DESC\s*$", sql), sql
    assert [e.id for e in newest] == _expected(rows, "-created_at")
    assert [e.id for e in trusted] == _expected(rows, "-created_at")
    assert [e.id for e in oldest] == _expected(rows, "created_at")
    assert [e.id for page in pages for e in page.items] == _expected(rows, "-created_at")


async def test_a_sort_naming_the_key_gets_no_second_tiebreaker(db: Database) -> None:
    rows = _rows(9)
    await _seed(db, rows)
    async with db.read_session() as s:
        with _Recording(db) as recording:
            page = await EntryRepository(s).list(
                sort=[Entry.id.desc().nulls_last()], page=OffsetPagination(limit=20)
            )
    sql, _ = recording.only("select")
    assert sql.count("entry.id DESC") == 1 and "entry.id ASC" not in sql, sql
    assert [e.id for e in page.items] == list(range(9, 0, -1))


async def _walk(
    repo: EntryRepository, sort: str, limit: int
) -> tuple[list[Page[Entry]], list[Page[Entry]]]:
    """Every page forward from the first, then every page backward from the last."""
    forward = [await repo.list(sort=sort, page=KeysetPagination(limit=limit, signer=SIGNER))]
    while isinstance(forward[-1].next, str):
        after = forward[-1].next
        page = KeysetPagination(limit=limit, after=after, signer=SIGNER)
        forward.append(await repo.list(sort=sort, page=page))
    backward = [forward[-1]]
    while isinstance(backward[-1].previous, str):
        before = backward[-1].previous
        page = KeysetPagination(limit=limit, before=before, signer=SIGNER)
        backward.append(await repo.list(sort=sort, page=page))
    return forward, backward


def _ids(pages: Sequence[Page[Entry]]) -> list[list[int]]:
    return [[entry.id for entry in page.items] for page in pages]


@pytest.mark.parametrize(
    "sort",
    [
        pytest.param("-created_at", id="-created_at"),
        pytest.param("score,-created_at", id="nullable-first-then-descending"),
        pytest.param("-score", id="-nullable"),
        pytest.param("-score,title", id="ascending-last"),
        pytest.param("title,-score,-created_at", id="mixed-descending-last"),
    ],
)
@pytest.mark.parametrize("limit", [1, 4])
async def test_keyset_walks_every_row_once_with_the_tiebreaker_in_the_last_keys_direction(
    db: Database, sort: str, limit: int
) -> None:
    rows = _rows(23)
    await _seed(db, rows)
    async with db.read_session() as s:
        forward, backward = await _walk(EntryRepository(s), sort, limit)

    assert [row_id for page in _ids(forward) for row_id in page] == _expected(rows, sort)
    assert _ids(backward) == _ids(forward)[::-1]
    assert forward[0].previous is None and backward[-1].previous is None


async def test_keyset_walk_is_exact_while_rows_tie_with_the_cursor(db: Database) -> None:
    # Between pages, another transaction commits rows with the created_at of
    # the cursor row and ids on both sides of it: the tie the id must break.
    rows = [{**row, "id": 1000 + 10 * row["id"]} for row in _rows(24)]
    await _seed(db, rows)
    pre_existing = {row["id"] for row in rows}
    used = set(pre_existing)
    seen: list[Entry] = []
    cursor: str | None = None
    for _ in range(50):
        async with db.read_session() as s:
            page = KeysetPagination(limit=5, after=cursor, signer=SIGNER)
            current = await EntryRepository(s).list(sort="-created_at", page=page)
        seen += current.items
        if not isinstance(current.next, str):
            break
        cursor = current.next
        edge = current.items[-1]
        below = next(i for i in range(edge.id - 1, 0, -1) if i not in used)
        above = next(i for i in range(edge.id + 1, 10**6) if i not in used)
        used.update((below, above))
        async with db.session() as s:
            await s.execute(
                insert(Entry),
                [
                    {"id": row_id, "title": "new", "created_at": edge.created_at}
                    for row_id in (below, above)
                ],
            )
    else:
        pytest.fail("the walk did not end")

    ids = [entry.id for entry in seen]
    assert len(ids) == len(set(ids)), "a row came back twice"
    assert pre_existing <= set(ids), f"rows skipped: {sorted(pre_existing - set(ids))}"
    keys = [(entry.created_at, entry.id) for entry in seen]
    assert keys == sorted(keys, reverse=True)
    assert len(ids) > len(pre_existing)  # rows inserted before the cursor came back too


# -- the plans: an index on (created_at, id) serves the order --------------------------


PLAN_ROWS = 3000


async def _statements_of_newest_first(db: Database, session: AsyncSession) -> dict[str, Any]:
    """The SQL (and parameters) of each way the repository reads ``sort="-created_at"``."""
    repo = EntryRepository(session)
    found: dict[str, Any] = {}

    async def capture(name: str, page: OffsetPagination | KeysetPagination) -> Page[Entry]:
        with _Recording(db) as recording:
            result = await repo.list(Entry.score.is_not(None), sort="-created_at", page=page)
        found[name] = recording.statements[0]
        return result

    first = await capture("keyset first page", page=KeysetPagination(limit=20, signer=SIGNER))
    assert isinstance(first.next, str)
    second = await capture(
        "keyset next page", page=KeysetPagination(limit=20, after=first.next, signer=SIGNER)
    )
    assert isinstance(second.previous, str)
    await capture(
        "keyset previous page",
        page=KeysetPagination(limit=20, before=second.previous, signer=SIGNER),
    )
    await capture("offset page", page=OffsetPagination(limit=20, offset=40, count="none"))
    return found


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


@pytest.mark.backends("postgresql")
async def test_postgresql_scans_the_index_backward_without_sorting(db: Database) -> None:
    await _seed(db, _rows(PLAN_ROWS))
    async with db.session() as s:
        await s.execute(text("ANALYZE entry"))
        # Left to costs, a page whose range holds few rows (the page before
        # the second) may be read by a bitmap scan and sorted, which is cheap
        # either way. Without the full and bitmap scans the planner has only
        # the index: in order, or (for an order it cannot serve) with a sort.
        await s.execute(text("SET LOCAL enable_seqscan = off"))
        await s.execute(text("SET LOCAL enable_bitmapscan = off"))
        statements = await _statements_of_newest_first(db, s)
        with _Recording(db) as recording:
            await EntryRepository(s).list(Entry.score.is_not(None), sort="-created_at")
        statements["list"] = recording.statements[0]
        connection = await s.connection()
        for name, (sql, parameters) in statements.items():
            result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", parameters)
            document = result.scalar_one()
            plan = json.loads(document) if isinstance(document, str) else document
            nodes = list(_nodes(plan[0]["Plan"]))
            shown = [(node["Node Type"], node.get("Scan Direction")) for node in nodes]
            assert not [n for n in nodes if "Sort" in n["Node Type"]], (name, shown)
            scans = [n for n in nodes if n.get("Index Name") == INDEX]
            direction = "Forward" if name == "keyset previous page" else "Backward"
            assert [n["Scan Direction"] for n in scans] == [direction], (name, shown)


@pytest.mark.backends("mysql")
async def test_mariadb_reads_the_index_in_order_without_a_filesort(db: Database) -> None:
    await _seed(db, _rows(PLAN_ROWS))
    async with db.session() as s:
        connection = await s.connection()
        await connection.exec_driver_sql("ANALYZE TABLE entry")
        # Pages only: for a whole table (list() without a page), MariaDB
        # rightly prefers a full scan and a filesort to thousands of lookups
        # through the index, whatever the order; a LIMIT tips it to the index.
        statements = await _statements_of_newest_first(db, s)
        for name, (sql, parameters) in statements.items():
            result = await connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)
            plan = [dict(row._mapping) for row in result]
            shown = [(row["table"], row["key"], row["Extra"]) for row in plan]
            assert not any("filesort" in (row["Extra"] or "") for row in plan), (name, shown)
            assert [row["key"] for row in plan] == [INDEX], (name, shown)


# -- the count of an offset page -------------------------------------------------------


def _count_columns(sql: str) -> str:
    """The select list of the subquery that ``COUNT(*)`` counts."""
    found = re.search(r"FROM \(SELECT (.*?)\s+FROM\s", sql, flags=re.DOTALL)
    assert found, sql
    return found.group(1)


def _assert_counts_the_key_only(sql: str) -> None:
    columns = _count_columns(sql)
    assert re.search(r"\bid\b", columns), sql
    others = [c.name for c in Entry.__table__.columns if c.name != "id"]
    assert [name for name in others if re.search(rf"\b{name}\b", columns)] == [], sql
    assert "ORDER BY" not in sql and "FOR UPDATE" not in sql, sql


COUNTS: tuple[CountStrategy, ...] = ("exact", "estimate")


@pytest.mark.parametrize("include_deleted", [False, True], ids=["visible", "include-deleted"])
async def test_page_count_selects_the_key_only_and_stays_right(
    db: Database, include_deleted: bool
) -> None:
    rows = _rows(40, deleted_every=3)
    await _seed(db, rows)
    live = [row for row in rows if include_deleted or row["deleted_at"] is None]
    async with db.session() as s:
        repo = EntryRepository(s, include_deleted=include_deleted)
        filters = repo.parse_filters({"score__ge": "1", "title__contains": "entry 00"})
        cases: list[tuple[tuple[Criterion, ...], int]] = [
            ((), len(live)),
            ((filters,), sum(1 for r in live if (r["score"] or 0) >= 1 and r["id"] < 100)),
            ((Entry.score.is_(None),), sum(1 for r in live if r["score"] is None)),
        ]
        for criteria, expected in cases:
            for count in COUNTS:
                with _Recording(db) as recording:
                    page = await repo.list(
                        *criteria,
                        sort="-created_at",
                        load=[selectinload(Entry.marks)],
                        with_for_update=True,
                        page=OffsetPagination(limit=2, offset=1, count=count),
                    )
                assert page.total == expected == await repo.count(*criteria), (criteria, count)
                sql, _ = recording.only("count(")
                _assert_counts_the_key_only(sql)


async def test_count_of_a_distinct_join_with_eager_loads(db: Database) -> None:
    rows = _rows(12, deleted_every=4)
    await _seed(db, rows)
    marks = [
        {"entry_id": row["id"], "name": name}
        for row in rows
        for name in ("a", "b", "c")[: row["id"] % 4]
    ]
    async with db.session() as s:
        await s.execute(insert(Mark), marks)
    marked = {m["entry_id"] for m in marks if m["name"] in ("a", "b")}
    visible = {row["id"] for row in rows if row["deleted_at"] is None}
    statement = (
        select(Entry)
        .join(Entry.marks)
        .where(Mark.name.in_(["a", "b"]))
        .distinct()
        .options(joinedload(Entry.marks))
    )
    async with db.read_session() as s:
        with _Recording(db) as recording:
            page = await paginate_offset(
                s, statement, sort=[Entry.created_at.desc()], limit=2, count="exact"
            )
    assert page.total == len(marked & visible)
    assert {entry.id for entry in page.items} <= marked & visible
    sql, _ = recording.only("count(")
    assert re.search(r"^DISTINCT\b", _count_columns(sql)), sql
    _assert_counts_the_key_only(sql)


# -- unpaged reads order NULLs as pages do, on every backend ---------------------------------


@pytest.mark.parametrize("sort", ["score", "-score", "-score,title", "title,-score"])
async def test_unpaged_reads_put_nulls_where_pages_do(db: Database, sort: str) -> None:
    rows = _rows(25)
    await _seed(db, rows)

    async with db.session() as s:
        repo = EntryRepository(s)
        listed = [entry.id for entry in await repo.list(sort=sort)]
        paged = await repo.list(sort=sort, page=OffsetPagination(limit=25))
        async with repo.stream(sort=sort) as stream:
            streamed = [entry.id async for entry in stream]

    assert listed == _expected(rows, sort)  # PostgreSQL alone would put NULLs first on -score
    assert [entry.id for entry in paged.items] == listed
    assert streamed == listed


async def test_nulls_last_works_on_every_backend(db: Database) -> None:
    # MariaDB and MySQL have no NULLS LAST: asqla sorts on IS NULL first.
    rows = _rows(20)
    await _seed(db, rows)

    async with db.session() as s:
        listed = await EntryRepository(s).list(sort=[Entry.score.asc().nulls_last()])

    scores = [entry.score for entry in listed]
    assert scores == sorted(s for s in scores if s is not None) + [None] * scores.count(None)
    assert scores.count(None) == 4


async def test_a_one_row_read_has_no_order_by(db: Database) -> None:
    await _seed(db, _rows(3))

    async with db.session() as s:
        with _Recording(db) as recording:
            found = await EntryRepository(s).get_by(
                title="entry 0002", load=[selectinload(Entry.marks)]
            )

    assert found.id == 2
    entry_sql = [sql for sql, _ in recording.statements if "FROM entry" in sql]
    assert len(entry_sql) == 1 and "ORDER BY" not in entry_sql[0], entry_sql
