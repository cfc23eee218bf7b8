"""Column types and server defaults, as both readers see them.

The volatility lists come from the databases' own catalogs: PostgreSQL's
``pg_proc.provolatile`` (``random``, ``gen_random_uuid``, ``clock_timestamp``,
``nextval`` are volatile; ``now`` and ``CURRENT_TIMESTAMP`` are stable and
evaluated once by ``ALTER TABLE``), and MySQL/MariaDB, where a ``UUID()``
default forces ``ALGORITHM=COPY`` (checked on MariaDB 10.11).
"""

from __future__ import annotations

from typing import Literal

from ._ops import Default, TypeSpec
from ._sql import tokenize
from ._target import Dialect

Volatility = Literal["constant", "stable", "volatile", "expression"]

_ALIASES = {
    "STRING": "VARCHAR",
    "UNICODE": "VARCHAR",
    "NVARCHAR": "VARCHAR",
    "AUTOSTRING": "VARCHAR",
    "CHARACTER VARYING": "VARCHAR",
    "UNICODETEXT": "TEXT",
    "DECIMAL": "NUMERIC",
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "BIGINTEGER": "BIGINT",
    "INT8": "BIGINT",
    "SMALLINTEGER": "SMALLINT",
    "INT2": "SMALLINT",
    "DOUBLE_PRECISION": "DOUBLE PRECISION",
}
SERIAL_TYPES = frozenset({"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL4", "SERIAL8", "SERIAL2"})

_VOLATILE = {
    "postgresql": {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "random_normal",
    },
    "mysql": {"uuid", "uuid_short", "uuid_to_bin", "sys_guid"},
    "sqlite": {"random", "randomblob"},
}
_STABLE = {
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "current_user",
    "session_user",
    "utc_timestamp",
    "sysdate",
    "curdate",
    "curtime",
}
_CONSTANT_FUNCTIONS = {"cast", "convert"}
_BARE_STABLE = {
    "CURRENT_TIMESTAMP",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "LOCALTIMESTAMP",
    "LOCALTIME",
    "CURRENT_USER",
    "SESSION_USER",
}


def normalize_type(name: str, args: tuple[int, ...] = (), source: str = "") -> TypeSpec:
    """Return the TypeSpec for a type name as SQLAlchemy or SQL spells it."""
    upper = " ".join(name.upper().split())
    return TypeSpec(_ALIASES.get(upper, upper), args, source or name)


def classify_default(sql: str, *, dialect: Dialect) -> Default:
    """Classify a server default given as SQL text."""
    tokens = tokenize(sql, dialect=dialect)
    volatility: Volatility = "constant"
    function: str | None = None
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "word" and following is not None and following.text == "(":
            name = token.text.lower()
            kind = classify_function(name, dialect=dialect)
            if _rank(kind) > _rank(volatility):
                volatility, function = kind, name
        elif token.kind == "word" and token.text in _BARE_STABLE and _rank(volatility) < 1:
            volatility, function = "stable", token.text.lower()
        elif token.kind == "punct" and token.text == "(" and volatility == "constant":
            volatility = "expression"
    return Default(volatility, sql, function)


def classify_function(name: str, *, dialect: Dialect) -> Volatility:
    """``volatile``, ``stable``, ``constant`` or ``expression`` (a function asqla does not know)."""
    name = name.lower()
    if name in _VOLATILE[dialect]:
        return "volatile"
    if name in _STABLE:
        return "stable"
    if name in _CONSTANT_FUNCTIONS:
        return "constant"
    return "expression"


def _rank(volatility: Volatility) -> int:
    return {"constant": 0, "expression": 1, "stable": 1, "volatile": 2}[volatility]


def widens_without_rewrite(old: TypeSpec, new: TypeSpec) -> bool:
    """PostgreSQL changes ``old`` to ``new`` in the catalog only: no rewrite, no scan.

    Binary-coercible changes, per the ALTER TABLE documentation: a longer or
    unbounded ``varchar``, ``varchar`` to ``text``, a ``numeric`` with more
    precision and the same scale.
    """
    if old.name == new.name and old.args == new.args:
        return True
    if old.name == new.name == "VARCHAR":
        return new.length is None or (old.length is not None and new.length >= old.length)
    if old.name == "VARCHAR" and new.name == "TEXT":
        return True
    if old.name == "TEXT" and new.name == "VARCHAR":
        return new.length is None
    if old.name == new.name == "NUMERIC":
        if not new.args:
            return True
        if not old.args:
            return False
        old_scale = old.args[1] if len(old.args) > 1 else 0
        new_scale = new.args[1] if len(new.args) > 1 else 0
        return old_scale == new_scale and new.args[0] >= old.args[0]
    return False


def mysql_extends_in_place(old: TypeSpec, new: TypeSpec) -> bool:
    """MySQL/MariaDB extend a VARCHAR in place when its length prefix keeps its size.

    The prefix is one byte up to 255 bytes and two beyond; with utf8mb4's four
    bytes a character, ``VARCHAR(63)`` is the longest one-byte-prefix column
    (MySQL 8.0 "Online DDL Operations", column operations).
    """
    if old.name != "VARCHAR" or new.name != "VARCHAR":
        return False
    if old.length is None or new.length is None or new.length < old.length:
        return False
    return (old.length * 4 <= 255) == (new.length * 4 <= 255)
