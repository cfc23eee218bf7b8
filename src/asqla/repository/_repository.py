"""``Repository``: reads and writes of one model through a session it is given."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast, overload

from sqlalchemy import ColumnElement, inspect

from ..exceptions import VersionConflictError
from ..model.soft_delete import SoftDelete
from . import _upsert, _writes, bulk
from ._reads import ReadRepository
from .filters import FilterSet
from .loading import Criterion, Read, column_names, key_clause, load_expired

__all__ = ["Repository"]

M = TypeVar("M")


class Repository(ReadRepository[M]):
    """Read and write one model through the ``AsyncSession`` it is given.

    A repository never commits: the unit of work that owns the session (the
    request, or ``db.session()``) does. It flushes when it needs values the
    database generates. Subclass it with the model as the type parameter, or
    set ``model``; declare what untrusted input may filter and sort on with
    ``filters`` and ``sortable`` (see `asqla.repository.filters`).

    Rows of a `SoftDelete` model that are soft-deleted are
    hidden from every read and write; ``delete`` marks rows deleted unless
    ``hard=True``. A repository made with ``include_deleted=True`` sees them.

    Example::

        class UserRepository(Repository[User]):
            filters = FilterSpec(name=["eq", "contains"], created_at=["gt", "lt"])
            sortable = ("created_at", "name")

        async with db.session() as session:
            users = UserRepository(session)
            ada = await users.create({"name": "Ada", "email": "ada@example.com"})
            ada = await users.update(ada.id, {"name": "Ada Lovelace"})
    """

    async def create(self, values: M | Mapping[str, Any]) -> M:
        """Add a row and flush it, so that generated values (id, timestamps) are set."""
        row = values if isinstance(values, self.model) else self._new(values)
        self.session.add(row)
        await self.session.flush()
        await load_expired(self.session, row)
        return row

    @overload
    async def create_many(
        self, rows: bulk.Rows[M], *, returning: Literal[True] = True
    ) -> builtins.list[M]: ...

    @overload
    async def create_many(self, rows: bulk.Rows[M], *, returning: Literal[False]) -> int: ...

    async def create_many(
        self, rows: bulk.Rows[M], *, returning: bool = True
    ) -> builtins.list[M] | int:
        """Insert many rows; return them with their generated values, or only their count.

        With ``returning`` (the default) the rows are added to the session and
        flushed in batched INSERT statements (with RETURNING where the backend
        has it). ``returning=False`` takes the fastest path the driver has, such as
        ``COPY`` on PostgreSQL, through `asqla.repository.bulk.bulk_insert()`,
        which also reads an async iterable a batch at a time.
        """
        if not returning:
            return await bulk.bulk_insert(self.session, self.model, rows)
        given = [row async for row in rows] if isinstance(rows, AsyncIterable) else rows
        made = [row if isinstance(row, self.model) else self._new(row) for row in given]
        self.session.add_all(made)
        await self.session.flush()
        return made

    async def update(self, target: M | Any, values: Mapping[str, Any]) -> M:
        """Change some columns of one row; return it with the database's new values.

        ``target`` is a loaded object, or a primary key: then nothing is read
        first, one ``UPDATE ... RETURNING`` does it (an UPDATE and a SELECT on
        MariaDB and MySQL, which have no UPDATE RETURNING). On a ``Versioned``
        model the version moves, and ``values["version"]``, if given, is the
        version the caller read; an object is checked against the version it
        was loaded with.

        Raises:
            NotFoundError: No row has that key.
            VersionConflictError: The row is no longer at the version read.
        """
        changes = dict(values)
        column_names(self.model, changes, what="update()")
        version = _upsert.version_key(self.model)
        expected = changes.pop(version, None) if version else None
        if isinstance(target, self.model):
            if expected is not None and expected != getattr(target, cast(str, version)):
                raise self._conflict(target, expected)
            for name, value in changes.items():
                setattr(target, name, value)
            self.session.add(target)
            await self.session.flush()
            await load_expired(self.session, target)
            return target
        read = self._read([key_clause(self.model, target)])
        where = read.where(explicit_soft_delete=True)
        if expected is not None:
            where.append(getattr(self.model, cast(str, version)) == expected)
        if changes:
            found = await _writes.update_returning(self.session, self.model, where, changes, read)
        else:
            found = await self._one(self._read(where))
        if found is None:
            if expected is not None and await self.exists(key_clause(self.model, target)):
                raise self._conflict(target, expected)
            raise self._not_found(f"with key {target!r}")
        return found

    async def update_where(
        self, where: Criterion | Sequence[Criterion], values: Mapping[str, Any]
    ) -> int:
        """Set ``values`` on every row matching ``where``; return how many rows matched.

        One UPDATE statement; objects in the session are updated to match, and
        ``Versioned`` rows get a new version. ``where`` must not be empty:
        pass ``sqlalchemy.true()`` to update every row.
        """
        column_names(self.model, values, what="update_where()")
        conditions = self._write_where(where, hard=False)
        return await _writes.update_rows(self.session, self.model, conditions, dict(values))

    async def delete(self, target: M | Any, *, hard: bool = False) -> None:
        """Delete one row, given as a loaded object or a primary key.

        On a ``SoftDelete`` model this sets ``deleted_at``, unless ``hard``.
        A hard delete by key is one DELETE statement, unless the model has
        one-to-many or many-to-many relationships without ``passive_deletes``,
        whose rows the ORM deletes or unlinks: then the row is loaded and
        deleted through the session.

        Raises:
            NotFoundError: No row has that key (a soft delete: no live row).
        """
        soft = _writes.is_soft(self.model) and not hard
        if isinstance(target, self.model) or (not soft and _writes.cascades(self.model)):
            row = target if isinstance(target, self.model) else await self._hard_target(target)
            if soft:
                cast(SoftDelete, row).soft_delete()
            else:
                await self.session.delete(row)
            await self.session.flush()
        elif not await self.delete_where(key_clause(self.model, target), hard=hard):
            raise self._not_found(f"with key {target!r}")

    async def delete_where(
        self, where: Criterion | Sequence[Criterion], *, hard: bool = False
    ) -> int:
        """Delete every row matching ``where`` in one statement; return how many.

        On a ``SoftDelete`` model this sets ``deleted_at`` on the live rows,
        unless ``hard``. A hard delete removes soft-deleted rows too, and
        leaves cascades to the database's ``ON DELETE`` rules. ``where`` must
        not be empty: pass ``sqlalchemy.true()`` to delete every row.
        """
        if _writes.is_soft(self.model) and not hard:
            conditions = self._write_where(where, hard=False)
            return await _writes.soft_delete_rows(self.session, self.model, conditions)
        conditions = self._write_where(where, hard=True)
        return await _writes.delete_rows(self.session, self.model, conditions)

    async def upsert(
        self,
        values: Mapping[str, Any],
        *,
        conflict: Sequence[str] | None = None,
        update: Sequence[str] | None = None,
    ) -> M:
        """Insert a row, or update the one it conflicts with; see `upsert_many()`."""
        return (await self.upsert_many([values], conflict=conflict, update=update))[0]

    async def upsert_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        conflict: Sequence[str] | None = None,
        update: Sequence[str] | None = None,
    ) -> builtins.list[M]:
        """Insert rows, updating those that conflict, atomically; return them in input order.

        ``INSERT ... ON CONFLICT (conflict) DO UPDATE ... RETURNING`` on
        PostgreSQL and SQLite, ``INSERT ... ON DUPLICATE KEY UPDATE`` on
        MariaDB (with RETURNING) and MySQL (then a locking read by the
        conflict key). Never a read then a write: concurrent upserts of one
        key cannot both insert.

        Args:
            rows: Column values; the same columns in every row.
            conflict: The columns of the unique constraint that identifies a
                row (default: the primary key). MariaDB and MySQL react to
                any unique key of the table instead.
            update: The columns to overwrite on a conflict (default: every
                given column not in ``conflict``); ``()`` keeps the existing row.

        On an update, ``updated_at`` (``Timestamps``) moves and ``version``
        (``Versioned``) increments. A soft-deleted row that conflicts is
        restored: an upsert always ends with a live row.
        """
        return await _upsert.upsert(
            self.session, self.model, rows, conflict=conflict, update=update
        )

    async def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **keys: Any
    ) -> tuple[M, bool]:
        """Return ``(row, created)``: the row whose columns equal ``keys``, made if missing.

        Safe under concurrency when a unique constraint covers ``keys``: the
        INSERT runs in a SAVEPOINT, and if another transaction inserted the
        row first, its unique violation is caught and that row is read.

        Raises:
            UniqueViolationError: Another unique constraint rejected the row,
                or the key belongs to a soft-deleted row.
        """
        where = self._equals(keys)
        found = await self._one(self._read(where))
        if found is not None:
            return found, False
        # A locking read: a plain one under MySQL's REPEATABLE READ would not see
        # a row committed after this transaction's first read.
        existing = self._read(where, with_for_update={"read": True})
        row = self.model(**{**(defaults or {}), **keys})
        return await _upsert.get_or_create(self.session, row, existing)

    def _new(self, values: Any) -> M:
        return self.model(**values)

    def _write_where(
        self, where: Criterion | Sequence[Criterion], *, hard: bool
    ) -> builtins.list[ColumnElement[bool]]:
        criteria = tuple(where) if isinstance(where, Sequence) else (where,)
        if not any(not isinstance(c, FilterSet) or c for c in criteria):
            raise ValueError(
                f"Refusing to write every {self.model.__name__} row: the condition is empty "
                "(no filters were given). Pass sqlalchemy.true() to mean every row."
            )
        read = Read(
            model=self.model, criteria=criteria, include_deleted=hard or self.include_deleted
        )
        return read.where(explicit_soft_delete=True)

    async def _hard_target(self, key: Any) -> M:
        read = Read(model=self.model, criteria=(key_clause(self.model, key),), include_deleted=True)
        found = await self._one(read)
        if found is None:
            raise self._not_found(f"with key {key!r}")
        return found

    def _conflict(self, target: Any, expected: Any) -> VersionConflictError:
        shown = target if not isinstance(target, self.model) else _identity(target)
        return VersionConflictError(
            f"{self.model.__name__} with key {shown!r} is no longer at version {expected!r}: "
            "another transaction changed it. Reload the row and apply the change again."
        )


def _identity(row: Any) -> Any:
    identity = inspect(row).identity
    return identity[0] if identity and len(identity) == 1 else identity
