"""Write an index as SQL and as Alembic code, the way each backend should build it.

The SQL is compiled by SQLAlchemy for the dialect, so quoting and syntax are
the backend's own. On PostgreSQL the index is built ``CONCURRENTLY``, which
does not block writes but cannot run inside a transaction: the Alembic code
wraps it in ``autocommit_block()`` (Alembic docs, "Running operations
outside of a transaction").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Column, Index, MetaData, Table, func
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex
from sqlalchemy.types import NullType

__all__ = ["IndexSpec", "alembic_code", "create_index_sql", "hypothetical_sql", "trial_sql"]

_MAX_NAME: Final = {"postgresql": 63, "mysql": 64, "mariadb": 64}


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """An index to suggest: on columns, on a function of one column, or a trigram index."""

    table: str
    columns: tuple[str, ...]
    function: str | None = None
    """``lower`` for ``lower(email)``: an expression index on one column."""
    trigram: bool = False
    """A GIN trigram index (PostgreSQL's ``pg_trgm``), for ``LIKE '%...'``."""
    schema: str | None = None

    def name(self, dialect_name: str = "") -> str:
        """The index name, after asqla's naming convention (``ix_<table>_<columns>``)."""
        parts = [self.table, *([self.function] if self.function else []), *self.columns]
        if self.trigram:
            parts.append("trgm")
        name = re.sub(r"\W", "_", "ix_" + "_".join(parts)).lower()
        return name[: _MAX_NAME.get(dialect_name, 128)]


def _index(spec: IndexSpec, dialect_name: str) -> Index:
    table = Table(
        spec.table, MetaData(), *(Column(c, NullType()) for c in spec.columns), schema=spec.schema
    )
    options: dict[str, Any] = {}
    if dialect_name == "postgresql":
        options["postgresql_concurrently"] = True
        if spec.trigram:
            options["postgresql_using"] = "gin"
            options["postgresql_ops"] = {c: "gin_trgm_ops" for c in spec.columns}
    expressions: list[Any] = [table.c[c] for c in spec.columns]
    if spec.function:
        expressions = [getattr(func, spec.function)(table.c[spec.columns[0]])]
    return Index(spec.name(dialect_name), *expressions, **options)


def create_index_sql(spec: IndexSpec, dialect: Dialect) -> str:
    """Return ``CREATE INDEX ...;`` for ``dialect`` (``CONCURRENTLY`` on PostgreSQL)."""
    statement = str(CreateIndex(_index(spec, dialect.name)).compile(dialect=dialect)).strip()
    if spec.trigram and dialect.name == "postgresql":
        return f"CREATE EXTENSION IF NOT EXISTS pg_trgm;\n{statement};"
    return f"{statement};"


def alembic_code(spec: IndexSpec, dialect_name: str) -> str:
    """Return the Alembic migration code that creates the index."""
    if spec.function:
        columns = f"[sa.text({_py(f'{spec.function}({spec.columns[0]})')})]"
    else:
        columns = _py(list(spec.columns))
    arguments = [_py(spec.name(dialect_name)), _py(spec.table), columns]
    if spec.schema:
        arguments.append(f"schema={_py(spec.schema)}")
    if dialect_name == "postgresql":
        if spec.trigram:
            arguments.append('postgresql_using="gin"')
            arguments.append(f"postgresql_ops={_py({c: 'gin_trgm_ops' for c in spec.columns})}")
        arguments.append("postgresql_concurrently=True")
    indent = "    " if dialect_name == "postgresql" else ""
    call = f"{indent}op.create_index({', '.join(arguments)})"
    if len(call) > 88:
        inner = "".join(f"{indent}    {argument},\n" for argument in arguments)
        call = f"{indent}op.create_index(\n{inner}{indent})"
    if dialect_name != "postgresql":
        return call
    lines = ["with op.get_context().autocommit_block():"]
    if spec.trigram:
        lines.append('    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")')
    lines.append(call)
    return "\n".join(lines)


def _py(value: Any) -> str:
    """Render strings, lists and dicts of them as Python source, with double quotes."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_py(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def hypothetical_sql(spec: IndexSpec, dialect: Dialect) -> str:
    """``CREATE INDEX`` for HypoPG or a trial index: plain, never CONCURRENTLY."""
    index = _index(spec, dialect.name)
    index.dialect_options["postgresql"]["concurrently"] = False
    return str(CreateIndex(index).compile(dialect=dialect)).strip()


def trial_sql(spec: IndexSpec, dialect: Dialect, name: str) -> str:
    """``CREATE INDEX <name> ...`` for a trial index built and rolled back right away."""
    statement = hypothetical_sql(spec, dialect)
    quoted = dialect.identifier_preparer.quote(spec.name(dialect.name))
    return statement.replace(quoted, dialect.identifier_preparer.quote(name), 1)
