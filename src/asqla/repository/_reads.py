"""``ReadRepository``: the reads of one model through a session it is given."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin, overload

from sqlalchemy import Select, exists, func, inspect, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ..exceptions import NotFoundError
from ..model.soft_delete import INCLUDE_DELETED, SoftDelete
from ._stream import Stream, stream
from .filters import FilterSet, FilterSpec, Sort
from .loading import (
    Criterion,
    KeysetPagination,
    Load,
    Lock,
    OffsetPagination,
    Order,
    Read,
    column_names,
    key_clause,
)
from .pagination import Page, order_for, paginate_keyset, paginate_offset

__all__ = ["ReadRepository"]

M = TypeVar("M")


class ReadRepository(Generic[M]):
    """Read one model through the ``AsyncSession`` it is given.

    The read half of `Repository`, which adds the writes; subclass it
    alone for a repository over a ``ReadSession`` (or a replica), so that a
    write is a type error rather than a runtime one. Subclass it with the
    model as the type parameter, or set ``model``; declare what untrusted
    input may filter and sort on with ``filters`` and ``sortable`` (see
    `asqla.repository.filters`). Soft-deleted rows of a
    `SoftDelete` model are hidden from every read unless
    the repository is made with ``include_deleted=True``.

    Every read takes ``execution_options``, SQLAlchemy's execution options
    (``populate_existing``, ``schema_translate_map``, the keys your own
    ``do_orm_execute`` hooks read), as ``AsyncSession.execute`` does, and
    applies them to each statement it runs, a page's count included. Where
    the repository sets an option itself, its own wins: a locking read
    (``with_for_update``) always has ``populate_existing``, and
    ``include_deleted`` follows the repository; passing that key raises
    ``ValueError``.

    Example::

        class ArticleReader(ReadRepository[Article]):
            filters = FilterSpec(title=["eq", "contains"])
            sortable = ("created_at", "title")

        articles = await ArticleReader(read_session).list(filters, sort="-created_at")
    """

    model: type[M]
    filters: ClassVar[FilterSpec] = FilterSpec()
    sortable: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in () if "model" in cls.__dict__ else getattr(cls, "__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            if isinstance(origin, type) and issubclass(origin, ReadRepository) and args:
                if isinstance(args[0], type) and args[0] is not Any:
                    cls.model = args[0]
                return

    def __init__(self, session: AsyncSession, *, include_deleted: bool = False) -> None:
        if not isinstance(getattr(type(self), "model", None), type):
            raise TypeError(
                f"{type(self).__name__} does not know its model. Subclass "
                "Repository[YourModel] (or ReadRepository[YourModel]), or set "
                "`model = YourModel` in the class body."
            )
        self.session = session
        self.include_deleted = include_deleted

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model.__name__}>"

    @classmethod
    def parse_filters(cls, params: Mapping[str, Any]) -> FilterSet:
        """Check untrusted ``params`` (``{"name__contains": "ad"}``) against ``filters``.

        Raises:
            FilterError: A field, operator or value is not allowed.
        """
        return cls.filters.parse(cls.model, params)

    @classmethod
    def parse_sort(cls, text: str | None) -> Sort:
        """Check an untrusted sort (``"-created_at,name"``) against ``sortable``.

        Raises:
            FilterError: A key is not sortable, repeated, or empty.
        """
        return Sort.parse(text, model=cls.model, sortable=cls.sortable)

    async def get(
        self,
        key: Any,
        *,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
    ) -> M:
        """Return the row with primary key ``key`` (a tuple for a composite key).

        Without ``load``, ``with_for_update`` or the ``populate_existing``
        execution option, an object already in the session is returned
        without a query. ``execution_options`` apply to the SELECT, as in
        ``AsyncSession.get``.

        Example::

            fresh = await users.get(user_id, execution_options={"populate_existing": True})

        Raises:
            NotFoundError: No such row.
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        found = await self.get_or_none(
            key, load=load, with_for_update=with_for_update, execution_options=execution_options
        )
        if found is None:
            raise self._not_found(f"with key {key!r}")
        return found

    async def get_or_none(
        self,
        key: Any,
        *,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
    ) -> M | None:
        """Return the row with primary key ``key``, or ``None``; see `get()`."""
        where = key_clause(self.model, key)  # checks the key's shape too
        read = self._read(
            [where], load=load, with_for_update=with_for_update, execution_options=execution_options
        )
        if load:
            return await self._one(read)
        run = read.run_options()
        found = await self.session.get(
            self.model,
            key,
            with_for_update=with_for_update or None,
            # A parameter of its own: SQLAlchemy 2.0 reads it, not the
            # execution option, to decide whether the identity map may answer.
            populate_existing=bool(run.get("populate_existing")),
            execution_options=run,
        )
        # The identity map answers without SQL, and a row that delete_where()
        # soft-deleted in this session may still be in it.
        hidden = isinstance(found, SoftDelete) and not self.include_deleted
        return None if hidden and inspect(found).dict.get("deleted_at") else found

    async def get_by(
        self,
        *,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
        **equals: Any,
    ) -> M:
        """Return the one row whose columns equal ``equals``: ``get_by(email=...)``.

        ``execution_options`` apply to the SELECT; see `ReadRepository`.

        Raises:
            NotFoundError: No row matches.
            sqlalchemy.exc.MultipleResultsFound: More than one row matches.
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        found = await self.get_by_or_none(
            load=load,
            with_for_update=with_for_update,
            execution_options=execution_options,
            **equals,
        )
        if found is None:
            shown = ", ".join(f"{name}={value!r}" for name, value in equals.items())
            raise self._not_found(f"with {shown}")
        return found

    async def get_by_or_none(
        self,
        *,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
        **equals: Any,
    ) -> M | None:
        """Return the one row whose columns equal ``equals``, or ``None``; see `get_by()`."""
        read = self._read(
            self._equals(equals),
            load=load,
            with_for_update=with_for_update,
            execution_options=execution_options,
        )
        return await self._one(read)

    @overload
    async def list(
        self,
        *criteria: Criterion,
        sort: Order = None,
        page: None = None,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
    ) -> builtins.list[M]: ...

    @overload
    async def list(
        self,
        *criteria: Criterion,
        sort: Order = None,
        page: OffsetPagination | KeysetPagination,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
    ) -> Page[M]: ...

    async def list(
        self,
        *criteria: Criterion,
        sort: Order = None,
        page: OffsetPagination | KeysetPagination | None = None,
        load: Load = (),
        with_for_update: Lock = False,
        execution_options: Mapping[str, Any] | None = None,
    ) -> builtins.list[M] | Page[M]:
        """Return the rows matching every criterion, ordered by ``sort`` then primary key.

        ``criteria`` are SQLAlchemy conditions (``User.age > 30``) or a
        `FilterSet` parsed from untrusted input. ``sort`` is a
        `Sort`, a string checked against ``sortable``, or trusted
        ``ORDER BY`` expressions. With ``page``, returns that `Page`.
        ``execution_options`` apply to every statement: the rows, and a
        page's count or PostgreSQL estimate (see `ReadRepository`).

        Example::

            await users.list(User.active, sort="-created_at", load=[selectinload(User.posts)])
            await users.list(filters, page=KeysetPagination(limit=20, after=cursor))
            await users.list(execution_options={"populate_existing": True})

        Raises:
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        read = self._read(
            criteria,
            sort=sort,
            load=load,
            with_for_update=with_for_update,
            execution_options=execution_options,
        )
        if page is None:
            statement = self._ordered(read)
            return builtins.list((await self.session.scalars(statement)).unique())
        # Soft delete spelled out for the page's COUNT subquery. The page's
        # statements all derive from this one and keep its execution options;
        # the count and the estimate take them too (_count.count_rows).
        statement = read.select(ordered=False, explicit_soft_delete=True)
        if isinstance(page, OffsetPagination):
            paged = await paginate_offset(
                self.session, statement, sort=read.order_by(), limit=page.limit,
                offset=page.offset, count=page.count, options=page.options,
            )  # fmt: skip
        else:
            paged = await paginate_keyset(
                self.session, statement, sort=read.order_by(), limit=page.limit,
                after=page.after, before=page.before, count=page.count, signer=page.signer,
                options=page.options,
            )  # fmt: skip
        return cast("Page[M]", paged)  # a string: subscripting builds a pydantic class

    async def count(
        self, *criteria: Criterion, execution_options: Mapping[str, Any] | None = None
    ) -> int:
        """Return how many rows match every criterion.

        ``execution_options`` apply to the ``SELECT count(*)``; see `ReadRepository`.

        Raises:
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        read = self._read(criteria, execution_options=execution_options)
        where = read.where(explicit_soft_delete=True)
        statement = select(func.count()).select_from(self.model).where(*where)
        return int(await self.session.scalar(_explicitly_filtered(statement, read)) or 0)

    async def exists(
        self, *criteria: Criterion, execution_options: Mapping[str, Any] | None = None
    ) -> bool:
        """Return whether any row matches every criterion.

        ``execution_options`` apply to the ``SELECT EXISTS``; see `ReadRepository`.

        Raises:
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        read = self._read(criteria, execution_options=execution_options)
        inner = select(true()).select_from(self.model).where(*read.where(explicit_soft_delete=True))
        return bool(await self.session.scalar(_explicitly_filtered(select(exists(inner)), read)))

    def stream(
        self,
        *criteria: Criterion,
        sort: Order = None,
        load: Load = (),
        yield_per: int = 1000,
        execution_options: Mapping[str, Any] | None = None,
    ) -> Stream[M]:
        """Iterate over the matching rows, fetched ``yield_per`` at a time.

        A server-side cursor (see `asqla.repository.stream()`): memory
        stays flat however many rows match. Close it if you may stop early::

            async with users.stream(User.active, sort="name") as rows:
                async for user in rows:
                    ...

        ``execution_options`` apply to the SELECT (see `ReadRepository`);
        the stream sets ``yield_per`` (from the argument) and ``stream_results``
        itself, over any given there.

        Raises:
            ValueError: ``execution_options`` sets ``include_deleted``.
        """
        read = self._read(criteria, sort=sort, load=load, execution_options=execution_options)
        return stream(self.session, self._ordered(read), batch_size=yield_per)

    def _ordered(self, read: Read) -> Select[Any]:
        """``read``'s statement in its order, NULLs placed as in its pages on every backend."""
        statement = read.select(ordered=False)
        dialect = self.session.get_bind(clause=statement).dialect
        return statement.order_by(*order_for(read.order_by(), dialect))

    def _read(
        self,
        criteria: Iterable[Criterion],
        *,
        execution_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Read:
        return Read(
            model=self.model,
            criteria=tuple(criteria),
            sortable=self.sortable,
            include_deleted=self.include_deleted,
            execution_options=execution_options or {},
            **options,
        )

    async def _one(self, read: Read) -> M | None:
        statement = read.select(ordered=False)  # one row: nothing to order
        return cast("M | None", (await self.session.scalars(statement)).unique().one_or_none())

    def _equals(self, equals: Mapping[str, Any]) -> builtins.list[Criterion]:
        column_names(self.model, equals, what="get_by()")
        return [getattr(self.model, name) == value for name, value in equals.items()]

    def _not_found(self, what: str) -> NotFoundError:
        return NotFoundError(
            f"{self.model.__name__} {what} does not exist. Check the key, or create the row first."
        )


def _explicitly_filtered(statement: Select[Any], read: Read) -> Select[Any]:
    """``statement`` with ``read``'s execution options, for a WHERE that hides deleted rows.

    The WHERE clause already hides deleted rows unless ``include_deleted``:
    the automatic filter must not hide them again. The caller's options come
    first and cannot turn this off (`Read` refuses ``include_deleted``).
    """
    return statement.execution_options(**{**read.run_options(), INCLUDE_DELETED: True})
