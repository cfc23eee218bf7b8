"""UTCDateTime: aware datetimes in, aware UTC out, naive datetimes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, insert, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import AsqlaError, Database
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, UTCDateTime


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Event(Model):
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    until: Mapped[datetime | None]


NAIVE_MESSAGE = (
    r"UTCDateTime refuses the naive datetime datetime\.datetime\(2024, 5, 6, 7, 8, 9\): "
    r"its time zone is unknown\. Use an aware datetime such as datetime\.now\(UTC\)"
)
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match=NAIVE_MESSAGE):
        UTCDateTime().process_bind_param(datetime(2024, 5, 6, 7, 8, 9), sqlite.dialect())


def test_non_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match=r"expects a timezone-aware datetime, got '2024-05-06'"):
        UTCDateTime().process_bind_param("2024-05-06", sqlite.dialect())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dialect", "ddl"),
    [
        pytest.param(sqlite.dialect(), "DATETIME", id="sqlite"),
        pytest.param(postgresql.dialect(), "TIMESTAMP WITH TIME ZONE", id="postgresql"),
        pytest.param(mysql.dialect(), "DATETIME(6)", id="mysql"),
    ],
)
def test_column_type_per_backend(dialect: Dialect, ddl: str) -> None:
    assert Event.__table__.c.at.type.compile(dialect=dialect) == ddl


async def test_aware_datetime_round_trips_as_utc(db: Database) -> None:
    await db.create_all(Model.metadata)
    sent = datetime(2024, 5, 6, 12, 30, 15, 123456, tzinfo=KOLKATA)
    async with db.session() as s:
        s.add(Event(id=1, at=sent))
    async with db.session() as s:
        event = await s.get(Event, 1)
    assert event is not None
    assert event.at == sent  # the same instant, microseconds kept
    assert event.at.tzinfo is UTC
    assert event.at.hour == 7  # 12:30 in Kolkata is 07:00 UTC
    assert event.until is None


async def test_comparison_binds_as_utc(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        s.add(Event(id=1, at=datetime(2024, 5, 6, 7, 0, tzinfo=UTC)))
    async with db.session() as s:
        # 12:29 in Kolkata is 06:59 UTC: before the event, though "12:29" > "07:00".
        after = datetime(2024, 5, 6, 12, 29, tzinfo=KOLKATA)
        assert list(await s.scalars(select(Event.id).where(Event.at > after))) == [1]


async def test_naive_datetime_is_refused_on_write(db: Database) -> None:
    await db.create_all(Model.metadata)
    async with db.engine.connect() as connection:
        with pytest.raises(StatementError, match=NAIVE_MESSAGE) as caught:
            await connection.execute(insert(Event).values(id=1, at=datetime(2024, 5, 6, 7, 8, 9)))
    assert isinstance(caught.value.orig, ValueError)


async def test_naive_datetime_is_refused_at_flush(db: Database) -> None:
    await db.create_all(Model.metadata)
    # However the session layer wraps it, the message reaches the caller.
    with pytest.raises((AsqlaError, ValueError), match=NAIVE_MESSAGE):
        async with db.session() as s:
            s.add(Event(id=1, at=datetime(2024, 5, 6, 7, 8, 9)))
    async with db.session() as s:
        assert await s.get(Event, 1) is None


DIALECTS = [
    pytest.param(sqlite.dialect(), id="sqlite"),
    pytest.param(postgresql.dialect(), id="postgresql"),
    pytest.param(mysql.dialect(), id="mysql"),
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_aware_utc_datetime_binds_as_before(dialect: Dialect) -> None:
    # The fast path for aware UTC gives what astimezone(UTC) and, on the
    # backends without time zones, replace(tzinfo=None) give.
    sent = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    bound = UTCDateTime().process_bind_param(sent, dialect)
    expected = sent if dialect.name == "postgresql" else sent.replace(tzinfo=None)
    assert bound == expected
    assert bound is not None and bound.tzinfo is expected.tzinfo


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "values",
    [
        pytest.param(
            [datetime(2024, 5, 6, 7, 8, 9, i, tzinfo=UTC) for i in range(100)], id="all-utc"
        ),
        pytest.param(
            [
                datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=UTC),
                datetime(2024, 5, 6, 12, 38, 9, 2, tzinfo=KOLKATA),
                datetime(2024, 5, 6, 7, 8, 9, 3, tzinfo=timezone(timedelta(0), "Z")),
                None,
            ],
            id="mixed",
        ),
    ],
)
def test_bind_column_binds_each_value_as_bind_param_does(
    dialect: Dialect, values: list[datetime | None]
) -> None:
    column_type = UTCDateTime()
    bound = list(column_type._process_bind_column(values, dialect))
    expected = [column_type.process_bind_param(value, dialect) for value in values]
    assert bound == expected
    assert [getattr(value, "tzinfo", None) for value in bound] == [
        getattr(value, "tzinfo", None) for value in expected
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_bind_column_refuses_what_bind_param_refuses(dialect: Dialect) -> None:
    aware = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match=NAIVE_MESSAGE):
        UTCDateTime()._process_bind_column([aware, datetime(2024, 5, 6, 7, 8, 9)], dialect)
    with pytest.raises(TypeError, match=r"expects a timezone-aware datetime, got '2024-05-06'"):
        UTCDateTime()._process_bind_column([aware, "2024-05-06"], dialect)


def test_bind_column_calls_an_overridden_bind_param() -> None:
    class Shifted(UTCDateTime):
        cache_ok = True

        def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
            bound = super().process_bind_param(value, dialect)
            return None if bound is None else bound + timedelta(hours=1)

    sent = [datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)]
    assert list(Shifted()._process_bind_column(sent, postgresql.dialect())) == [
        datetime(2024, 5, 6, 8, 8, 9, tzinfo=UTC)
    ]
