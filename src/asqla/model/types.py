"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, is_
from typing import Any

from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

__all__ = ["UTCDateTime", "utc_now"]

# Backends whose DATETIME has no time zone: the value is stored as naive UTC.
_NAIVE_BACKENDS = frozenset({"sqlite", "mysql", "mariadb"})


class UTCDateTime(TypeDecorator[datetime]):
    """Store timezone-aware datetimes as UTC and load them back as aware UTC.

    The column is ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL. SQLite and
    MySQL/MariaDB have no time zone in their datetime types, so the value is
    converted to UTC and stored naive (``DATETIME(6)``, microseconds kept, on
    MySQL/MariaDB); on load it gets ``tzinfo=UTC`` back. Every value read is
    an aware datetime in UTC, whatever the backend.

    A naive datetime is rejected when it is bound, in an INSERT, an UPDATE
    or a WHERE clause alike: its time zone cannot be guessed, and guessing
    wrong silently shifts data by hours.

    ``asqla.model.Base`` maps ``Mapped[datetime]`` to this type.

    Example::

        class Event(Base):
            __tablename__ = "event"
            id: Mapped[int] = mapped_column(primary_key=True)
            at: Mapped[datetime]  # UTCDateTime, through Base's type map

        Event(at=datetime.now(UTC))  # Event(at=datetime.now()) fails on flush
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            # Plain DATETIME truncates to whole seconds; fsp=6 keeps microseconds
            # (MariaDB KB, "DATETIME": "microsecond precision can be from 0-6").
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value.__class__ is datetime and value.tzinfo is UTC:
            # The common value, aware UTC already: astimezone(UTC) would return it as it is.
            return _naive(value) if dialect.name in _NAIVE_BACKENDS else value
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(
                f"UTCDateTime expects a timezone-aware datetime, got {value!r}. "
                "Pass a datetime such as datetime.now(UTC)."
            )
        if value.utcoffset() is None:
            raise ValueError(
                f"UTCDateTime refuses the naive datetime {value!r}: its time zone is unknown. "
                "Use an aware datetime such as datetime.now(UTC), or value.replace(tzinfo=UTC) "
                "if it is already in UTC."
            )
        value = value.astimezone(UTC)
        if dialect.name in _NAIVE_BACKENDS:
            return value.replace(tzinfo=None)
        return value

    def _process_bind_column(self, values: Sequence[Any], dialect: Dialect) -> Sequence[Any]:
        """Return `process_bind_param` of each of ``values``, a column of a bulk load.

        A column of aware UTC datetimes, the common one, is checked and
        converted in C loops, and is returned as it is on PostgreSQL; any
        other goes value by value, and raises as `process_bind_param` does.
        """
        overridden = type(self).process_bind_param is not UTCDateTime.process_bind_param
        if overridden or not _all_utc(values):
            return [self.process_bind_param(value, dialect) for value in values]
        if dialect.name in _NAIVE_BACKENDS:
            # The unbound methods: datetime.date(value) and datetime.time(value).
            return list(
                map(datetime.combine, map(datetime.date, values), map(datetime.time, values))
            )
        return values

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - every driver returns datetime
            raise TypeError(f"UTCDateTime read {value!r} from the database, not a datetime.")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_tzinfo = attrgetter("tzinfo")


def _all_utc(values: Sequence[Any]) -> bool:
    """Whether every one of ``values`` is a ``datetime`` (no subclass) with ``tzinfo=UTC``."""
    types_ok = all(map(is_, map(type, values), repeat(datetime)))
    return types_ok and all(map(is_, map(_tzinfo, values), repeat(UTC)))


def _naive(value: datetime) -> datetime:
    """``value.replace(tzinfo=None)``, four times faster on CPython 3.11 (no keyword parsing)."""
    return datetime.combine(value.date(), value.time())


class utc_now(FunctionElement[datetime]):
    """The database's current time in UTC, at the best resolution it offers."""

    type = UTCDateTime()
    inherit_cache = True
    name = "utc_now"


@compiles(utc_now)
def _utc_now_default(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: the start of the transaction, as timestamptz, microseconds.
    return "CURRENT_TIMESTAMP"


@compiles(utc_now, "sqlite")
def _utc_now_sqlite(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    # CURRENT_TIMESTAMP has whole seconds; %f gives milliseconds. 'now' is UTC
    # (SQLite docs, "Date And Time Functions").
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(utc_now, "mysql")
@compiles(utc_now, "mariadb")
def _utc_now_mysql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    # CURRENT_TIMESTAMP follows the session time_zone; UTC_TIMESTAMP does not.
    # (6) for microseconds, to match DATETIME(6). An expression default needs
    # MariaDB 10.2.1+ / MySQL 8.0.13+; SQLAlchemy adds the parentheses.
    return "UTC_TIMESTAMP(6)"
