"""The statements behind ``Repository``'s updates and deletes: no read before a write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, delete, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import MANYTOONE

from ..model.soft_delete import SoftDelete
from ._upsert import version_key
from .loading import Read

__all__ = [
    "cascades",
    "delete_rows",
    "is_soft",
    "rowcount",
    "soft_delete_rows",
    "update_returning",
    "update_rows",
]

M = TypeVar("M")


async def update_returning(
    session: AsyncSession,
    model: type[M],
    where: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
    reread: Read,
) -> M | None:
    """Update the one row matching ``where`` and return it with its new values, or ``None``.

    ``UPDATE ... RETURNING`` where the backend has it (PostgreSQL, SQLite);
    MariaDB and MySQL have none, so an UPDATE then ``reread`` in the same
    transaction. Either way the object in the session, if any, is refreshed
    (``populate_existing``), so the identity map agrees with the database.
    """
    statement = update(model).where(*where).values(with_version(model, values))
    options = {"synchronize_session": False, "populate_existing": True}
    if session.get_bind(mapper=inspect(model)).dialect.update_returning:
        result = await session.execute(statement.returning(model), execution_options=options)
        return result.scalars().one_or_none()
    if not await rowcount(session, statement, synchronize_session=False):
        return None
    refreshed = reread.select(ordered=False).execution_options(populate_existing=True)
    return cast(M, (await session.scalars(refreshed)).one())


async def update_rows(
    session: AsyncSession,
    model: type[Any],
    where: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
) -> int:
    """Run one UPDATE of every row matching ``where``; objects in the session follow."""
    statement = update(model).where(*where).values(with_version(model, values))
    return await rowcount(session, statement)


async def soft_delete_rows(
    session: AsyncSession, model: type[Any], where: Sequence[ColumnElement[bool]]
) -> int:
    """Set ``deleted_at`` on every live row matching ``where``, in one UPDATE.

    Objects it deletes leave the session, as a flushed ``soft_delete()``
    does (see `SoftDelete`), so that ``session.get()``
    cannot answer with them from the identity map.
    """
    live = [
        obj
        for obj in session.identity_map.values()
        if isinstance(obj, model) and inspect(obj).dict.get("deleted_at", False) is None
    ]
    # A Python value rather than the database's clock, so that the ORM can set it
    # on the objects in the session without a query.
    count = await update_rows(session, model, where, {"deleted_at": datetime.now(UTC)})
    for obj in live:
        if inspect(obj).dict.get("deleted_at") is not None and obj in session:
            session.expunge(obj)
    return count


async def delete_rows(
    session: AsyncSession, model: type[Any], where: Sequence[ColumnElement[bool]]
) -> int:
    """Run one DELETE of every row matching ``where``; objects in the session are marked."""
    return await rowcount(session, delete(model).where(*where))


def with_version(model: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    """Add ``version = version + 1`` for a ``Versioned`` model: a bulk write moves it too."""
    key = version_key(model)
    if key is not None:
        values[key] = getattr(model, key) + 1
    return values


def is_soft(model: type[Any]) -> bool:
    """Whether rows of ``model`` are soft-deleted (``SoftDelete``)."""
    return issubclass(model, SoftDelete)


def cascades(model: type[Any]) -> bool:
    """Whether deleting a row needs the ORM: relationships it must cascade to or unlink.

    One-to-many and many-to-many relationships without ``passive_deletes``
    have the ORM delete or update the rows on the other side (or the
    association rows); a DELETE statement would leave that to the database.
    """
    return any(
        rel.direction is not MANYTOONE and not rel.passive_deletes and not rel.viewonly
        for rel in inspect(model).relationships
    )


async def rowcount(session: AsyncSession, statement: Any, **options: Any) -> int:
    """Execute a DML ``statement`` and return how many rows it matched."""
    # MySQL drivers report matched rather than changed rows: SQLAlchemy connects
    # with CLIENT_FOUND_ROWS (dialects/mysql/asyncmy.py, _found_rows_client_flag).
    result = await session.execute(statement, execution_options=options)
    return cast(CursorResult[Any], result).rowcount
