"""A small SQL tokenizer: enough to recognize the DDL statements the rules care about.

Why not a full SQL parser (sqlglot)? The statements that matter most here
are the ones general parsers skip: sqlglot 30 falls back to an unparsed
``Command`` for ``ALTER TABLE ... VALIDATE CONSTRAINT``, ``ALTER TYPE ...
ADD VALUE`` and ``ADD CONSTRAINT ... UNIQUE USING INDEX``, so a token-level
reader would be needed anyway; and the linter would pull an 8 MB dependency
whose API changes with every major release. The tokenizer below gets the
lexical rules right (quotes, escapes, comments, PostgreSQL dollar quoting,
MySQL backticks) so that a keyword inside a string or a ``DO $$ ... $$``
body is never mistaken for a statement; anything the recognizer does not
know is left alone rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["word", "ident", "string", "number", "punct"]

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Token:
    """One token: ``text`` is upper case for words, unquoted for identifiers and strings."""

    kind: TokenKind
    text: str
    offset: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text in words

    @property
    def name(self) -> str:
        """The token as an object name: identifiers keep their case, bare words are folded."""
        return self.text if self.kind == "ident" else self.text.lower()


@dataclass(frozen=True)
class Statement:
    """One SQL statement: its tokens and its offset in the source text."""

    tokens: tuple[Token, ...]
    text: str
    offset: int


def tokenize(sql: str, *, dialect: str) -> list[Token]:
    """Split ``sql`` into tokens, dropping whitespace and comments."""
    tokens: list[Token] = []
    mysql = dialect == "mysql"
    index, size = 0, len(sql)
    while index < size:
        char = sql[index]
        if char.isspace():
            index += 1
        elif sql.startswith("--", index) or (mysql and char == "#"):
            end = sql.find("\n", index)
            index = size if end < 0 else end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = size if end < 0 else end + 2
        elif char == "'" or (mysql and char == '"'):
            start = index
            text, index = _quoted(sql, index, char, backslash=mysql)
            tokens.append(Token("string", text, start))
        elif char in "eE" and sql.startswith("'", index + 1) and not mysql:
            text, end = _quoted(sql, index + 1, "'", backslash=True)
            tokens.append(Token("string", text, index))
            index = end
        elif char == '"' or (mysql and char == "`"):
            start = index
            text, index = _quoted(sql, index, char, backslash=False)
            tokens.append(Token("ident", text, start))
        elif char == "$" and not mysql and (dollar := _DOLLAR.match(sql, index)):
            tag = dollar.group()
            end = sql.find(tag, dollar.end())
            end = size if end < 0 else end
            tokens.append(Token("string", sql[dollar.end() : end], index))
            index = min(size, end + len(tag))
        elif word := _WORD.match(sql, index):
            tokens.append(Token("word", word.group().upper(), index))
            index = word.end()
        elif number := _NUMBER.match(sql, index):
            tokens.append(Token("number", number.group(), index))
            index = number.end()
        else:
            tokens.append(Token("punct", char, index))
            index += 1
    return tokens


def _quoted(sql: str, start: int, quote: str, *, backslash: bool) -> tuple[str, int]:
    parts: list[str] = []
    index = start + 1
    while index < len(sql):
        char = sql[index]
        if backslash and char == "\\" and index + 1 < len(sql):
            parts.append(sql[index + 1])
            index += 2
        elif char == quote:
            if sql.startswith(quote, index + 1):
                parts.append(quote)
                index += 2
            else:
                return "".join(parts), index + 1
        else:
            parts.append(char)
            index += 1
    return "".join(parts), index


def split_statements(sql: str, *, dialect: str) -> list[Statement]:
    """Return the statements of ``sql``, split on top-level semicolons."""
    statements: list[Statement] = []
    current: list[Token] = []
    for token in [*tokenize(sql, dialect=dialect), Token("punct", ";", len(sql))]:
        if token.kind == "punct" and token.text == ";":
            if current:
                start = current[0].offset
                statements.append(Statement(tuple(current), sql[start : token.offset], start))
            current = []
        else:
            current.append(token)
    return statements


def split_top_level(tokens: Sequence[Token], separator: str = ",") -> Iterator[list[Token]]:
    """Split ``tokens`` on ``separator`` outside parentheses."""
    depth = 0
    part: list[Token] = []
    for token in tokens:
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
        if depth == 0 and token.kind == "punct" and token.text == separator:
            yield part
            part = []
        else:
            part.append(token)
    if part:
        yield part


def skip_group(tokens: Sequence[Token], index: int) -> int:
    """Return the index after the parenthesized group that starts at ``index``."""
    depth = 0
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
            if depth == 0:
                return position + 1
    return len(tokens)


def words(tokens: Sequence[Token]) -> list[str]:
    """The upper-cased bare words of ``tokens``, in order."""
    return [token.text for token in tokens if token.kind == "word"]


def normalize_condition(sql: str, *, dialect: str) -> str:
    """A comparable form of a CHECK condition: ``email IS NOT NULL`` -> ``email IS NOT NULL``.

    Identifiers lose their quotes and case, keywords are upper case, and the
    outer parentheses go.
    """
    tokens = tokenize(sql, dialect=dialect)
    while (
        len(tokens) >= 2
        and tokens[0].text == "("
        and tokens[-1].text == ")"
        and skip_group(tokens, 0) == len(tokens)
    ):
        tokens = tokens[1:-1]
    parts = []
    for token in tokens:
        keyword = token.kind == "word" and token.text in ("IS", "NOT", "NULL")
        if token.kind == "ident" or (token.kind == "word" and not keyword):
            parts.append(token.text.lower())
        else:
            parts.append(token.text)
    return " ".join(parts)


def render(tokens: Sequence[Token]) -> str:
    """Write ``tokens`` back as SQL text (normalized spacing)."""
    parts = []
    for token in tokens:
        if token.kind == "string":
            parts.append("'" + token.text.replace("'", "''") + "'")
        elif token.kind == "ident":
            parts.append('"' + token.text + '"')
        else:
            parts.append(token.text)
    return " ".join(parts)
