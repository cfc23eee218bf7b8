"""Column definitions, types and names inside literal SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ._ops import Column, Default, TypeSpec
from ._sql import Token, render, skip_group
from ._target import Dialect
from ._types import SERIAL_TYPES, classify_default, normalize_type

_MULTIWORD = {
    ("DOUBLE", "PRECISION"),
    ("CHARACTER", "VARYING"),
    ("BIT", "VARYING"),
}
# Words that end a DEFAULT expression in a column definition.
_AFTER_DEFAULT = {
    "NOT",
    "NULL",
    "CONSTRAINT",
    "REFERENCES",
    "UNIQUE",
    "PRIMARY",
    "CHECK",
    "GENERATED",
    "COLLATE",
    "COMMENT",
    "AUTO_INCREMENT",
    "ON",
    "FIRST",
    "AFTER",
    "AS",
    "INVISIBLE",
    "VISIBLE",
}
_GENERATED: dict[str, Literal["stored", "virtual"]] = {
    "STORED": "stored",
    "PERSISTENT": "stored",
    "VIRTUAL": "virtual",
}


def qualified_name(tokens: Sequence[Token], index: int) -> tuple[str | None, int]:
    """Read ``schema.table`` at ``index``; return the last part and the index after it."""
    if index >= len(tokens) or tokens[index].kind not in ("word", "ident"):
        return None, index
    name = tokens[index].name
    index += 1
    while (
        index + 1 < len(tokens)
        and tokens[index].text == "."
        and tokens[index + 1].kind in ("word", "ident")
    ):
        name = tokens[index + 1].name
        index += 2
    return name, index


def read_type(tokens: Sequence[Token], index: int) -> tuple[TypeSpec | None, int]:
    """Read a column type at ``index``: ``varchar(200)``, ``numeric(10, 2)``, ``jsonb``."""
    if index >= len(tokens) or tokens[index].kind not in ("word", "ident"):
        return None, index
    start = index
    name = tokens[index].text.upper()
    index += 1
    if index < len(tokens) and (name, tokens[index].text) in _MULTIWORD:
        name = f"{name} {tokens[index].text}"
        index += 1
    args: list[int] = []
    if index < len(tokens) and tokens[index].text == "(":
        end = skip_group(tokens, index)
        args = [int(float(t.text)) for t in tokens[index:end] if t.kind == "number"]
        index = end
    return normalize_type(name, tuple(args), render(tokens[start:index])), index


def column_definition(tokens: Sequence[Token], dialect: Dialect) -> Column:
    """Read ``name type [constraints...]`` as in ``ADD COLUMN`` or ``CREATE TABLE``."""
    name = tokens[0].name if tokens else None
    column_type, index = read_type(tokens, 1)
    nullable, unique, foreign_key = True, False, False
    autoincrement = column_type is not None and column_type.name in SERIAL_TYPES
    generated: Literal["stored", "virtual", "unspecified"] | None = None
    default: Default | None = None
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1].text if index + 1 < len(tokens) else ""
        if token.is_word("NOT") and following == "NULL":
            nullable, index = False, index + 2
            continue
        if token.is_word("GENERATED"):
            end = index
            while end < len(tokens) and not tokens[end].is_word("AS"):
                end += 1
            if end + 1 < len(tokens) and tokens[end + 1].is_word("IDENTITY"):
                autoincrement, index = True, end + 2
            else:
                index = end
            continue
        if token.is_word("DEFAULT") and following == "NULL":
            index += 2
            continue
        if token.is_word("PRIMARY"):
            nullable, unique = False, True
        elif token.is_word("UNIQUE"):
            unique = True
        elif token.is_word("REFERENCES"):
            foreign_key = True
        elif token.is_word("AUTO_INCREMENT", "IDENTITY"):
            autoincrement = True
        elif token.is_word("AS") and following == "(":
            end = skip_group(tokens, index + 1)
            after = tokens[end].text if end < len(tokens) else ""
            generated = _GENERATED.get(after, "unspecified")
            if "IDENTITY" in after:
                autoincrement = True
            index = end
            continue
        elif token.is_word("DEFAULT"):
            end = index + 1
            while end < len(tokens) and not tokens[end].is_word(*_AFTER_DEFAULT):
                end = skip_group(tokens, end) if tokens[end].text == "(" else end + 1
            default = classify_default(render(tokens[index + 1 : end]), dialect=dialect)
            index = end
            continue
        index += 1
    return Column(
        name=name,
        type=column_type,
        nullable=nullable,
        server_default=default,
        autoincrement=autoincrement,
        generated=generated,
        unique=unique,
        foreign_key=foreign_key,
        source=render(tokens),
    )
