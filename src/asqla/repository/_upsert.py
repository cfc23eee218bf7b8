"""Native, atomic upserts, and a get-or-create that is safe under concurrency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar, cast

from sqlalchemy import Column, inspect, literal_column, null, tuple_
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .._translate import translate
from ..exceptions import UniqueViolationError
from ..model.soft_delete import SoftDelete
from .loading import Read, column_names, load_expired

__all__ = ["get_or_create", "upsert", "version_key"]

M = TypeVar("M")

_INSERTS: Final = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


async def upsert(
    session: AsyncSession,
    model: type[M],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str] | None,
    update: Sequence[str] | None,
) -> list[M]:
    """Insert ``rows``, updating the rows they conflict with; see ``Repository.upsert_many``."""
    if not rows:
        return []
    mapper = inspect(model)
    columns = column_names(model, rows[0], what="upsert()")
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(
            f"Every row of an upsert must have the same columns; the first has {columns}. "
            "Fill the missing ones (with None if NULL is meant)."
        )
    if conflict is None:
        conflict = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    conflict = column_names(model, conflict, what="conflict")
    if not set(conflict) <= set(columns):
        raise ValueError(
            f"The conflict columns {conflict} must have values in every row, which has only "
            f"{columns}. Give the values that identify the row."
        )
    version = version_key(model)
    primary = {mapper.get_property_by_column(column).key for column in mapper.primary_key}
    if update is None:
        update = [name for name in columns if name not in conflict and name not in primary]
    update = [name for name in column_names(model, update, what="update") if name != version]
    keys = [tuple(row[name] for name in conflict) for row in rows]
    seen: set[tuple[Any, ...]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(
                f"Two rows of the upsert share the conflict key {key!r} ({conflict}); the "
                "database would update the same row twice. Merge them into one row first."
            )
        seen.add(key)
    prepared = [{**row, version: 1} if version else dict(row) for row in rows]
    found = await _execute(session, model, prepared, keys, conflict, update)
    by_key = {tuple(getattr(row, name) for name in conflict): row for row in found}
    ordered = [by_key.get(key) for key in keys]
    # A key that does not come back equal (a case-insensitive collation matched
    # "Ada" to "ada"): keep the database's order rather than guess.
    return found if None in ordered else cast(list[M], ordered)


async def _execute(
    session: AsyncSession,
    model: type[M],
    rows: list[dict[str, Any]],
    keys: list[tuple[Any, ...]],
    conflict: Sequence[str],
    update: Sequence[str],
) -> list[M]:
    mapper = inspect(model)
    dialect = session.get_bind(mapper=mapper).dialect
    table_columns: Mapping[str, Column[Any]] = mapper.columns
    insert = _INSERTS.get(dialect.name, mysql.insert)
    statement: Any = insert(model)
    proposed = statement.inserted if dialect.name in ("mysql", "mariadb") else statement.excluded
    changes: dict[Column[Any], Any] = {
        table_columns[name]: proposed[table_columns[name].key] for name in update
    }
    if changes:
        for column in mapper.local_table.columns:
            # ON CONFLICT / ON DUPLICATE KEY do not apply Column.onupdate (see
            # SQLAlchemy's on_conflict_do_update docs): updated_at would stay.
            # Only SQL expressions: the SET clause must hold no bound parameter,
            # which MySQL drivers' executemany cannot place after VALUES.
            default = column.onupdate
            if column not in changes and default is not None and default.is_clause_element:
                changes[column] = getattr(default, "arg", None)
        key = version_key(model)
        if key:
            changes[table_columns[key]] = table_columns[key] + literal_column("1")
    if issubclass(model, SoftDelete):
        changes[table_columns["deleted_at"]] = null()  # the upserted row is live again
    if not changes:  # update nothing, but still return the existing row
        first = table_columns[conflict[0]]
        changes[first] = first
    if dialect.name in ("mysql", "mariadb"):
        # Fires on any unique key of the table; MariaDB's RETURNING then shows
        # the row as updated (MariaDB 10.5+, pinned by test_upsert.py).
        statement = statement.on_duplicate_key_update(changes)
    else:
        index = [table_columns[name] for name in conflict]
        statement = statement.on_conflict_do_update(index_elements=index, set_=changes)
    # The rows go as executemany parameters, not in .values(): SQLAlchemy's
    # "insertmanyvalues" then sends them 1000 to a multi-row statement compiled
    # once, which is 2-4 times faster than one huge VALUES list compiled per call.
    options = {"populate_existing": True}
    if dialect.insert_returning:
        returning = statement.returning(model)
        result = await session.execute(returning, rows, execution_options=options)
        return list(result.scalars().all())
    await session.execute(statement, rows)
    # MySQL: no RETURNING. A locking read sees the latest committed row even
    # under REPEATABLE READ, and this transaction holds its lock already.
    key_columns = [table_columns[name] for name in conflict]
    where = (
        key_columns[0].in_([key[0] for key in keys])
        if len(key_columns) == 1
        else tuple_(*key_columns).in_(keys)
    )
    read = Read(model=model, criteria=(where,), with_for_update=True, include_deleted=True)
    select = read.select().execution_options(populate_existing=True)
    return list((await session.scalars(select)).all())


async def get_or_create(session: AsyncSession, row: M, existing: Read) -> tuple[M, bool]:
    """Insert ``row`` in a SAVEPOINT; on a unique violation, return the ``existing`` row.

    ``existing`` selects the row by the same keys with a locking read: a
    plain read in MySQL's REPEATABLE READ would not see a row committed after
    this transaction's first read.
    """
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except (UniqueViolationError, sa_exc.IntegrityError) as exc:
        if not isinstance(translate(exc), UniqueViolationError):
            raise
        found = (await session.scalars(existing.select(ordered=False))).one_or_none()
        if found is None:  # the key is held by a soft-deleted row, or by other columns
            raise
        return found, False
    await load_expired(session, row)
    return row, True


def version_key(model: type[Any]) -> str | None:
    """Return the attribute name of ``model``'s version counter (``Versioned``), if any."""
    mapper = inspect(model)
    column = mapper.version_id_col
    return None if column is None else mapper.get_property_by_column(column).key
