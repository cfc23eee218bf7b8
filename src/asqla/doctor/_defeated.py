"""Comparisons that defeat an index: a function or a cast on the column, a leading wildcard.

An index on ``email`` cannot find rows by ``lower(email)``, by
``email LIKE '%@example.com'``, or by ``code = 5`` when ``code`` is a string
column that MariaDB converts to a number row by row. Each gets advice that
names the comparison and its fix: an expression index, a trigram index, or
a rewrite of the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Final

from sqlalchemy.engine import Connection

from ._explain import Plan, PlanNode, backend
from ._index_advice import IndexAdvice, cast_advice
from ._index_ddl import IndexSpec, alembic_code, create_index_sql
from ._predicates import Predicate

__all__ = ["defeated", "leading_wildcard"]

_TEXT_TYPES: Final = frozenset({"text", "character varying", "varchar", "bpchar", "name", "citext"})
# PostgreSQL shows a converted column in the condition: ((n)::numeric = 5.5).
_PG_CAST = re.compile(r"\(\(?(\w+)\)?\)::([\w ]+)")
# MariaDB: "Cannot use key `ix_code` part[0] for lookup: `db`.`t`.`code` of type `varchar` =
# "5" of type `int`", "Cannot use range access on index 'ix' due to type or collation
# conversion on field 'code'".
_MYSQL_CANNOT_USE = re.compile(
    r"Cannot use (?:key .*?`(?P<table>\w+)`\.`(?P<column>\w+)` of type `(?P<type>\w+)`"
    r"(?: = .* of type `(?P<value>\w+)`)?"
    r"|range access on index .*? on field '(?P<field>\w+)')"
)
_DATE_FUNCTIONS: Final = frozenset({"date", "extract", "year", "month", "strftime", "date_trunc"})


def leading_wildcard(value: Any) -> bool:
    """Tell whether a LIKE pattern starts with a wildcard."""
    return isinstance(value, str) and value.startswith(("%", "_"))


def defeated(
    connection: Connection,
    table: str,
    node: PlanNode,
    plan: Plan,
    predicates: Sequence[Predicate],
    has_expression_index: Any,
) -> Iterator[IndexAdvice]:
    """Yield the advice for each comparison on ``table`` that no plain index can serve.

    ``has_expression_index(table, function, column)`` tells whether an index
    on ``function(column)`` exists already (then the planner chose a full
    scan for a small table, and there is nothing to say).
    """
    name = backend(connection.dialect.name)
    for predicate in predicates:
        column = predicate.column
        if predicate.wrapper == "cast":
            yield cast_advice(table, column, f"{column} is cast to another type")
        elif predicate.wrapper is not None:
            if not has_expression_index(table, predicate.wrapper, column):
                yield _function(connection, table, column, predicate.wrapper)
        elif predicate.operator in ("LIKE", "ILIKE") and leading_wildcard(predicate.value):
            yield _wildcard(connection, table, predicate)
    if name == "mysql":
        for note in plan.notes:
            match = _MYSQL_CANNOT_USE.search(note)
            if match and match["table"] in (None, table):
                column = match["column"] or match["field"]
                what = f"{column} is converted for the comparison"
                if match["type"] and match["value"]:
                    what = f"{column} ({match['type']}) is compared with an {match['value']}"
                yield cast_advice(table, column, what)
    if name == "postgresql":
        columns = {p.column for p in predicates}
        for match in _PG_CAST.finditer(node.condition or ""):
            column, type_name = match[1], match[2].strip()
            if type_name not in _TEXT_TYPES and column in columns:
                # PostgreSQL converts the column when the value's type ranks higher
                # (an integer column compared with a numeric value).
                yield cast_advice(table, column, f"{column} is converted to {type_name}")


def _function(connection: Connection, table: str, column: str, function: str) -> IndexAdvice:
    name = backend(connection.dialect.name)
    reason = (
        f"{table} is read in full because the condition compares {function}({column}), not the "
        f"column: an index on {table}.{column} cannot serve a function of it."
    )
    if function in ("lower", "upper"):
        rewrite = f"store {column} normalised and compare the column itself" + (
            " (the default _ci collations already compare case-insensitively)"
            if name == "mysql"
            else " (on PostgreSQL, the citext type compares case-insensitively)"
        )
    elif function in _DATE_FUNCTIONS:
        rewrite = f"compare {column} with a range: {column} >= :start AND {column} < :end"
    else:
        rewrite = f"compare {column} itself with a value computed in the application"
    if name == "mysql" and not _functional_indexes(connection):
        return IndexAdvice(
            kind="function", table=table, columns=(column,), reason=reason, rewrite=rewrite
        )
    spec = IndexSpec(table, (column,), function=function)
    return IndexAdvice(
        kind="function",
        table=table,
        columns=(column,),
        reason=f"{reason} Index the expression, or change the query.",
        create_index=create_index_sql(spec, connection.dialect),
        alembic=alembic_code(spec, connection.dialect.name),
        rewrite=rewrite,
    )


def _wildcard(connection: Connection, table: str, predicate: Predicate) -> IndexAdvice:
    name, column = backend(connection.dialect.name), predicate.column
    reason = (
        f"{table} is read in full because {column} {predicate.operator} "
        f"{predicate.value!r} starts with a wildcard: a B-tree index finds prefixes only."
    )
    if name == "postgresql":
        spec = IndexSpec(table, (column,), trigram=True)
        return IndexAdvice(
            kind="leading_wildcard",
            table=table,
            columns=(column,),
            reason=f"{reason} A trigram index serves any LIKE/ILIKE pattern.",
            create_index=create_index_sql(spec, connection.dialect),
            alembic=alembic_code(spec, connection.dialect.name),
            rewrite="search a prefix (LIKE 'abc%') if that is what users mean",
        )
    search = (
        "a FULLTEXT index with MATCH (...) AGAINST (...)"
        if name == "mysql"
        else "an FTS5 virtual table"
    )
    return IndexAdvice(
        kind="leading_wildcard",
        table=table,
        columns=(column,),
        reason=reason,
        rewrite=f"search a prefix (LIKE 'abc%'), or use full-text search: {search}",
    )


def _functional_indexes(connection: Connection) -> bool:
    """MySQL 8.0.13+ indexes expressions; MariaDB does not (it indexes generated columns)."""
    dialect: Any = connection.dialect
    version = dialect.server_version_info or ()
    return not dialect.is_mariadb and tuple(version[:3]) >= (8, 0, 13)
