"""The model audit: what the models will do wrong, read from the mappers, without a database.

`audit_models` takes the models (a declarative base, a module, mapped
classes) and reports, each with where it is declared and the fix as code:

- ``unindexed_foreign_key``: a foreign key whose columns no index starts
  with, so that loading a parent's children and deleting a parent scan the
  whole child table. Many-to-many association tables included. MariaDB and
  MySQL (InnoDB) index every foreign key themselves: not reported there.
- ``lazy_relationship``: a relationship left ``lazy="select"``, SQLAlchemy's
  default: under asyncio, reading it unloaded raises ``MissingGreenlet``,
  and in a loop it is an N+1.
- ``dynamic_relationship``: ``lazy="dynamic"``, which the asyncio extension
  does not support at all.
- ``joined_collection``: ``lazy="joined"`` on a collection, which multiplies
  the rows of every query that loads the parent.
- ``expire_on_commit``: an ``async_sessionmaker`` that expires objects on
  commit, so that any attribute read after a commit needs IO.
- ``naive_datetime``: a ``DateTime`` without time zone.
- ``unbounded_string``: a ``String`` without a length, which MySQL and
  MariaDB refuse in ``CREATE TABLE``.
- ``soft_delete_unique``: a unique constraint on a `SoftDelete` table that
  soft-deleted rows still hold, so that their values cannot be used again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Final

from sqlalchemy import Table, inspect
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapper, registry

from ._audit_checks import check_mapper, check_sessionmaker, check_table
from ._audit_report import AuditFinding, AuditReport
from ._declared import Locator

__all__ = ["audit_models"]

_DIALECTS: Final = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}


def audit_models(
    models: ModuleType | type | registry | Iterable[type],
    *,
    dialect: str | None = None,
    sessionmaker: async_sessionmaker[Any] | None = None,
) -> AuditReport:
    """Audit mapped classes for what will fail or degrade, without connecting to a database.

    Args:
        models: A declarative base (all its mapped classes), a module (the
            mapped classes it defines, and the ``async_sessionmaker``
            instances it holds), a ``registry``, a mapped class, or an
            iterable of mapped classes.
        dialect: ``"postgresql"``, ``"mysql"`` (MariaDB included) or
            ``"sqlite"`` to audit for one backend; ``None`` (the default)
            reports what goes wrong on any of them.
        sessionmaker: An ``async_sessionmaker`` to audit too.

    Returns:
        The report; ``report.to_dict()`` is its JSON form.

    Raises:
        ValueError: ``dialect`` is not one of the three, or ``models`` holds
            no mapped class.

    Example:
        >>> report = audit_models(Base, dialect="postgresql")
        >>> [f.kind for f in report.findings]  # doctest: +SKIP
        ['unindexed_foreign_key', 'lazy_relationship']
    """
    if dialect is not None and dialect not in _DIALECTS:
        raise ValueError(
            f"audit_models(dialect=...) must be one of {sorted(_DIALECTS)!r} or None, "
            f"got {dialect!r}."
        )
    backend = _DIALECTS[dialect] if dialect else None
    mappers = _mappers(models)
    if not mappers:
        raise ValueError(
            f"{models!r} holds no mapped class: pass a declarative base, a module that defines "
            "models, or the mapped classes themselves."
        )
    for registry_ in {id(m.registry): m.registry for m in mappers}.values():
        registry_.configure()
    locator = Locator(mappers)
    factories = list(_sessionmakers(models, locator))
    if sessionmaker is not None and all(f is not sessionmaker for f, _, _ in factories):
        factories.append((sessionmaker, "async_sessionmaker", None))
    found: list[AuditFinding] = []
    for table in _tables(mappers):
        found += check_table(table, backend, locator)
    for mapper in mappers:
        found += check_mapper(mapper, backend, locator)
    for factory, name, location in factories:
        found += check_sessionmaker(factory, name, location)
    found.sort(key=_order)
    return AuditReport(dialect, tuple(m.class_.__name__ for m in mappers), tuple(found))


def _order(finding: AuditFinding) -> tuple[str, int, str]:
    path, _, line = (finding.location or "~:0").rpartition(":")
    return path, int(line) if line.isdigit() else 0, finding.kind


def _mappers(models: Any) -> list[Mapper[Any]]:
    if isinstance(models, ModuleType):
        found = [
            value
            for value in vars(models).values()
            if isinstance(value, type) and value.__module__ == models.__name__
        ]
        return [m for m in map(_mapper, found) if m is not None]
    if isinstance(models, registry):
        return sorted(models.mappers, key=lambda m: m.class_.__name__)
    if isinstance(models, type):
        own = _mapper(models)
        if own is not None:
            return [own]
        base_registry = getattr(models, "registry", None)
        if isinstance(base_registry, registry):
            return _mappers(base_registry)
        return []
    if isinstance(models, Iterable) and not isinstance(models, str | bytes):
        return [m for m in map(_mapper, models) if m is not None]
    return []


def _mapper(cls: Any) -> Mapper[Any] | None:
    mapper = inspect(cls, raiseerr=False) if isinstance(cls, type) else None
    return mapper if isinstance(mapper, Mapper) else None


def _sessionmakers(
    models: Any, locator: Locator
) -> Iterator[tuple[async_sessionmaker[Any], str, str | None]]:
    """The ``async_sessionmaker`` instances a module holds, with their names and lines."""
    if isinstance(models, ModuleType):
        for name, value in vars(models).items():
            if isinstance(value, async_sessionmaker):
                yield value, name, locator.assignment(models, name)


def _tables(mappers: list[Mapper[Any]]) -> list[Table]:
    """The mapped tables and the association tables of their relationships, once each."""
    tables: dict[str, Table] = {}
    for mapper in mappers:
        for table in mapper.tables:
            if isinstance(table, Table):
                tables.setdefault(table.fullname, table)
        for prop in mapper.relationships:
            if isinstance(prop.secondary, Table):
                tables.setdefault(prop.secondary.fullname, prop.secondary)
    return list(tables.values())
