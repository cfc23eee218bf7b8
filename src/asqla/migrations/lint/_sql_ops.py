"""Literal SQL (``op.execute("...")``) to Operations.

Each statement is recognized by its leading keywords; what is not recognized
becomes an ``OTHER`` operation (it still counts as "an operation" for the
transaction rules) and is never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ._ops import Kind, Operation
from ._sql import Token, render, split_statements, split_top_level, words
from ._sql_columns import column_definition, qualified_name, read_type
from ._target import Dialect

Make = Callable[..., Operation]

_TRANSACTION = {"BEGIN", "START", "COMMIT", "ROLLBACK", "END", "ABORT", "SAVEPOINT", "RELEASE"}
_DATA = {"UPDATE", "DELETE", "INSERT", "REPLACE", "MERGE", "COPY"}
_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE"}
_INDEX_WORDS = {"INDEX", "KEY", "FULLTEXT", "SPATIAL"}


def read_sql(sql: str, *, dialect: Dialect, line: int, make: Make) -> list[Operation]:
    """Return the operations of the SQL text ``sql`` that starts at ``line``."""
    operations: list[Operation] = []
    for statement in split_statements(sql, dialect=dialect):
        at = line + sql[: statement.offset].count("\n")

        made = partial(make, line=at, sql=statement.text, via_sql=True)
        operations.extend(_statement(list(statement.tokens), dialect, made))
    return operations


def _statement(tokens: list[Token], dialect: Dialect, make: Make) -> list[Operation]:
    head = words(tokens[:4])
    first = head[0] if head else ""
    if first in _TRANSACTION or head[:2] == ["SET", "AUTOCOMMIT"]:
        return [make(Kind.TRANSACTION_CONTROL)]
    if first in ("SET", "RESET"):
        return [make(Kind.SESSION_SETTING)]
    if first == "SELECT":
        return []
    if first in _DATA:
        return [make(Kind.DATA_CHANGE, table=_data_table(tokens))]
    if first == "WITH" and _DATA & set(words(tokens)):
        return [make(Kind.DATA_CHANGE)]
    if first == "CREATE":
        return _create(tokens, dialect, make)
    if first == "DROP":
        return _drop(tokens, make)
    if head[:2] == ["ALTER", "TABLE"]:
        return _alter_table(tokens, dialect, make)
    if head[:2] == ["ALTER", "TYPE"] and "ADD" in words(tokens) and "VALUE" in words(tokens):
        return [make(Kind.ADD_ENUM_VALUE, name=tokens[2].name)]
    if head[:2] == ["RENAME", "TABLE"]:
        renames = []
        for part in split_top_level(tokens[2:]):
            old, index = qualified_name(part, 0)
            if index < len(part) and part[index].is_word("TO"):
                new, _ = qualified_name(part, index + 1)
                renames.append(make(Kind.RENAME_TABLE, table=old, new_name=new))
        return renames
    if first == "REINDEX":
        concurrently = "CONCURRENTLY" in words(tokens)
        table = tokens[-1].name if len(head) > 1 and head[1] == "TABLE" else None
        return [make(Kind.REINDEX, table=table, concurrently=concurrently)]
    return [make(Kind.OTHER)]


def _data_table(tokens: Sequence[Token]) -> str | None:
    skip = {"UPDATE", "DELETE", "INSERT", "REPLACE", "MERGE", "COPY", "FROM", "INTO", "ONLY"}
    skip |= {"LOW_PRIORITY", "IGNORE", "QUICK", "DELAYED", "HIGH_PRIORITY"}
    index = 0
    while index < len(tokens) and tokens[index].is_word(*skip):
        index += 1
    if index < len(tokens) and tokens[index].kind in ("word", "ident"):
        return qualified_name(tokens, index)[0]
    return None


def _create(tokens: list[Token], dialect: Dialect, make: Make) -> list[Operation]:
    head = words(tokens[:8])
    if "INDEX" in head:
        index = head.index("INDEX")
        position = next(i for i, t in enumerate(tokens) if t.is_word("INDEX")) + 1
        concurrently = False
        if position < len(tokens) and tokens[position].is_word("CONCURRENTLY"):
            concurrently, position = True, position + 1
        if words(tokens[position : position + 3]) == ["IF", "NOT", "EXISTS"]:
            position += 3
        name = None
        if position < len(tokens) and not tokens[position].is_word("ON"):
            name, position = qualified_name(tokens, position)
        while position < len(tokens) and tokens[position].is_word("ON", "ONLY"):
            position += 1
        table = qualified_name(tokens, position)[0] if position < len(tokens) else None
        return [
            make(
                Kind.CREATE_INDEX,
                table=table,
                name=name,
                unique="UNIQUE" in head[:index],
                fulltext=bool({"FULLTEXT", "SPATIAL"} & set(head[:index])),
                concurrently=concurrently,
                unnamed=name is None,
            )
        ]
    if "VIEW" in head:
        position = next(i for i, t in enumerate(tokens) if t.is_word("VIEW")) + 1
        if words(tokens[position : position + 3]) == ["IF", "NOT", "EXISTS"]:
            position += 3
        return [make(Kind.CREATE_VIEW, name=qualified_name(tokens, position)[0])]
    if "TABLE" in head:
        position = next(i for i, t in enumerate(tokens) if t.is_word("TABLE")) + 1
        if words(tokens[position : position + 3]) == ["IF", "NOT", "EXISTS"]:
            position += 3
        table, position = qualified_name(tokens, position)
        columns = []
        if position < len(tokens) and tokens[position].text == "(":
            body = tokens[position + 1 : -1] if tokens[-1].text == ")" else tokens[position + 1 :]
            for part in split_top_level(body):
                if part and not (part[0].kind == "word" and part[0].text in _CONSTRAINT_WORDS):
                    columns.append(column_definition(part, dialect))
        return [make(Kind.CREATE_TABLE, table=table, columns=tuple(columns))]
    return [make(Kind.OTHER)]


def _drop(tokens: list[Token], make: Make) -> list[Operation]:
    head = words(tokens[:3])
    position = 2
    if len(head) < 2:
        return [make(Kind.OTHER)]
    concurrently = False
    if position < len(tokens) and tokens[position].is_word("CONCURRENTLY"):
        concurrently, position = True, position + 1
    if words(tokens[position : position + 2]) == ["IF", "EXISTS"]:
        position += 2
    rest = tokens[position:]
    if head[1] == "INDEX":
        name, after = qualified_name(rest, 0)
        table = None
        if after < len(rest) and rest[after].is_word("ON"):
            table = qualified_name(rest, after + 1)[0]
        return [make(Kind.DROP_INDEX, name=name, table=table, concurrently=concurrently)]
    if head[1] == "TABLE":
        names = [qualified_name(part, 0)[0] for part in split_top_level(rest) if part]
        return [make(Kind.DROP_TABLE, table=name) for name in names]
    return [make(Kind.OTHER)]


def _alter_table(tokens: list[Token], dialect: Dialect, make: Make) -> list[Operation]:
    position = 2
    while position < len(tokens) and tokens[position].is_word("ONLY", "IF", "EXISTS"):
        position += 1
    table, position = qualified_name(tokens, position)
    actions = list(split_top_level(tokens[position:]))
    options: dict[str, str] = {}
    for action in actions:
        names = words(action)
        if names and names[0] in ("ALGORITHM", "LOCK"):
            options[names[0]] = names[-1]
    algorithm, lock = options.get("ALGORITHM"), options.get("LOCK")
    adds_primary = any(words(a)[:1] == ["ADD"] and "PRIMARY" in words(a) for a in actions)

    def made(kind: Kind, **fields: Any) -> Operation:
        return make(kind, table=table, algorithm=algorithm, lock=lock, **fields)

    operations: list[Operation] = []
    for action in actions:
        if action and not action[0].is_word("ALGORITHM", "LOCK"):
            operations.extend(_action(action, dialect, made, adds_primary=adds_primary))
    return operations


def _action(
    action: list[Token], dialect: Dialect, make: Make, *, adds_primary: bool
) -> list[Operation]:
    names = words(action)
    verb = names[0] if names else ""
    if verb == "ADD":
        return _add(action[1:], dialect, make)
    if verb == "DROP":
        target = names[1] if len(names) > 1 else ""
        if target == "PRIMARY":
            return [] if adds_primary else [make(Kind.REBUILD_TABLE, name="DROP PRIMARY KEY")]
        if target in ("CONSTRAINT", "CHECK", "FOREIGN"):
            return [make(Kind.DROP_CONSTRAINT, name=action[-1].name)]
        if target in ("INDEX", "KEY"):
            return [make(Kind.DROP_INDEX, name=action[-1].name)]
        if target in ("DEFAULT", "NOT"):
            return [make(Kind.OTHER)]
        return [make(Kind.DROP_COLUMN, name=action[-1].name)]
    if verb in ("ALTER", "MODIFY", "CHANGE"):
        return _alter_column(action, dialect, make, verb)
    if verb == "RENAME":
        target = names[1] if len(names) > 1 else ""
        if target in ("INDEX", "KEY", "CONSTRAINT"):
            return [make(Kind.OTHER)]
        if target == "COLUMN" or (target not in ("TO", "AS") and "TO" in names):
            start = 2 if target == "COLUMN" else 1
            return [make(Kind.ALTER_COLUMN, name=action[start].name, new_name=action[-1].name)]
        return [make(Kind.RENAME_TABLE, new_name=action[-1].name)]
    if verb == "VALIDATE":
        return [make(Kind.VALIDATE_CONSTRAINT, name=action[-1].name)]
    if names[:2] == ["CONVERT", "TO"]:
        return [make(Kind.REBUILD_TABLE, name="CONVERT TO CHARACTER SET")]
    return [make(Kind.OTHER)]


def _add(tokens: list[Token], dialect: Dialect, make: Make) -> list[Operation]:
    names = words(tokens)
    first = names[0] if names else ""
    if first in ("COLUMN", "IF") or (
        first not in _CONSTRAINT_WORDS | _INDEX_WORDS and tokens and tokens[0].kind != "punct"
    ):
        start = 1 if first == "COLUMN" else 0
        if words(tokens[start : start + 3]) == ["IF", "NOT", "EXISTS"]:
            start += 3
        column = column_definition(tokens[start:], dialect)
        return [make(Kind.ADD_COLUMN, name=column.name, column=column)]
    name = None
    rest = tokens
    if first == "CONSTRAINT":
        name, after = qualified_name(tokens, 1)
        rest = tokens[after:]
    kinds = words(rest)
    head = kinds[0] if kinds else ""
    if head in _INDEX_WORDS or (head == "UNIQUE" and kinds[1:2] in (["INDEX"], ["KEY"])):
        after = next(i for i, t in enumerate(rest) if t.is_word("INDEX", "KEY")) + 1
        index_name = rest[after].name if after < len(rest) and rest[after].text != "(" else None
        return [
            make(
                Kind.CREATE_INDEX,
                name=name or index_name,
                unique=head == "UNIQUE",
                fulltext=head in ("FULLTEXT", "SPATIAL"),
                unnamed=(name or index_name) is None,
            )
        ]
    constraint = {"FOREIGN": "foreignkey", "CHECK": "check", "UNIQUE": "unique"}.get(head)
    if head == "PRIMARY":
        constraint = "primary"
    if constraint is None:
        return [make(Kind.OTHER)]
    condition = None
    if constraint == "check":
        start = next(i for i, t in enumerate(rest) if t.is_word("CHECK")) + 1
        end = len(rest) - (2 if kinds[-2:] == ["NOT", "VALID"] else 0)
        condition = render(rest[start:end])
    return [
        make(
            Kind.ADD_CONSTRAINT,
            name=name,
            constraint=constraint,
            condition=condition,
            not_valid=kinds[-2:] == ["NOT", "VALID"],
            using_index="USING" in kinds and "INDEX" in kinds[kinds.index("USING") :],
            unnamed=name is None,
        )
    ]


def _alter_column(action: list[Token], dialect: Dialect, make: Make, verb: str) -> list[Operation]:
    position = 1
    if position < len(action) and action[position].is_word("COLUMN"):
        position += 1
    name = action[position].name if position < len(action) else None
    position += 1
    if verb == "ALTER":
        rest = words(action[position:])
        if rest[:3] == ["SET", "NOT", "NULL"]:
            return [make(Kind.ALTER_COLUMN, name=name, nullable=False)]
        if rest[:2] == ["DROP", "NOT"]:
            return [make(Kind.ALTER_COLUMN, name=name, nullable=True)]
        if "TYPE" in rest[:3]:
            start = position + rest.index("TYPE") + 1
            return [make(Kind.ALTER_COLUMN, name=name, type=read_type(action, start)[0])]
        return [make(Kind.OTHER)]
    new_name = None
    if verb == "CHANGE":
        new_name = action[position].name if position < len(action) else None
        position += 1
    column = column_definition([Token("word", "X", 0), *action[position:]], dialect)
    return [
        make(
            Kind.ALTER_COLUMN,
            name=name,
            new_name=new_name if new_name and new_name != name else None,
            type=column.type,
            nullable=False if not column.nullable else None,
        )
    ]
