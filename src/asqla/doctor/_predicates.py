"""Read a statement's tables and conditions from its SQL text, for index advice.

The text is what the driver received, so this works the same for ORM, Core
and textual statements on every backend. It is a scanner, not a parser: it
finds the tables of the FROM, JOIN, UPDATE and DELETE clauses with their
aliases, and in WHERE and ON clauses every comparison between a column
(bare, or wrapped in a function or a cast) and a value, a parameter or
another column. Parameters are resolved from the driver parameters (``?``
and ``%s`` by position, ``$1`` by number, ``%(name)s`` and ``:name`` by
name), so ``name LIKE ?`` with ``'%smith'`` is known to start with a
wildcard. What it cannot read (a comparison between two expressions) it
leaves out: advice is only given for what it understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["UNKNOWN", "Parsed", "Predicate", "parse"]

UNKNOWN: Final = object()
"""The value of a predicate whose value is not known (a subquery, an expression)."""

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<string>[EN]?'(?:[^']|'')*')
    |(?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    |(?P<param>\?|%s|\$\d+|%\(\w+\)s|(?<![:\w]):\w+)
    |(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    |(?P<cast>::)
    |(?P<op><=|>=|<>|!=|=|<|>)
    |(?P<word>[A-Za-z_][\w$]*)
    |(?P<punct>[(),.;])
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_CLAUSES: Final = frozenset(
    {"SELECT", "FROM", "WHERE", "ON", "GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET", "SET"}
    | {"VALUES", "RETURNING", "JOIN", "UPDATE", "INTO", "UNION", "USING", "WINDOW", "FETCH"}
)
_NOT_ALIAS: Final = _CLAUSES | frozenset(
    {"AS", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL", "LATERAL", "FOR"}
    | {"EXCEPT", "INTERSECT", "STRAIGHT_JOIN", "FORCE", "IGNORE", "USE", "INDEXED", "NOT"}
)
_KEYWORDS: Final = _NOT_ALIAS | frozenset(
    {"AND", "OR", "NULL", "TRUE", "FALSE", "IS", "IN", "LIKE", "ILIKE", "BETWEEN", "CASE"}
    | {"WHEN", "THEN", "ELSE", "END", "EXISTS", "ANY", "ALL", "SOME", "DISTINCT", "ESCAPE"}
)
_WORD_OPERATORS: Final = frozenset({"LIKE", "ILIKE", "IN", "IS", "BETWEEN"})
_FLIPPED: Final = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Predicate:
    """One comparison in a WHERE or ON clause: ``lower(u.email) = ?``.

    Attributes:
        alias: The qualifier as written (a table or an alias); ``None`` if bare.
        column: The column.
        operator: ``=``, ``<``, ``>``, ``<=``, ``>=``, ``<>``, ``IN``, ``LIKE``,
            ``ILIKE``, ``IS``, ``BETWEEN``, with ``NOT`` in front where written.
        wrapper: The function around the column (``"lower"``), ``"cast"`` for
            a cast, ``None`` for the bare column.
        value: The value compared with, parameters resolved; `UNKNOWN` if not known.
        joins: ``"alias.column"`` when the other side is a column (a join).
        in_or: The comparison sits under an OR.
    """

    alias: str | None
    column: str
    operator: str
    wrapper: str | None
    value: Any
    joins: str | None
    in_or: bool


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the SQL text says: tables by alias, and the comparisons."""

    tables: dict[str, str]
    """Alias (or the table itself) to table name."""
    predicates: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    upper: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class _Column:
    alias: str | None
    name: str
    wrapper: str | None = None


@dataclass(frozen=True, slots=True)
class _Value:
    value: Any


def _unquote(text: str) -> str:
    if text[:1] in ('"', "`"):
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def _tokens(sql: str, parameters: Any) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    pyformat = (bool(parameters) and "%s" in sql) or "%(" in sql
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        text = match.group()
        if kind == "ws":
            continue
        value: Any = None
        if kind == "param":
            value, position = _parameter(text, parameters, position)
        elif kind == "string":
            value = text[text.index("'") + 1 : -1].replace("''", "'")
            if pyformat:
                value = value.replace("%%", "%")
        elif kind == "number":
            value = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "quoted":
            kind, text = "word", _unquote(text)
        tokens.append(_Token(kind, text, text.upper() if kind == "word" else text, value))
    return tokens


def _parameter(text: str, parameters: Any, position: int) -> tuple[Any, int]:
    try:
        if text in ("?", "%s"):
            return parameters[position], position + 1
        if text.startswith("$"):
            return parameters[int(text[1:]) - 1], position
        name = text[2:-2] if text.startswith("%(") else text[1:]
        return parameters[name], position
    except (LookupError, TypeError, ValueError):
        return UNKNOWN, position + 1


def parse(sql: str, parameters: Any = ()) -> Parsed:
    """Return the tables and the comparisons of ``sql`` run with ``parameters``."""
    tokens = _tokens(sql, parameters)
    matching = _matching_parens(tokens)
    tables: dict[str, str] = {}
    found: list[tuple[Predicate, tuple[int, ...]]] = []
    # Per paren depth: the clause we are in, and whether the group is a function's arguments.
    clause: list[str] = [""]
    function: list[bool] = [False]
    groups: list[int] = [-1]
    has_or: set[int] = set()
    parents: dict[int, int | None] = {-1: None}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.text == "(":
            subquery = index + 1 < len(tokens) and tokens[index + 1].upper in ("SELECT", "WITH")
            is_call = index > 0 and tokens[index - 1].kind == "word"
            is_call = is_call and tokens[index - 1].upper not in _KEYWORDS
            clause.append("" if subquery else clause[-1])
            function.append(is_call)
            parents[index] = None if subquery else groups[-1]
            groups.append(index)
        elif token.text == ")":
            if len(clause) > 1:
                clause.pop()
                function.pop()
                groups.pop()
        elif token.kind == "word" and token.upper in _CLAUSES and not function[-1]:
            clause[-1] = token.upper
            # Each clause is a group of its own: an OR in the SELECT list is not in the WHERE.
            segment = -(index + 2)
            parents[segment] = parents.get(groups[-1])
            groups[-1] = segment
            if token.upper in ("FROM", "JOIN", "UPDATE", "INTO"):
                index = _table_references(tokens, index + 1, tables, many=token.upper == "FROM")
                continue
        elif token.kind == "word" and token.upper == "OR":
            has_or.add(groups[-1])
        elif clause[-1] in ("WHERE", "ON") and _is_operator(tokens, index):
            predicate = _comparison(tokens, index, matching)
            if predicate is not None:
                found.append((predicate, _chain(groups[-1], parents)))
        index += 1
    predicates = tuple(
        Predicate(
            p.alias, p.column, p.operator, p.wrapper, p.value, p.joins, any(g in has_or for g in c)
        )
        for p, c in found
    )
    return Parsed(tables, predicates)


def _chain(group: int, parents: dict[int, int | None]) -> tuple[int, ...]:
    chain: list[int] = []
    current: int | None = group
    while current is not None:
        chain.append(current)
        current = parents.get(current)
    return tuple(chain)


def _matching_parens(tokens: list[_Token]) -> dict[int, int]:
    matching: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.text == "(":
            stack.append(index)
        elif token.text == ")" and stack:
            opening = stack.pop()
            matching[opening], matching[index] = index, opening
    return matching


def _table_references(
    tokens: list[_Token], index: int, tables: dict[str, str], *, many: bool
) -> int:
    """Read ``t [AS] a [, t2 [AS] b ...]`` from ``index``; return where it stopped."""
    while index < len(tokens):
        token = tokens[index]
        if token.kind != "word" or token.upper in _NOT_ALIAS:
            return index  # a subquery, or no table here
        name = token.text
        index += 1
        while (
            index + 1 < len(tokens)
            and tokens[index].text == "."
            and tokens[index + 1].kind == "word"
        ):
            name = tokens[index + 1].text  # schema.table: keep the table
            index += 2
        if index < len(tokens) and tokens[index].upper == "AS":
            index += 1
        alias = name
        if (
            index < len(tokens)
            and tokens[index].kind == "word"
            and tokens[index].upper not in _KEYWORDS
        ):
            alias = tokens[index].text
            index += 1
        tables[alias] = name
        tables.setdefault(name, name)
        if not (many and index < len(tokens) and tokens[index].text == ","):
            return index
        index += 1
    return index


def _is_operator(tokens: list[_Token], index: int) -> bool:
    token = tokens[index]
    return token.kind == "op" or (token.kind == "word" and token.upper in _WORD_OPERATORS)


def _comparison(tokens: list[_Token], index: int, matching: dict[int, int]) -> Predicate | None:
    token = tokens[index]
    operator = token.upper if token.kind == "word" else token.text
    left_end = index - 1
    if left_end >= 0 and tokens[left_end].upper == "NOT" and operator in ("LIKE", "ILIKE", "IN"):
        operator, left_end = f"NOT {operator}", left_end - 1
    left = _operand_before(tokens, left_end, matching)
    right = _operand_after(tokens, index + 1, matching, operator)
    if not isinstance(left, _Column) and isinstance(right, _Column) and operator in _FLIPPED:
        left, right, operator = right, left, _FLIPPED[operator]
    elif not isinstance(left, _Column) and isinstance(right, _Column) and operator in ("=", "<>"):
        left, right = right, left
    if not isinstance(left, _Column):
        return None
    joins = f"{right.alias}.{right.name}" if isinstance(right, _Column) and right.alias else None
    if isinstance(right, _Column) and joins is None:
        joins = right.name
    value = right.value if isinstance(right, _Value) else UNKNOWN
    return Predicate(left.alias, left.name, operator, left.wrapper, value, joins, False)


def _column_at(tokens: list[_Token], end: int) -> tuple[_Column, int] | None:
    """Read ``alias.column`` or ``column`` ending at ``end``; return it and where it starts."""
    if end < 0 or tokens[end].kind != "word" or tokens[end].upper in _KEYWORDS:
        return None
    if end >= 2 and tokens[end - 1].text == "." and tokens[end - 2].kind == "word":
        return _Column(tokens[end - 2].text, tokens[end].text), end - 2
    if end >= 1 and tokens[end - 1].text == ".":
        return None
    return _Column(None, tokens[end].text), end


def _columns_in(tokens: list[_Token]) -> set[_Column]:
    """The distinct columns named in ``tokens`` (function names and keywords left out)."""
    columns: set[_Column] = set()
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.upper in _KEYWORDS:
            continue
        if index + 1 < len(tokens) and tokens[index + 1].text in ("(", "."):
            continue  # a function, or the qualifier of the next word
        if index >= 1 and tokens[index - 1].kind == "cast":
            continue  # a type name
        found = _column_at(tokens, index)
        if found is not None:
            columns.add(found[0])
    return columns


def _operand_before(
    tokens: list[_Token], end: int, matching: dict[int, int]
) -> _Column | _Value | None:
    if end < 0:
        return None
    token = tokens[end]
    if end >= 2 and token.kind == "word" and tokens[end - 1].kind == "cast":
        inner = _operand_before(tokens, end - 2, matching)
        if isinstance(inner, _Column):
            return _Column(inner.alias, inner.name, "cast")
        return inner
    if token.kind in ("param", "string", "number"):
        return _Value(token.value)
    if token.text == ")" and end in matching:
        start = matching[end]
        name = tokens[start - 1].upper if start > 0 and tokens[start - 1].kind == "word" else ""
        inside = tokens[start + 1 : end]
        if name == "CAST" or (name and name not in _KEYWORDS):
            if name == "CAST":
                as_at = next((i for i, t in enumerate(inside) if t.upper == "AS"), len(inside))
                inside = inside[:as_at]
            elif name == "EXTRACT":  # EXTRACT(year FROM column)
                from_at = next((i for i, t in enumerate(inside) if t.upper == "FROM"), -1)
                inside = inside[from_at + 1 :]
            columns = _columns_in(inside)
            if len(columns) == 1:
                (column,) = columns
                wrapper = "cast" if name == "CAST" else name.lower()
                return _Column(column.alias, column.name, wrapper)
            return None
        if not name:  # (column): parentheses only
            found = _column_at(inside, len(inside) - 1)
            return found[0] if found is not None and found[1] == 0 else None
        return None
    found = _column_at(tokens, end)
    return found[0] if found is not None else None


def _operand_after(
    tokens: list[_Token], start: int, matching: dict[int, int], operator: str
) -> _Column | _Value | None:
    if start >= len(tokens):
        return None
    token = tokens[start]
    if operator == "IS":
        rest = [t.upper for t in tokens[start : start + 2]]
        return _Value("NOT NULL" if rest[:2] == ["NOT", "NULL"] else token.upper)
    if token.text == "(" and start in matching:
        inside = tokens[start + 1 : matching[start]]
        if inside and inside[0].upper in ("SELECT", "WITH"):
            return _Value(UNKNOWN)
        if operator.endswith("IN"):
            values = [t.value for t in inside if t.kind in ("param", "string", "number")]
            return _Value(tuple(values))
    if token.kind in ("param", "string", "number"):
        return _Value(token.value)
    if token.kind == "word" and start + 1 < len(tokens) and tokens[start + 1].text == "(":
        # A function of a value: lower(?) keeps the value; a function of a column is no join.
        closing = matching.get(start + 1)
        inside = tokens[start + 2 : closing] if closing is not None else []
        values = [t for t in inside if t.kind in ("param", "string", "number")]
        if len(values) == 1 and not _columns_in(inside):
            return _Value(values[0].value)
        return None
    if token.kind == "word" and token.upper not in _KEYWORDS:
        end = start
        if (
            start + 2 < len(tokens)
            and tokens[start + 1].text == "."
            and tokens[start + 2].kind == "word"
        ):
            end = start + 2
        found = _column_at(tokens, end)
        return found[0] if found is not None else None
    return None
