"""Offset and keyset pagination on real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, MetaData, Numeric, String, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship

from asqla import Database, InvalidCursorError, InvalidQueryError
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
    UUIDPrimaryKey,
)
from asqla.repository.pagination import (
    CursorSigner,
    Page,
    PageOptions,
    SortKey,
    paginate_keyset,
    paginate_offset,
)

SIGNER = CursorSigner("pagination-tests-secret-0123456789")


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Event(BigIntPrimaryKey, Model):
    __tablename__ = "event"
    rank: Mapped[int]
    label: Mapped[str | None] = mapped_column(String(60))


class Note(UUIDPrimaryKey, Timestamps, Model):
    __tablename__ = "note"
    score: Mapped[Decimal] = mapped_column(Numeric(10, 2))


class Post(BigIntPrimaryKey, SoftDelete, Model):
    __tablename__ = "post"
    rank: Mapped[int]
    comments: Mapped[list[Comment]] = relationship()


class Comment(BigIntPrimaryKey, Model):
    __tablename__ = "comment"
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"))


LABELS = [None, "a", "b", "c", None, "b"]
ROWS = [{"id": i, "rank": i % 4, "label": LABELS[i % len(LABELS)]} for i in range(1, 24)]


async def _seed_events(db: Database, rows: Sequence[dict[str, Any]] = ROWS) -> None:
    await db.create_all(Model.metadata)
    if rows:
        async with db.session() as s:
            await s.execute(insert(Event), list(rows))


def _expected(rows: Sequence[dict[str, Any]], spec: Sequence[tuple[str, bool, bool]]) -> list[int]:
    """Row ids in the order ``spec`` asks for, with NULL placement and the id tie-breaker."""
    tie_descending = spec[-1][1] if spec else False
    ordered = sorted(rows, key=lambda row: row["id"], reverse=tie_descending)
    for name, descending, nulls_first in reversed(spec):
        null_flag = int(nulls_first) if descending else int(not nulls_first)

        def key(row: dict[str, Any], name: str = name, flag: int = null_flag) -> tuple[Any, ...]:
            value = row[name]
            if value is None:
                return (flag,)
            return (1 - flag, value.lower() if name == "lower" else value)

        if name == "lower":
            ordered = sorted(
                ordered, key=lambda r, k=key: k({**r, "lower": r["label"]}), reverse=descending
            )
        else:
            ordered = sorted(ordered, key=key, reverse=descending)
    return [row["id"] for row in ordered]


# (sort keys, the same for _expected: (column, descending, nulls_first))
SORTS = [
    pytest.param([], [], id="primary-key"),
    pytest.param([Event.rank], [("rank", False, True)], id="rank"),
    pytest.param([Event.rank.desc()], [("rank", True, False)], id="-rank"),
    pytest.param(
        [Event.rank, Event.label.desc()],
        [("rank", False, True), ("label", True, False)],
        id="rank,-label",
    ),
    pytest.param(
        [Event.rank.desc(), Event.label],
        [("rank", True, False), ("label", False, True)],
        id="-rank,label",
    ),
    pytest.param([Event.label], [("label", False, True)], id="label"),
    pytest.param([Event.label.desc()], [("label", True, False)], id="-label"),
    pytest.param(
        [Event.label.asc().nulls_last()], [("label", False, False)], id="label-nulls-last"
    ),
    pytest.param(
        [Event.label.desc().nulls_first()], [("label", True, True)], id="-label-nulls-first"
    ),
    pytest.param([func.lower(Event.label)], [("lower", False, True)], id="lower(label)"),
    pytest.param([Event.id.desc()], [("id", True, False)], id="-id"),
]


async def _walk(
    db: Database,
    statement: Any,
    sort: Sequence[SortKey],
    limit: int,
    **options: Any,
) -> tuple[list[Page[Any]], list[Page[Any]]]:
    """Every page forward from the first, then every page back from the last."""
    forward: list[Page[Any]] = []
    cursor: Any = None
    for _ in range(200):
        async with db.read_session() as s:
            page = await paginate_keyset(
                s, statement, sort=sort, limit=limit, after=cursor, signer=SIGNER, **options
            )
        forward.append(page)
        if page.next is None:
            break
        cursor = page.next
    else:
        pytest.fail("the forward walk did not end")
    backward = [forward[-1]]
    for _ in range(200):
        if backward[-1].previous is None:
            break
        async with db.read_session() as s:
            page = await paginate_keyset(
                s,
                statement,
                sort=sort,
                limit=limit,
                before=backward[-1].previous,
                signer=SIGNER,
                **options,
            )
        backward.append(page)
    else:
        pytest.fail("the backward walk did not end")
    return forward, backward


def _ids(pages: Sequence[Page[Any]]) -> list[list[Any]]:
    return [[item.id for item in page.items] for page in pages]


@pytest.mark.parametrize("limit", [1, 4])
@pytest.mark.parametrize(("sort", "spec"), SORTS)
async def test_keyset_walks_every_row_once_forward_and_backward(
    db: Database, sort: list[SortKey], spec: list[tuple[str, bool, bool]], limit: int
) -> None:
    await _seed_events(db)
    forward, backward = await _walk(db, select(Event), sort, limit)

    walked = [row_id for page in _ids(forward) for row_id in page]
    assert walked == _expected(ROWS, spec)
    assert _ids(backward) == _ids(forward)[::-1]  # the same pages, in the natural order
    assert forward[0].previous is None and forward[-1].next is None
    assert backward[-1].previous is None
    assert all(len(page.items) == limit for page in forward[:-1])
    assert all(page.total is None and page.limit == limit for page in forward)


async def test_keyset_counts_when_asked(db: Database) -> None:
    await _seed_events(db)
    forward, _ = await _walk(db, select(Event), [Event.rank], 5, count="exact")
    assert {page.total for page in forward} == {len(ROWS)}
    one_page, _ = await _walk(db, select(Event), [Event.rank], 100, count="exact")
    assert len(one_page) == 1 and one_page[0].total == len(ROWS)


async def test_keyset_uuid_timestamps_and_decimals(db: Database) -> None:
    await db.create_all(Model.metadata)
    scores = [Decimal("1.50"), Decimal("-2.25"), Decimal("1.50")]
    for batch in range(3):  # one transaction each: created_at repeats within a batch
        async with db.session() as s:
            s.add_all(Note(score=scores[(batch + i) % 3]) for i in range(9))
    async with db.read_session() as s:
        notes = (await s.scalars(select(Note))).all()

    sort: list[SortKey] = [Note.score, Note.created_at.desc()]
    forward, backward = await _walk(db, select(Note), sort, 4)

    walked = [item for page in forward for item in page.items]
    assert sorted(n.id for n in walked) == sorted(n.id for n in notes)
    assert len({n.id for n in walked}) == len(notes) == 27
    keys = [(n.score, -n.created_at.timestamp()) for n in walked]
    assert keys == sorted(keys)
    assert _ids(backward) == _ids(forward)[::-1]


@pytest.mark.parametrize("direction", ["forward", "backward"])
async def test_walk_is_exact_while_another_task_inserts(db: Database, direction: str) -> None:
    # Ids 1000, 1010, ... leave room for new rows on both sides of every
    # existing one: their sort values repeat those next to the cursor.
    rows = [{"id": 1000 + 10 * i, "rank": i % 3, "label": "x"} for i in range(30)]
    await _seed_events(db, rows)
    pre_existing = {row["id"] for row in rows}
    sort: list[SortKey] = [Event.rank.desc(), Event.label]
    positions: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    inserted: asyncio.Queue[None] = asyncio.Queue()
    new_ids: list[int] = []
    used = set(pre_existing)

    async def writer() -> None:
        while (position := await positions.get()) is not None:
            rank, row_id = position
            below = next(i for i in range(row_id - 1, 0, -1) if i not in used)
            above = next(i for i in range(row_id + 1, 10**6) if i not in used)
            batch = [  # just before and just after the cursor row, then elsewhere
                {"id": below, "rank": rank, "label": "x"},
                {"id": above, "rank": rank, "label": "x"},
                {"id": 5000 + len(new_ids), "rank": rank + 1, "label": "x"},
                {"id": 6000 + len(new_ids), "rank": max(rank - 1, 0), "label": "w"},
            ]
            used.update(row["id"] for row in batch)
            async with db.session() as s:
                await s.execute(insert(Event), batch)
            new_ids.extend(row["id"] for row in batch)
            inserted.put_nowait(None)

    async def page(cursor: str | None) -> Page[Event]:
        async with db.read_session() as s:
            if direction == "forward":
                return await paginate_keyset(
                    s, select(Event), sort=sort, limit=4, after=cursor, signer=SIGNER
                )
            return await paginate_keyset(
                s, select(Event), sort=sort, limit=4, before=cursor, signer=SIGNER
            )

    async def walker(first: Page[Event]) -> list[Event]:
        seen, current = list(first.items), first
        for _ in range(100):
            edge = current.items[-1] if direction == "forward" else current.items[0]
            positions.put_nowait((edge.rank, edge.id))
            await inserted.get()  # the other task has committed new rows
            cursor = current.next if direction == "forward" else current.previous
            if cursor is None:
                break
            current = await page(cursor)
            if direction == "forward":
                seen.extend(current.items)
            else:
                seen[:0] = current.items
        positions.put_nowait(None)
        return seen

    if direction == "forward":
        first = await page(None)
    else:  # a backward walk starts from the last page
        forward, _ = await _walk(db, select(Event), sort, 4)
        first = forward[-1]
    _, seen = await asyncio.gather(writer(), walker(first))

    ids = [event.id for event in seen]
    assert len(ids) == len(set(ids)), "a row came back twice"
    assert pre_existing <= set(ids), f"rows skipped: {sorted(pre_existing - set(ids))}"
    assert new_ids, "the writer never ran"
    keys = [(-event.rank, event.label, event.id) for event in seen]
    assert keys == sorted(keys)


async def test_walk_is_exact_while_another_task_inserts_freely(db: Database) -> None:
    # No hand-over this time: the writer commits batch after batch while the
    # walker pages, and they interleave wherever the event loop switches.
    rows = [{"id": i, "rank": i % 5, "label": LABELS[i % len(LABELS)]} for i in range(1, 61)]
    await _seed_events(db, rows)
    sort: list[SortKey] = [Event.label, Event.rank.desc()]
    walking = asyncio.Event()
    walking.set()
    batches: list[int] = []

    async def writer() -> None:
        next_id = 1000
        while walking.is_set():
            batch = [
                {"id": next_id + i, "rank": (next_id + i) % 5, "label": LABELS[i % len(LABELS)]}
                for i in range(3)
            ]
            next_id += 3
            async with db.session() as s:
                await s.execute(insert(Event), batch)
            batches.append(len(batch))
            await asyncio.sleep(0)

    async def walker() -> list[Event]:
        try:
            forward, _ = await _walk(db, select(Event), sort, 3)
        finally:
            walking.clear()
        return [event for page in forward for event in page.items]

    _, seen = await asyncio.gather(writer(), walker())

    ids = [event.id for event in seen]
    assert len(ids) == len(set(ids)), "a row came back twice"
    assert {row["id"] for row in rows} <= set(ids)
    assert len(batches) > 1, "the writer did not run during the walk"
    spec = [("label", False, True), ("rank", True, False)]
    by_id = {event.id: {"id": event.id, "rank": event.rank, "label": event.label} for event in seen}
    assert ids == _expected(list(by_id.values()), spec)


async def _first_cursor(db: Database, statement: Any, sort: Sequence[SortKey]) -> str:
    async with db.read_session() as s:
        page = await paginate_keyset(s, statement, sort=sort, limit=2, signer=SIGNER)
    assert isinstance(page.next, str)
    return page.next


async def _keyset(db: Database, statement: Any, sort: Sequence[SortKey], **kw: Any) -> Page[Any]:
    async with db.read_session() as s:
        return await paginate_keyset(s, statement, sort=sort, limit=2, **{"signer": SIGNER, **kw})


def _flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        pytest.param(lambda t: _flip(t, len(t) // 2), "invalid signature", id="tampered"),
        pytest.param(lambda t: _flip(t, 3), "invalid signature", id="tampered-payload-start"),
        pytest.param(lambda t: t[:-4], "invalid signature", id="truncated"),
        pytest.param(lambda t: t[:20], "invalid signature", id="truncated-to-prefix"),
        pytest.param(lambda t: t + "AAAA", "invalid signature", id="extended"),
        pytest.param(lambda t: t[:-1], "malformed", id="truncated-one-char"),
        pytest.param(lambda t: "", "malformed", id="empty"),
        pytest.param(lambda t: "not a cursor", "malformed", id="garbage"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/") + "==", "malformed", id="b64"),
        pytest.param(lambda t: "A" * 5000, r"too long \(5000 characters\)", id="huge"),
    ],
)
async def test_damaged_cursors_are_refused(
    db: Database, mangle: Callable[[str], str], message: str
) -> None:
    await _seed_events(db)
    cursor = await _first_cursor(db, select(Event), [Event.rank])
    with pytest.raises(InvalidCursorError, match=message) as caught:
        await _keyset(db, select(Event), [Event.rank], after=mangle(cursor))
    assert isinstance(caught.value, InvalidQueryError)  # -> HTTP 400
    with pytest.raises(InvalidCursorError, match=message):
        await _keyset(db, select(Event), [Event.rank], before=mangle(cursor))


async def test_cursor_signed_with_another_secret_is_refused(db: Database) -> None:
    await _seed_events(db)
    cursor = await _first_cursor(db, select(Event), [Event.rank])
    other = CursorSigner("another-service-secret-0123456789")
    with pytest.raises(InvalidCursorError, match=r"signed with another secret .*ASQLA_CURSOR"):
        await _keyset(db, select(Event), [Event.rank], after=cursor, signer=other)
    # Rotation: the old secret is still accepted next to the new one.
    rotated = CursorSigner("a-brand-new-secret-0123456789abc", previous=[SIGNER_SECRET])
    page = await _keyset(db, select(Event), [Event.rank], after=cursor, signer=rotated)
    assert [e.id for e in page.items] == _expected(ROWS, [("rank", False, True)])[2:4]


SIGNER_SECRET = "pagination-tests-secret-0123456789"


@pytest.mark.parametrize(
    ("sort", "statement"),
    [
        pytest.param([Event.rank.desc()], select(Event), id="other-direction"),
        pytest.param([Event.label], select(Event), id="other-column"),
        pytest.param([Event.rank, Event.label], select(Event), id="longer-sort"),
        pytest.param([Event.rank.nulls_last()], select(Event), id="other-nulls"),
        pytest.param([Event.rank], select(Event).where(Event.rank > 0), id="other-filter"),
        pytest.param([Event.rank], select(Event.id, Event.rank), id="other-columns"),
        pytest.param([Note.score], select(Note), id="other-table"),
    ],
)
async def test_cursor_from_another_query_or_sort_is_refused(
    db: Database, sort: list[SortKey], statement: Any
) -> None:
    await _seed_events(db)
    cursor = await _first_cursor(db, select(Event), [Event.rank])
    with pytest.raises(InvalidCursorError, match="issued for a different query or sort order"):
        await _keyset(db, statement, sort, after=cursor)


async def test_cursor_survives_other_parameter_values(db: Database) -> None:
    # Bound to the query's shape, not its values: a filter on "now" keeps working.
    await _seed_events(db)
    cursor = await _first_cursor(db, select(Event).where(Event.id > 1), [Event.rank])
    page = await _keyset(db, select(Event).where(Event.id > 2), [Event.rank], after=cursor)
    assert page.items


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE event; --",
    'a" OR 1=1 --',
    "\\'; SELECT 1; --",
    "\n%_\\",
]


async def test_sort_values_that_look_like_sql_are_only_data(db: Database) -> None:
    rows = [{"id": i, "rank": 0, "label": label} for i, label in enumerate(INJECTIONS * 3, 1)]
    await _seed_events(db, rows)
    forward, backward = await _walk(db, select(Event), [Event.label, Event.rank.desc()], 2)
    walked = [row_id for page in _ids(forward) for row_id in page]
    assert sorted(walked) == [row["id"] for row in rows]
    assert _ids(backward) == _ids(forward)[::-1]
    async with db.read_session() as s:
        assert await s.scalar(select(func.count()).select_from(Event)) == len(rows)


@pytest.mark.parametrize(
    "forged",
    [
        # JSON a client might try to slip in, base64url-encoded but unsigned.
        pytest.param('[1,"0000000000000000",["1 OR 1=1"]]', id="sql-in-value"),
        pytest.param('[1,"0000000000000000",[{"dt":"now()"}]]', id="sql-in-typed-value"),
        pytest.param('{"rank":"0) OR (1=1"}', id="field-names"),
    ],
)
async def test_forged_cursors_never_reach_sql(db: Database, forged: str) -> None:
    import base64

    await _seed_events(db)
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", _recorder(statements))
    token = base64.urlsafe_b64encode(forged.encode() + b"\0" * 32).rstrip(b"=").decode()
    with pytest.raises(InvalidCursorError, match="invalid signature"):
        await _keyset(db, select(Event), [Event.rank], after=token)
    assert not any("event" in sql for sql in statements)


def _recorder(statements: list[str]) -> Callable[..., None]:
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    return record


async def test_both_directions_at_once_is_refused(db: Database) -> None:
    await _seed_events(db)
    cursor = await _first_cursor(db, select(Event), [Event.rank])
    with pytest.raises(InvalidQueryError, match="Both `after` and `before` were given"):
        await _keyset(db, select(Event), [Event.rank], after=cursor, before=cursor)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        pytest.param(101, r"limit=101 is above the largest page size, 100\.", id="above-cap"),
        pytest.param(0, r"limit=0 is not a page size\. Ask for between 1 and 100", id="zero"),
        pytest.param(-5, r"limit=-5 is not a page size", id="negative"),
        pytest.param(True, r"limit=True is not a page size", id="bool"),
    ],
)
async def test_limit_outside_the_cap_is_refused(db: Database, limit: Any, message: str) -> None:
    await _seed_events(db)
    async with db.read_session() as s:
        with pytest.raises(InvalidQueryError, match=message) as caught:
            await paginate_offset(s, select(Event), limit=limit)
        assert caught.value.allowed == {"limit": ["1..100"]}
        with pytest.raises(InvalidQueryError, match=message):
            await paginate_keyset(s, select(Event), limit=limit, signer=SIGNER)


async def test_cap_comes_from_options(db: Database) -> None:
    await _seed_events(db)
    options = PageOptions(max_limit=5)
    async with db.read_session() as s:
        with pytest.raises(InvalidQueryError, match=r"limit=6 is above the largest page size, 5"):
            await paginate_offset(s, select(Event), limit=6, options=options)
        page = await paginate_keyset(s, select(Event), limit=5, signer=SIGNER, options=options)
        assert len(page.items) == 5


def test_options_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match=r"max_limit must be at least 1"):
        PageOptions(max_limit=0)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        pytest.param(select(Event).order_by(Event.rank), "ORDER BY", id="order-by"),
        pytest.param(select(Event).limit(3), "LIMIT", id="limit"),
        pytest.param(select(Event).offset(3), "OFFSET", id="offset"),
    ],
)
async def test_statement_already_paginated_is_refused(
    db: Database, statement: Any, message: str
) -> None:
    await _seed_events(db)
    async with db.read_session() as s:
        with pytest.raises(ValueError, match=f"already has {message}"):
            await paginate_keyset(s, statement, limit=2, signer=SIGNER)
        with pytest.raises(ValueError, match=f"already has {message}"):
            await paginate_offset(s, statement, sort=[Event.label], limit=2)


async def test_empty_table(db: Database) -> None:
    await _seed_events(db, [])
    async with db.read_session() as s:
        keyset = await paginate_keyset(s, select(Event), limit=3, count="exact", signer=SIGNER)
        offset = await paginate_offset(s, select(Event), limit=3)
        past_the_end = await paginate_offset(s, select(Event), limit=3, offset=30)
    for page in (keyset, offset):
        assert (page.items, page.next, page.previous, page.total) == ([], None, None, 0)
    assert (past_the_end.items, past_the_end.next, past_the_end.previous) == ([], None, 27)
    assert past_the_end.total == 0


async def test_keyset_selecting_columns_gives_rows(db: Database) -> None:
    await _seed_events(db)
    sort: list[SortKey] = [Event.rank.desc()]
    forward, _ = await _walk(db, select(Event.id, Event.label), sort, 5)
    rows = [row for page in forward for row in page.items]
    assert [row.id for row in rows] == _expected(ROWS, [("rank", True, False)])
    assert rows[0]._fields == ("id", "label")


@pytest.mark.parametrize("limit", [1, 5, 23, 100])
async def test_offset_pages_cover_every_row_once(db: Database, limit: int) -> None:
    await _seed_events(db)
    sort: list[SortKey] = [Event.label.desc(), Event.rank]
    pages: list[Page[Event]] = []
    offset: Any = 0
    while offset is not None:
        async with db.read_session() as s:
            page = await paginate_offset(s, select(Event), sort=sort, limit=limit, offset=offset)
        pages.append(page)
        offset = page.next
    walked = [row_id for ids in _ids(pages) for row_id in ids]
    assert walked == _expected(ROWS, [("label", True, False), ("rank", False, True)])
    assert [p.previous for p in pages] == [None] + [i * limit for i in range(len(pages) - 1)]
    assert {p.total for p in pages} == {len(ROWS)}


async def test_offset_keeps_the_statements_own_order(db: Database) -> None:
    await _seed_events(db)
    async with db.read_session() as s:
        page = await paginate_offset(s, select(Event).order_by(Event.rank.desc()), limit=30)
    # Then the primary key, ascending, so that equal ranks keep one order.
    assert [e.id for e in page.items] == [
        row["id"] for row in sorted(ROWS, key=lambda r: (-r["rank"], r["id"]))
    ]


@pytest.mark.parametrize("offset", [-1, True, "3"])
async def test_offset_must_be_a_whole_number(db: Database, offset: Any) -> None:
    await _seed_events(db)
    async with db.read_session() as s:
        with pytest.raises(InvalidQueryError, match=rf"offset={offset!r} is not a whole number"):
            await paginate_offset(s, select(Event), limit=2, offset=offset)


async def test_offset_count_strategies(db: Database) -> None:
    await _seed_events(db)
    statement = select(Event).where(Event.rank != 0)
    visible = sum(1 for row in ROWS if row["rank"] != 0)
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "after_cursor_execute", _recorder(statements))
    async with db.read_session() as s:
        exact = await paginate_offset(s, statement, limit=2, count="exact")
        none = await paginate_offset(s, statement, limit=2, count="none")
        estimate = await paginate_offset(s, statement, limit=2, count="estimate")
        last = await paginate_offset(s, statement, limit=2, offset=visible - 1, count="exact")
        whole = await paginate_offset(s, statement, limit=50, count="exact")
    assert exact.total == visible and none.total is None and last.total == visible
    # Few rows: the estimate is replaced by an exact count on every backend.
    assert estimate.total == visible
    assert whole.total == visible
    counts = [sql for sql in statements if "count(" in sql.lower()]
    assert len(counts) == 2  # exact and estimate; the last and whole pages knew the total


async def test_count_strategy_must_be_known(db: Database) -> None:
    await _seed_events(db)
    async with db.read_session() as s:
        with pytest.raises(ValueError, match=r"count='sometimes' is not a count strategy"):
            await paginate_offset(s, select(Event), limit=2, count="sometimes")  # type: ignore[arg-type]


@pytest.mark.backends("postgresql")
async def test_estimate_reads_the_planner_on_postgresql(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        await s.execute(insert(Post), [{"rank": i % 10} for i in range(5000)])
        await s.execute(text("UPDATE post SET deleted_at = now() WHERE id <= 1000"))
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE post"))
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "after_cursor_execute", _recorder(statements))
    options = PageOptions(exact_count_below=0)
    async with db.read_session() as s:
        page = await paginate_offset(s, select(Post), limit=10, count="estimate", options=options)
        filtered = await paginate_offset(
            s, select(Post).where(Post.rank == 3), limit=10, count="estimate", options=options
        )
    assert page.total is not None and 3000 <= page.total <= 5000, page.total  # 4000 visible
    assert filtered.total is not None and 200 <= filtered.total <= 800, filtered.total  # 400
    explains = [sql for sql in statements if sql.startswith("EXPLAIN (FORMAT JSON)")]
    assert len(explains) == 2
    assert all("deleted_at IS NULL" in sql for sql in explains)  # soft delete applies
    assert not any("count(" in sql.lower() for sql in statements)


async def test_counts_respect_soft_delete(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        posts = [Post(rank=i) for i in range(7)]
        s.add_all(posts)
        await s.flush()
        posts[0].soft_delete()
        posts[3].soft_delete()
    async with db.read_session() as s:
        offset = await paginate_offset(s, select(Post), limit=2, count="exact")
        estimate = await paginate_offset(s, select(Post), limit=2, count="estimate")
        keyset = await paginate_keyset(s, select(Post), limit=2, count="exact", signer=SIGNER)
    assert offset.total == estimate.total == keyset.total == 5
    assert 0 not in [p.rank for p in offset.items]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    rank: int


async def test_page_is_a_fastapi_response_model(db: Database) -> None:
    await _seed_events(db)
    app = FastAPI()

    @app.get("/events", response_model=Page[EventOut])
    async def keyset(after: str | None = None, before: str | None = None) -> Any:
        async with db.read_session() as s:
            return await paginate_keyset(
                s,
                select(Event),
                sort=[Event.rank.desc()],
                limit=10,
                after=after,
                before=before,
                signer=SIGNER,
                count="exact",
            )

    @app.get("/events/by-offset")
    async def by_offset(offset: int = 0) -> Page[EventOut]:
        async with db.read_session() as s:
            return await paginate_offset(s, select(Event), limit=10, offset=offset)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bodies = [(await client.get("/events")).json()]
        while bodies[-1]["next"] is not None:
            bodies.append(
                (await client.get("/events", params={"after": bodies[-1]["next"]})).json()
            )
        back = (await client.get("/events", params={"before": bodies[-1]["previous"]})).json()
        by_offset_body = (await client.get("/events/by-offset", params={"offset": 10})).json()
        schema = (await client.get("/openapi.json")).json()

    assert [item["id"] for body in bodies for item in body["items"]] == _expected(
        ROWS, [("rank", True, False)]
    )
    assert set(bodies[0]) == {"items", "next", "previous", "total", "limit"}
    assert set(bodies[0]["items"][0]) == {"id", "rank"}  # the label is not leaked
    assert (bodies[0]["total"], bodies[0]["limit"], bodies[0]["previous"]) == (23, 10, None)
    assert back == bodies[-2]
    assert (by_offset_body["next"], by_offset_body["previous"]) == (20, 0)
    assert [item["id"] for item in by_offset_body["items"]] == list(range(11, 21))
    assert {"Page_EventOut_", "EventOut"} <= set(schema["components"]["schemas"])


async def test_joined_eager_loads_page_by_entity(db: Database) -> None:
    # A joined collection repeats each post over several rows; the page still
    # counts posts, and SQLAlchemy's unique() requirement is met.
    await db.create_all(Model.metadata)
    async with db.session() as s:
        s.add_all(Post(rank=i % 3, comments=[Comment() for _ in range(i % 4)]) for i in range(11))
    statement = select(Post).options(joinedload(Post.comments))
    forward, backward = await _walk(db, statement, [Post.rank.desc()], 3, count="exact")
    posts = [post for page in forward for post in page.items]
    assert [(p.rank, p.id) for p in posts] == sorted(((p.rank, p.id) for p in posts), reverse=True)
    assert len({p.id for p in posts}) == 11 and forward[0].total == 11
    assert sum(len(p.comments) for p in posts) == sum(i % 4 for i in range(11))
    assert _ids(backward) == _ids(forward)[::-1]
    async with db.read_session() as s:
        page = await paginate_offset(s, statement, sort=[Post.rank], limit=4, offset=4)
    assert len(page.items) == 4 and page.total == 11


async def test_core_table_statements_use_the_tables_primary_key(db: Database) -> None:
    await _seed_events(db)
    table = Event.__table__
    forward, backward = await _walk(db, select(table), [table.c.rank.desc()], 6)
    assert [row.id for page in forward for row in page.items] == _expected(
        ROWS, [("rank", True, False)]
    )
    assert _ids(backward) == _ids(forward)[::-1]


async def test_without_a_primary_key_keyset_cannot_order(db: Database) -> None:
    await _seed_events(db)
    statement = select(func.max(Event.rank).label("top")).select_from(Event).group_by(Event.label)
    statement = select(statement.subquery())
    async with db.read_session() as s:
        with pytest.raises(ValueError, match="Cannot find a primary key to make the order"):
            await paginate_keyset(s, statement, limit=2, signer=SIGNER)
        page = await paginate_offset(s, statement, limit=2)  # offset needs no total order
    assert len(page.items) == 2 and page.total == 4
