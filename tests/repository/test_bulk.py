"""bulk_insert: every path (COPY, packet-sized INSERT, executemany, RETURNING) on real databases."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    event,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from asqla import Database, SessionUsageError, UniqueViolationError
from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    SoftDelete,
    Timestamps,
    UUIDPrimaryKey,
    Versioned,
)
from asqla.repository.bulk import InvalidRowError, bulk_insert


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Lowered(TypeDecorator[str]):
    """Lower-cased by the database: a SQL bind expression, which COPY cannot apply."""

    impl = String(50)
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return func.lower(bindvalue)


class Author(BigIntPrimaryKey, Model):
    __tablename__ = "author"
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(UUIDPrimaryKey, Timestamps, SoftDelete, Versioned, Model):
    __tablename__ = "book"
    title: Mapped[str] = mapped_column("book_title", String(200))
    pages: Mapped[int] = mapped_column(default=100)
    slug: Mapped[str] = mapped_column(
        String(200), default=lambda context: context.get_current_parameters()["book_title"].lower()
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author | None] = relationship(back_populates="books")


class Reading(BigIntPrimaryKey, Model):
    __tablename__ = "reading"
    sensor: Mapped[uuid.UUID]
    at: Mapped[datetime]
    value: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    color: Mapped[Color] = mapped_column(Enum(Color))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(200))


class Attachment(Model):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Tag(Model):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Lowered())


class Ambiguous:
    """A value whose truth is undefined, like a NumPy array or pandas.NA."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __bool__(self) -> bool:
        raise ValueError("the truth value of an Ambiguous is ambiguous")


class AmbiguousText(TypeDecorator[Ambiguous]):
    impl = String(50)
    cache_ok = True

    def process_bind_param(self, value: Ambiguous | None, dialect: Any) -> str | None:
        return None if value is None else value.text


events = Table(
    "event",
    Model.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("weight", Integer, nullable=False, server_default="7"),
)

archive = Table(
    "event_archive",
    Model.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("weight", Integer, nullable=False),
)

notes = Table(
    "ambiguous_note",
    Model.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("text", AmbiguousText(), nullable=False),
)


def reading(i: int) -> dict[str, Any]:
    return {
        "sensor": uuid.UUID(int=i),
        "at": datetime(2024, 5, 1, 12, tzinfo=UTC) + timedelta(seconds=i),
        "value": Decimal(i) / 8,
        "color": Color.BLUE if i % 2 else Color.RED,
        "data": {"i": i, "tags": ["a", "b"]},
        "note": None if i % 3 else f"note {i}",
    }


async def count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


async def test_inserts_dicts_in_batches_and_reports_progress(db: Database) -> None:
    await db.create_all(Model.metadata)
    seen: list[int] = []
    async with db.session() as session:
        inserted = await bulk_insert(
            session,
            Reading,
            [reading(i) for i in range(2500)],
            batch_size=1000,
            progress=seen.append,
        )
    assert inserted == 2500
    assert seen == [1000, 2000, 2500]
    async with db.session() as session:
        loaded = (await session.scalars(select(Reading).order_by(Reading.sensor))).all()
    assert [row.sensor for row in loaded] == [uuid.UUID(int=i) for i in range(2500)]
    for row in (loaded[0], loaded[1], loaded[2499]):
        i = row.sensor.int
        expected = reading(i)
        assert (row.at, row.value, row.color, row.data, row.note) == (
            expected["at"],
            expected["value"],
            expected["color"],
            expected["data"],
            expected["note"],
        )
    assert len({row.id for row in loaded}) == 2500  # numbered by the database


async def test_aware_datetimes_in_other_zones_are_stored_as_utc(db: Database) -> None:
    await db.create_all(Model.metadata)
    row = reading(1) | {"at": datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))}
    async with db.session() as session:
        await bulk_insert(session, Reading, [row])
    async with db.session() as session:
        loaded = await session.scalar(select(Reading))
    assert loaded is not None
    assert loaded.at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert loaded.at.tzinfo == UTC


async def test_a_batch_mixing_time_zones_is_stored_as_utc(db: Database) -> None:
    await db.create_all(Model.metadata)
    start = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    sent = [start + timedelta(seconds=i) for i in range(3000)]
    # Slices of aware UTC datetimes, and slices with one datetime in another zone,
    # or in UTC through a tzinfo that is not datetime.UTC.
    sent[1500] = datetime(2024, 5, 1, 14, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    sent[2999] = datetime(2024, 5, 1, 9, 30, 0, 1, tzinfo=timezone(timedelta(0), "Z"))
    rows = [reading(i) | {"at": at} for i, at in enumerate(sent)]
    async with db.session() as session:
        await bulk_insert(session, Reading, rows, batch_size=1000)
    async with db.session() as session:
        loaded = (await session.execute(select(Reading.sensor, Reading.at))).all()
    stored = {sensor.int: at for sensor, at in loaded}
    assert [stored[i] for i in range(3000)] == sent  # the same instants, microseconds kept
    assert {at.tzinfo for at in stored.values()} == {UTC}
    assert stored[1500] == datetime(2024, 5, 1, 12, 0, 0, 654321, tzinfo=UTC)
    assert stored[2999] == datetime(2024, 5, 1, 9, 30, 0, 1, tzinfo=UTC)


async def test_reads_an_async_iterable_one_batch_ahead_at_most(db: Database) -> None:
    await db.create_all(Model.metadata)
    produced = 0
    ahead: list[int] = []

    async def rows() -> AsyncIterator[dict[str, Any]]:
        nonlocal produced
        for i in range(3000):
            produced += 1
            yield reading(i)

    def progress(written: int) -> None:
        ahead.append(produced - written)

    async with db.session() as session:
        assert (
            await bulk_insert(session, Reading, rows(), batch_size=500, progress=progress) == 3000
        )
    assert len(ahead) == 6
    assert max(ahead) <= 500  # never more than the next batch in memory
    assert await count(db, Reading) == 3000


async def test_reads_a_generator_lazily(db: Database) -> None:
    await db.create_all(Model.metadata)
    produced = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal produced
        for i in range(1000):
            produced += 1
            yield reading(i)

    pulled: list[int] = []
    async with db.session() as session:
        await bulk_insert(
            session, Reading, rows(), batch_size=300, progress=lambda n: pulled.append(produced)
        )
    assert pulled == [300, 600, 900, 1000]


async def test_model_instances_get_python_defaults_and_server_defaults(db: Database) -> None:
    await db.create_all(Model.metadata)
    books = [Book(title=f"Title {i}") for i in range(5)] + [Book(title="Given", pages=7, slug="s")]
    async with db.session() as session:
        assert await bulk_insert(session, Book, books) == 6
    async with db.session() as session:
        loaded = (await session.scalars(select(Book).order_by(Book.id))).all()
    assert [book.title for book in loaded] == [f"Title {i}" for i in range(5)] + ["Given"]
    first = loaded[0]
    assert first.id.version == 7  # UUIDPrimaryKey's uuid7, applied in Python
    assert first.version == 1  # Versioned's first version
    assert first.pages == 100 and first.slug == "title 0"  # default=, and a context default
    assert (loaded[5].pages, loaded[5].slug) == (7, "s")
    assert first.created_at is not None and first.updated_at is not None  # server defaults
    assert first.deleted_at is None and not first.is_deleted


async def test_rollback_after_bulk_insert_leaves_the_table_empty(db: Database) -> None:
    await db.create_all(Model.metadata)
    with pytest.raises(RuntimeError, match="undo"):
        async with db.session() as session:
            assert await bulk_insert(session, Reading, (reading(i) for i in range(2000))) == 2000
            assert await session.scalar(select(func.count()).select_from(Reading)) == 2000
            raise RuntimeError("undo")
    assert await count(db, Reading) == 0
    async with db.session() as session:
        await bulk_insert(session, Reading, [reading(1)])
        await session.rollback()
    assert await count(db, Reading) == 0


@pytest.mark.backends("postgresql")
async def test_postgresql_writes_with_copy_in_the_session_transaction(db: Database) -> None:
    await db.create_all(Model.metadata)
    seen = statements(db)
    async with db.session() as session:
        await session.execute(text("SET LOCAL application_name = 'bulk-test'"))
        await bulk_insert(session, Reading, [reading(i) for i in range(100)])
        pid_in_session = await session.scalar(text("SELECT pg_backend_pid()"))
        # The same connection, inside the same transaction: the rows are visible.
        assert await session.scalar(select(func.count()).select_from(Reading)) == 100
    assert pid_in_session is not None
    assert not [s for s in seen if s.lstrip().upper().startswith("INSERT")]
    assert await count(db, Reading) == 100


@pytest.mark.backends("postgresql")
async def test_postgresql_copy_raises_translated_errors_and_undoes_the_load(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "kind": "a"} for i in range(1500)] + [{"id": 5, "kind": "dup"}]
    async with db.session() as session:
        with pytest.raises(UniqueViolationError, match="unique constraint"):
            await bulk_insert(session, events, rows, batch_size=1000)
        # The savepoint was rolled back: the transaction is usable, and empty.
        assert await session.scalar(select(func.count()).select_from(events)) == 0
        await bulk_insert(session, events, [{"id": 1, "kind": "b"}])
    assert await count(db, events) == 1


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize(
    ("size", "bad"),
    [
        pytest.param(3000, 2345, id="row-2345"),
        pytest.param(60_000, 50_000, id="row-50000"),
        pytest.param(60_000, 59_999, id="last-row"),
    ],
)
async def test_postgresql_value_copy_cannot_encode_names_the_row(
    db: Database, size: int, bad: int
) -> None:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "kind": "k", "weight": i} for i in range(size)]
    rows[bad]["weight"] = "heavy"
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=rf"Row {bad} has a value that COPY cannot encode .* of event"
        ) as caught:
            await bulk_insert(session, events, rows)
        assert caught.value.index == bad
        assert await session.scalar(select(func.count()).select_from(events)) == 0
    assert db.status().checked_out == 0


async def test_an_error_in_a_python_default_is_raised_as_it_is(db: Database) -> None:
    calls = 0

    def next_code() -> str:
        nonlocal calls
        calls += 1
        if calls == 1500:
            raise ValueError("no codes left")
        return f"c{calls}"

    coded = Table(
        "coded",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("code", String(10), nullable=False, default=next_code),
    )
    await db.create_all(coded.metadata)
    async with db.session() as session:
        # Not taken for a value the driver cannot encode: in the middle of a COPY too.
        with pytest.raises(ValueError, match="no codes left") as caught:
            await bulk_insert(session, coded, [{"id": i} for i in range(3000)])
        assert type(caught.value) is ValueError
        assert await session.scalar(select(func.count()).select_from(coded)) == 0


async def test_a_type_with_a_bind_expression_is_written_through_insert(db: Database) -> None:
    await db.create_all(Model.metadata)
    seen = statements(db)
    async with db.session() as session:
        await bulk_insert(session, Tag, [{"id": i, "name": f"MiXeD {i}"} for i in range(50)])
    async with db.session() as session:
        names = (await session.scalars(select(Tag.name).order_by(Tag.id))).all()
    assert names == [f"mixed {i}" for i in range(50)]
    assert any("lower(" in s.lower() for s in seen if s.lstrip().upper().startswith("INSERT"))


async def test_awkward_strings_round_trip(db: Database) -> None:
    await db.create_all(Model.metadata)
    awkward = [
        "it's",
        'say "hi"',
        "back\\slash",
        "100% %s %(x)s",
        ":name ? $1",
        "line\nbreak\ttab",
        "emoji 🙂 and ünïcode",
        "\x1a ctrl-z",
    ]
    rows = [reading(i) | {"note": value} for i, value in enumerate(awkward)]
    async with db.session() as session:
        await bulk_insert(session, Reading, rows)
    async with db.session() as session:
        notes = (await session.scalars(select(Reading.note).order_by(Reading.sensor))).all()
    assert notes == awkward


async def test_bytes_round_trip(db: Database) -> None:
    await db.create_all(Model.metadata)
    blobs = [bytes(range(256)), b"\x00'\\%s", b""]
    async with db.session() as session:
        await bulk_insert(
            session, Attachment, [{"id": i, "content": b} for i, b in enumerate(blobs)]
        )
    async with db.session() as session:
        stored = (await session.scalars(select(Attachment.content).order_by(Attachment.id))).all()
    assert stored == blobs


async def test_rows_read_from_another_query_are_rows(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        await bulk_insert(session, events, [{"id": i, "kind": f"k{i}"} for i in range(300)])
        result = await session.execute(select(events.c.kind, events.c.id))
        copied = await bulk_insert(
            session, Tag, ({"id": row.id, "name": row.kind} for row in result), batch_size=120
        )
        assert copied == 300
        mappings = (await session.execute(select(events).where(events.c.id < 5))).mappings()
        assert await bulk_insert(session, archive, mappings) == 5  # RowMappings as they come
    assert await count(db, Tag) == 300
    assert await count(db, archive) == 5


@pytest.mark.backends("mysql")
async def test_mysql_statements_stay_under_max_allowed_packet(db: Database) -> None:
    await db.create_all(Model.metadata)
    seen = statements(db)
    limit = 8_192
    async with db.session() as session:
        (await session.connection()).info["asqla_max_allowed_packet"] = limit
        await bulk_insert(session, Reading, [reading(i) for i in range(1000)], batch_size=400)
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len(inserts) > 2 * 3  # cut by size too, not only at the three batches
    assert max(len(s.encode()) for s in inserts) <= limit * 0.9
    assert await count(db, Reading) == 1000


@pytest.mark.backends("mysql")
async def test_mysql_reads_max_allowed_packet_once_per_connection(db: Database) -> None:
    await db.create_all(Model.metadata)
    seen = statements(db)
    async with db.session() as session:
        server = await session.scalar(text("SELECT @@max_allowed_packet"))
        await bulk_insert(session, Reading, [reading(1)])
        await bulk_insert(session, Reading, [reading(2)])
        assert (await session.connection()).info["asqla_max_allowed_packet"] == server
    async with db.session() as session:  # the pooled connection remembers it
        await bulk_insert(session, Reading, [reading(3)])
    assert sum("@@max_allowed_packet" in s for s in seen) == 2  # ours once, and the test's


@pytest.mark.backends("mysql")
async def test_mysql_row_larger_than_the_packet_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [reading(0), reading(1) | {"note": "x" * 180}]
    async with db.session() as session:
        (await session.connection()).info["asqla_max_allowed_packet"] = 300
        with pytest.raises(InvalidRowError, match=r"Row 1 takes \d+ bytes as SQL") as caught:
            await bulk_insert(session, Reading, rows)
    assert caught.value.index == 1
    assert await count(db, Reading) == 0


@pytest.mark.parametrize(
    "batch_size",
    [
        pytest.param(1000, id="between-batches"),
        pytest.param(2000, id="inside-a-batch"),  # PostgreSQL: in the middle of a COPY
    ],
)
async def test_unknown_key_names_row_and_key_and_inserts_nothing(
    db: Database, batch_size: int
) -> None:
    await db.create_all(Model.metadata)
    rows = [reading(i) for i in range(2500)]
    rows[1500] = rows[1500] | {"nmae": "typo"}
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=r"Row 1500 has the key 'nmae', which is not a column of Reading"
        ) as caught:
            await bulk_insert(session, Reading, rows, batch_size=batch_size)
        assert (caught.value.index, caught.value.column) == (1500, "nmae")
        # What was written before is undone, and the transaction carries on.
        assert await session.scalar(select(func.count()).select_from(Reading)) == 0
        await bulk_insert(session, Reading, [reading(1)])
    assert await count(db, Reading) == 1


async def test_a_value_the_column_type_refuses_names_row_and_column(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [reading(i) for i in range(3000)]
    rows[2222]["at"] = datetime(2024, 5, 1, 12)  # naive: UTCDateTime refuses it
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError,
            match=r"Row 2222 has datetime.datetime\(2024, 5, 1, 12, 0\) for 'at', which "
            r"reading.at cannot take: UTCDateTime refuses the naive datetime",
        ) as caught:
            await bulk_insert(session, Reading, rows)
        assert (caught.value.index, caught.value.column) == (2222, "at")
        assert await session.scalar(select(func.count()).select_from(Reading)) == 0


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        pytest.param(
            "at",
            "2024-05-01",
            r"Row 50000 has '2024-05-01' for 'at', which reading.at cannot take: "
            r"UTCDateTime expects a timezone-aware datetime",
            id="wrong-type",
        ),
        pytest.param(
            "at",
            datetime(2024, 5, 1, 12),
            r"Row 50000 has datetime.datetime\(2024, 5, 1, 12, 0\) for 'at', which reading.at "
            r"cannot take: UTCDateTime refuses the naive datetime",
            id="naive-datetime",
        ),
        pytest.param(
            "value",
            None,
            r"Row 50000 sets 'value' to None, but reading.value is NOT NULL",
            id="none",
        ),
    ],
)
async def test_a_bad_value_deep_in_a_large_load_names_row_and_column(
    db: Database, column: str, value: Any, message: str
) -> None:
    await db.create_all(Model.metadata)
    rows = [reading(i) for i in range(60_000)]
    rows[50_000][column] = value
    async with db.session() as session:
        with pytest.raises(InvalidRowError, match=message) as caught:
            await bulk_insert(session, Reading, rows)
        assert (caught.value.index, caught.value.column) == (50_000, column)
        # Nothing of the batches before it is left, and the transaction carries on.
        assert await session.scalar(select(func.count()).select_from(Reading)) == 0
        await bulk_insert(session, Reading, rows[:10])
    assert await count(db, Reading) == 10


async def test_none_among_falsy_values_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "kind": "", "weight": i % 2} for i in range(2500)]
    rows[1777]["weight"] = None
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=r"Row 1777 sets 'weight' to None, but event_archive.weight"
        ) as caught:
            await bulk_insert(session, archive, rows)
        assert (caught.value.index, caught.value.column) == (1777, "weight")
        rows[1777]["weight"] = 0
        assert await bulk_insert(session, archive, rows) == 2500
    assert await count(db, archive) == 2500


async def test_none_among_values_of_undefined_truth_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "text": Ambiguous(f"note {i}")} for i in range(1500)]
    rows[1234]["text"] = None
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=r"Row 1234 sets 'text' to None, but ambiguous_note.text"
        ):
            await bulk_insert(session, notes, rows)
        rows[1234]["text"] = Ambiguous("found")
        assert await bulk_insert(session, notes, rows) == 1500
        stored = await session.scalar(select(notes.c.text).where(notes.c.id == 1234))
    assert stored == "found"


async def test_missing_not_null_column_names_row_and_column(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "kind": "k"} for i in range(10)]
    del rows[3]["kind"]
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError,
            match=r"Row 3 has no value for 'kind': event.kind is NOT NULL and has no default",
        ):
            await bulk_insert(session, events, rows, batch_size=2)
    assert await count(db, events) == 0


async def test_first_row_missing_not_null_column_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    row = reading(0)
    del row["value"]
    async with db.session() as session:
        with pytest.raises(InvalidRowError, match=r"Row 0 has no value for 'value'"):
            await bulk_insert(session, Reading, [row])


async def test_none_for_a_not_null_column_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    rows = [reading(0), reading(1) | {"value": None}]
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=r"Row 1 sets 'value' to None, but reading.value is NOT NULL"
        ):
            await bulk_insert(session, Reading, rows)
    assert await count(db, Reading) == 0


async def test_a_column_left_to_the_database_must_be_left_in_every_row(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError,
            match=r"Row 1 sets 'weight', but row 0 left event.weight to the database "
            r"\(its server default\)",
        ):
            await bulk_insert(
                session, events, [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b", "weight": 1}]
            )
        with pytest.raises(
            InvalidRowError, match=r"Row 1 has no value for 'weight', which row 0 set"
        ):
            await bulk_insert(
                session, events, [{"id": 1, "kind": "a", "weight": 1}, {"id": 2, "kind": "b"}]
            )


async def test_server_default_applies_when_left_out(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        await bulk_insert(session, events, [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}])
        weights = (await session.scalars(select(events.c.weight))).all()
    assert weights == [7, 7]


async def test_relationships_are_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    book = Book(title="t", author=Author(name="a"))
    async with db.session() as session:
        with pytest.raises(InvalidRowError, match=r"Row 0 sets the relationship Book.author"):
            await bulk_insert(session, Book, [book])
        with pytest.raises(InvalidRowError, match=r"Row 0 sets the relationship 'author'"):
            await bulk_insert(session, Book, [{"title": "t", "author": None}])


async def test_something_that_is_not_a_row_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        with pytest.raises(
            InvalidRowError, match=r"Row 1 is tuple .*takes dicts or Book instances"
        ):
            await bulk_insert(session, Book, [{"title": "a"}, ("b",)])
        with pytest.raises(TypeError, match="takes an iterable or async iterable of rows"):
            await bulk_insert(session, Book, {"title": "a"})
        with pytest.raises(TypeError, match="writes to a mapped class or a Table"):
            await bulk_insert(session, "book", [{"title": "a"}])  # type: ignore[call-overload]
        with pytest.raises(ValueError, match=r"batch_size=\.\.\.\) must be a positive int, got 0"):
            await bulk_insert(session, Book, [{"title": "a"}], batch_size=0)


async def test_nothing_to_insert(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        assert await bulk_insert(session, Book, []) == 0
        assert await bulk_insert(session, Book, [], returning=True) == []


async def test_returning_gives_objects_in_input_order_with_database_values(db: Database) -> None:
    await db.create_all(Model.metadata)
    titles = [f"T{i:04}" for i in range(1200)]
    titles.reverse()
    async with db.session() as session:
        books = await bulk_insert(
            session, Book, [{"title": title} for title in titles], returning=True, batch_size=500
        )
        assert [book.title for book in books] == titles
        assert all(isinstance(book, Book) and book in session for book in books)
        assert all(book.created_at is not None and book.version == 1 for book in books)
        authors = await bulk_insert(session, Author, [{"name": "b"}, {"name": "a"}], returning=True)
        assert [author.name for author in authors] == ["b", "a"]
        assert authors[0].id is not None and authors[1].id is not None
        rows = await bulk_insert(session, events, [{"id": 2, "kind": "x"}], returning=True)
        assert [tuple(row) for row in rows] == [(2, "x", 7)]
    assert await count(db, Book) == 1200


async def test_a_table_takes_column_keys_and_a_model_attribute_names(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as session:
        with pytest.raises(InvalidRowError, match=r"has the key 'book_title'"):
            await bulk_insert(session, Book, [{"book_title": "column name"}])
        await bulk_insert(session, Book, [{"title": "attribute name"}])
        await bulk_insert(
            session,
            Book.__table__,
            [{"id": uuid.uuid4(), "book_title": "t", "pages": 1, "slug": "s", "version": 1}],
        )
    assert await count(db, Book) == 2


async def test_read_session_is_refused(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.read_session() as session:
        with pytest.raises(SessionUsageError, match="would write through a ReadSession"):
            await bulk_insert(session, Reading, [reading(1)])
