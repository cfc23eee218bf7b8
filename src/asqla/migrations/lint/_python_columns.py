"""``sa.Column(...)``, column types and server defaults, read from the AST of a migration."""

from __future__ import annotations

import ast
from typing import Literal

from ._ops import Column, Default, TypeSpec
from ._target import Dialect
from ._types import classify_default, classify_function, normalize_type

_NOT_TYPES = {
    "ForeignKey",
    "Computed",
    "Identity",
    "Sequence",
    "CheckConstraint",
    "FetchedValue",
    "DefaultClause",
}
_INTEGERS = {"INTEGER", "BIGINT", "SMALLINT"}


def dotted(node: ast.AST) -> str:
    """``sa.schema.Column`` for an attribute chain, ``""`` for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def last_name(node: ast.AST) -> str:
    """The last name of a call's function or of an attribute chain: ``Column`` for ``sa.Column``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def literal_str(node: ast.AST | None) -> str | None:
    """A string literal, ``op.f("name")`` or ``sa.text("...")``; ``None`` for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "__expr__"
            for part in node.values
        )
    if (
        isinstance(node, ast.Call)
        and last_name(node) in ("f", "text", "literal_column", "conv")
        and node.args
    ):
        return literal_str(node.args[0])
    return None


def literal_bool(node: ast.AST | None) -> bool | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def read_type(node: ast.AST | None, source: str) -> TypeSpec | None:
    """``sa.String(200)`` -> ``VARCHAR(200)``; ``postgresql.JSONB`` -> ``JSONB``."""
    if node is None:
        return None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "with_variant"
    ):
        return read_type(node.func.value, source)
    name = last_name(node)
    if not name or not (isinstance(node, ast.Call | ast.Attribute | ast.Name)):
        return None
    args: list[int] = []
    if isinstance(node, ast.Call):
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, int):
                args.append(arg.value)
        for key in ("length", "precision", "scale"):
            value = keyword(node, key)
            if isinstance(value, ast.Constant) and isinstance(value.value, int):
                args.append(value.value)
    text = ast.get_source_segment(source, node) or name
    return normalize_type(name, tuple(args), text)


def read_default(node: ast.AST | None, source: str, dialect: Dialect) -> Default | None:
    """Classify a ``server_default=`` argument."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return None
    text = ast.get_source_segment(source, node) or ""
    if isinstance(node, ast.Constant):
        return Default("constant", text)
    if isinstance(node, ast.Call):
        name = last_name(node)
        if name in ("text", "literal_column") and (sql := literal_str(node)) is not None:
            return classify_default(sql, dialect=dialect)
        if name == "DefaultClause" and node.args:
            return read_default(node.args[0], source, dialect)
        if name in ("literal", "true", "false", "null"):
            return None if name == "null" else Default("constant", text)
        if ".func." in f".{dotted(node.func)}" or dotted(node.func).startswith("func."):
            volatility = classify_function(name, dialect=dialect)
            return Default(volatility, text, name.lower())
    return Default("expression", text)


def read_column(node: ast.AST | None, source: str, dialect: Dialect) -> Column | None:
    """Read ``sa.Column("name", sa.Integer, nullable=False, ...)``; ``None`` if not a Column."""
    if not isinstance(node, ast.Call) or last_name(node) != "Column":
        return None
    name = literal_str(node.args[0]) if node.args else literal_str(keyword(node, "name"))
    column_type = read_type(keyword(node, "type_"), source)
    foreign_key = autoincrement = False
    references: str | None = None
    expression: str | None = None
    generated: Literal["stored", "virtual", "unspecified"] | None = None
    for arg in node.args[1:] if name is not None else node.args:
        kind = last_name(arg)
        if kind == "ForeignKey":
            foreign_key = True
            if isinstance(arg, ast.Call) and arg.args:
                references = literal_str(arg.args[0])
        elif kind in ("Identity", "Sequence"):
            autoincrement = True
        elif kind == "Computed" and isinstance(arg, ast.Call):
            persisted = literal_bool(keyword(arg, "persisted"))
            generated = (
                "stored" if persisted else "virtual" if persisted is False else "unspecified"
            )
            expression = literal_str(arg.args[0]) if arg.args else None
        elif kind not in _NOT_TYPES and column_type is None:
            column_type = read_type(arg, source)
    primary_key = literal_bool(keyword(node, "primary_key")) is True
    nullable = literal_bool(keyword(node, "nullable"))
    explicit_auto = keyword(node, "autoincrement")
    if literal_bool(explicit_auto) is True or (
        primary_key
        and explicit_auto is None
        and column_type is not None
        and column_type.name in _INTEGERS
    ):
        autoincrement = True
    return Column(
        name=name,
        type=column_type,
        nullable=nullable if nullable is not None else not primary_key,
        server_default=read_default(keyword(node, "server_default"), source, dialect),
        python_default=keyword(node, "default") is not None,
        autoincrement=autoincrement,
        generated=generated,
        expression=expression,
        index=literal_bool(keyword(node, "index")) is True,
        unique=literal_bool(keyword(node, "unique")) is True or primary_key,
        foreign_key=foreign_key,
        references=references,
        source=ast.get_source_segment(source, node) or "",
    )
