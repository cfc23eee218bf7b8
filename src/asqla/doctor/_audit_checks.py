"""The model audit's checks: one function per thing audited (a table, a mapper, a session factory).

Each check reads SQLAlchemy's own description of the models (``Table``,
``Mapper``, ``RelationshipProperty``) and yields `AuditFinding`s; where an
object is declared comes from the caller's `Locator`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import DateTime, Enum, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapper, RelationshipProperty
from sqlalchemy.types import TypeDecorator, TypeEngine

from ..model import SoftDelete
from ._audit_report import AuditFinding
from ._declared import Locator
from ._eager import attribute_name
from ._index_ddl import IndexSpec, alembic_code

__all__ = ["check_mapper", "check_sessionmaker", "check_table"]

# SQLAlchemy's legacy values of relationship(lazy=...).
_LAZY: Final[dict[Any, str]] = {True: "select", False: "joined", None: "noload"}


def check_table(table: Table, backend: str | None, locator: Locator) -> Iterator[AuditFinding]:
    """Foreign keys without an index, naive datetimes and strings without a length."""
    owner = locator.owner(table)

    def target(key: str) -> str:
        return f"{owner.__name__}.{key}" if owner is not None else f"{table.name}.{key}"

    if backend != "mysql":
        yield from _unindexed_foreign_keys(
            table, backend, locator, target, mapped=owner is not None
        )
    for column in table.columns:
        kind = _unwrap(column.type)
        if isinstance(kind, DateTime) and not kind.timezone:
            yield AuditFinding(
                kind="naive_datetime",
                severity="warning",
                target=target(column.key),
                location=locator.column(table, column.key),
                message=(
                    f"{table.name}.{column.name} is a DateTime without time zone: its values "
                    "come back naive, their time zone is a guess, and comparing them with "
                    "aware datetimes raises TypeError."
                ),
                fix=(
                    f"{column.key}: Mapped[datetime]  # asqla's Base maps it to UTCDateTime "
                    "(aware UTC on every backend)\n"
                    "# or: mapped_column(DateTime(timezone=True))"
                ),
            )
        if (
            backend in (None, "mysql")
            and isinstance(kind, String)
            and not isinstance(kind, Text | Enum)
            and kind.length is None
        ):
            yield AuditFinding(
                kind="unbounded_string",
                severity="error" if backend == "mysql" else "warning",
                target=target(column.key),
                location=locator.column(table, column.key),
                message=(
                    f"{table.name}.{column.name} is a String without a length: MariaDB and "
                    "MySQL refuse it in CREATE TABLE (VARCHAR requires a length)."
                ),
                fix="mapped_column(String(255))  # or Text() for long text",
            )


def _unindexed_foreign_keys(
    table: Table,
    backend: str | None,
    locator: Locator,
    target: Callable[[str], str],
    *,
    mapped: bool,
) -> Iterator[AuditFinding]:
    for constraint in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
        columns = tuple(constraint.column_keys)
        if not columns or _indexed(table, columns):
            continue
        referred = constraint.referred_table.name
        names = ", ".join(columns)
        spec = IndexSpec(table.name, columns, schema=table.schema)
        if len(columns) == 1 and mapped:
            referred_column = constraint.elements[0].target_fullname
            declared = f'mapped_column(ForeignKey("{referred_column}"), index=True)'
        else:
            quoted = ", ".join(f'"{c}"' for c in columns)
            where = "in __table_args__" if mapped else "in the Table(...) arguments"
            declared = f'Index("{spec.name()}", {quoted})  # {where}'
        yield AuditFinding(
            kind="unindexed_foreign_key",
            severity="warning",
            target=target(columns[0]) if len(columns) == 1 else f"{table.name}({names})",
            location=locator.column(table, columns[0]),
            message=(
                f"{table.name}({names}) references {referred}, but no index starts with "
                f"{names}: finding the {table.name} rows of a given {referred}, to load them or "
                f"to check the key when it is deleted, reads all of {table.name}"
                + (
                    " (MariaDB/MySQL index foreign keys themselves; PostgreSQL and SQLite do not)."
                    if backend is None
                    else "."
                )
            ),
            fix=f"{declared}\n# migration:\n{alembic_code(spec, backend or 'sqlite')}",
        )


def _indexed(table: Table, columns: tuple[str, ...]) -> bool:
    """Tell whether an index, the primary key or a unique constraint starts with ``columns``."""
    leading: list[list[str]] = [[c.key for c in table.primary_key.columns]]
    leading += [[c.key for c in index.columns] for index in table.indexes]
    leading += [
        [c.key for c in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    wanted = set(columns)
    return any(set(keys[: len(columns)]) == wanted for keys in leading)


def check_mapper(
    mapper: Mapper[Any], backend: str | None, locator: Locator
) -> Iterator[AuditFinding]:
    """Relationships that fail or degrade under asyncio, and soft-deleted unique values."""
    cls = mapper.class_
    for prop in mapper.relationships:
        if prop.parent is not mapper:
            continue  # inherited: reported on the class that declares it
        yield from _relationship(prop, locator.of(cls, prop.key))
    if issubclass(cls, SoftDelete) and isinstance(mapper.local_table, Table):
        yield from _soft_delete_uniques(mapper, mapper.local_table, backend, locator)


def _relationship(prop: RelationshipProperty[Any], location: str | None) -> Iterator[AuditFinding]:
    lazy = prop.lazy if isinstance(prop.lazy, str) else _LAZY.get(prop.lazy, "select")
    name = attribute_name(prop)
    target = prop.mapper.class_.__name__
    loader = "selectinload" if prop.uselist else "joinedload"
    if lazy == "select":
        has_async_attrs = hasattr(prop.parent.class_, "awaitable_attrs")
        yield AuditFinding(
            kind="lazy_relationship",
            severity="warning",
            target=name,
            location=location,
            message=(
                f'{name} loads lazily (lazy="select", SQLAlchemy\'s default): under asyncio, '
                f"reading it when the query did not load it raises MissingGreenlet, and in a "
                f"loop over {prop.parent.class_.__name__} rows it is an N+1."
                + (
                    ""
                    if has_async_attrs
                    else f" {prop.parent.class_.__name__} has no AsyncAttrs, so "
                    "`await obj.awaitable_attrs...` is not available either."
                )
            ),
            fix=(
                f'relationship(..., lazy="raise_on_sql")  # refuse the hidden IO, and load it '
                f"where it is needed:\nselect(...).options({loader}({name}))"
            ),
        )
    elif lazy == "dynamic":
        yield AuditFinding(
            kind="dynamic_relationship",
            severity="error",
            target=name,
            location=location,
            message=(
                f'{name} is lazy="dynamic": its query runs synchronous IO, which the asyncio '
                "extension does not support (SQLAlchemy: use write_only relationships instead)."
            ),
            fix=(
                f"{prop.key}: WriteOnlyMapped[{target}] = relationship()\n"
                f"rows = (await session.scalars(obj.{prop.key}.select())).all()"
            ),
        )
    elif lazy == "joined" and prop.uselist:
        yield AuditFinding(
            kind="joined_collection",
            severity="warning",
            target=name,
            location=location,
            message=(
                f'{name} is a collection loaded lazy="joined" by default: every query that '
                f"loads a {prop.parent.class_.__name__} joins all its {target} rows, one result "
                "row per child, even where nothing reads them."
            ),
            fix=(
                f'relationship(..., lazy="selectin")  # one extra IN query, no row '
                f"multiplication\n# or load it per query: .options(selectinload({name}))"
            ),
        )


def _soft_delete_uniques(
    mapper: Mapper[Any], table: Table, backend: str | None, locator: Locator
) -> Iterator[AuditFinding]:
    cls = mapper.class_
    uniques: list[tuple[str | None, tuple[str, ...]]] = [
        (
            constraint.name if isinstance(constraint.name, str) else None,
            tuple(constraint.columns.keys()),
        )
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    uniques += [
        (index.name if isinstance(index.name, str) else None, tuple(index.columns.keys()))
        for index in table.indexes
        if index.unique and not _partial_on_deleted_at(index)
    ]
    for name, columns in uniques:
        if not columns or "deleted_at" in columns:
            continue
        names = ", ".join(columns)
        index_name = name or f"uq_{table.name}_{'_'.join(columns)}"
        quoted = ", ".join(f'"{c}"' for c in columns)
        if backend == "mysql":
            fix = (
                "# MariaDB/MySQL have no partial indexes: a generated column that is NULL "
                "once deleted\n"
                'alive: Mapped[bool | None] = mapped_column(Computed("CASE WHEN deleted_at IS '
                'NULL THEN 1 END"))\n'
                f'__table_args__ = (UniqueConstraint({quoted}, "alive", name="{index_name}"),)'
            )
        else:
            fix = (
                f"# instead of unique=True / UniqueConstraint({quoted}):\n"
                f'__table_args__ = (Index("{index_name}", {quoted}, unique=True, '
                'postgresql_where=text("deleted_at IS NULL"), '
                'sqlite_where=text("deleted_at IS NULL")),)'
            )
        yield AuditFinding(
            kind="soft_delete_unique",
            severity="warning",
            target=f"{cls.__name__}.{columns[0]}"
            if len(columns) == 1
            else f"{table.name}({names})",
            location=locator.of(cls, columns[0]),
            message=(
                f"{cls.__name__} is soft-deleted, but the unique constraint on {names} counts "
                f"deleted rows too: a new row cannot reuse the {names} of a deleted one "
                "(UniqueViolationError). Make it unique among live rows only."
            ),
            fix=fix,
        )


def _partial_on_deleted_at(index: Index) -> bool:
    for dialect in ("postgresql", "sqlite"):
        where = (
            index.dialect_options[dialect].get("where")
            if dialect in index.dialect_options
            else None
        )
        if where is not None and "deleted_at" in str(where):
            return True
    return False


def check_sessionmaker(
    factory: async_sessionmaker[Any], name: str, location: str | None
) -> Iterator[AuditFinding]:
    """An async session factory that expires every object on commit."""
    if not factory.kw.get("expire_on_commit", True):
        return
    yield AuditFinding(
        kind="expire_on_commit",
        severity="error",
        target=name,
        location=location,
        message=(
            f"{name}, an async_sessionmaker, expires every object on commit "
            "(expire_on_commit=True, SQLAlchemy's default): any attribute read after a "
            "commit needs IO, and under asyncio that raises MissingGreenlet, in a response "
            "serialiser for example."
        ),
        fix="async_sessionmaker(engine, expire_on_commit=False)  # asqla's Database does this",
    )


def _unwrap(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type a TypeDecorator stands for (``UTCDateTime`` is an aware DateTime)."""
    while isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return kind
