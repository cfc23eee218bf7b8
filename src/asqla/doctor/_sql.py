"""Read SQL text as sent to the driver: transaction control, SELECTs, counts, page walks.

The text is all there is for Core and textual statements, and it is the same
shape for every backend once the placeholders are known: ``?`` (SQLite),
``%s`` (MySQL drivers), ``$1`` (asyncpg), ``%(name)s`` and ``:name``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["is_count", "is_page_walk", "is_select", "is_transaction_control"]

_CONTROL = re.compile(
    r"\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END|SET\s+TRANSACTION)\b",
    re.IGNORECASE,
)
_SELECT = re.compile(r"\s*\(?\s*(SELECT|WITH)\b", re.IGNORECASE)
_COUNT = re.compile(r"\s*SELECT\s+count\(", re.IGNORECASE)
_LIMIT = re.compile(r"\b(LIMIT|FETCH\s+(FIRST|NEXT))\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\?|%s|\$(\d+)|%\((\w+)\)s|(?<![:\w]):(\w+)")
# What precedes a page bound: "id > ?", "(a, b) > (?, ?", "OFFSET ?", MySQL's "LIMIT ?, ?".
_PAGE_BOUND = re.compile(r"(?:[<>]=?|\bOFFSET|\bLIMIT)\s*\(?(?:[^()=<>]*,\s*)?$", re.IGNORECASE)


def is_transaction_control(sql: str) -> bool:
    """Tell whether ``sql`` is BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE and the like."""
    return _CONTROL.match(sql) is not None


def is_select(sql: str) -> bool:
    """Tell whether ``sql`` reads (``SELECT``, or a ``WITH`` query)."""
    return _SELECT.match(sql) is not None


def is_count(sql: str) -> bool:
    """Tell whether ``sql`` is a ``SELECT count(...)``."""
    return _COUNT.match(sql) is not None


def is_page_walk(sql: str, runs: Sequence[Any]) -> bool:
    """Tell whether the runs of ``sql`` walk over pages rather than over rows.

    ``runs`` are the parameters of each run, frozen (a tuple of values, or of
    sorted ``(name, value)`` pairs). A walk is a LIMIT query whose changing
    parameter is a page bound: an OFFSET, or the lower bound of a keyset
    (``id > ?``). A per-row query with a LIMIT (``... WHERE user_id = ?
    LIMIT 3``) changes an equality instead, and is an N+1.
    """
    if not _LIMIT.search(sql) or not runs:
        return False
    first = runs[0]
    other = next((run for run in runs[1:] if run != first), first)
    placeholders = list(_PLACEHOLDER.finditer(sql))
    numbered = [m for m in placeholders if m.group(1)]
    for index, (mine, theirs) in enumerate(zip(first, other, strict=False)):
        if mine == theirs:
            continue
        if isinstance(mine, tuple) and len(mine) == 2 and isinstance(mine[0], str):
            match = next((m for m in placeholders if mine[0] in (m.group(2), m.group(3))), None)
        elif numbered:
            match = next((m for m in numbered if m.group(1) == str(index + 1)), None)
        else:
            match = placeholders[index] if index < len(placeholders) else None
        before = sql[max(0, match.start() - 80) : match.start()] if match else ""
        if _PAGE_BOUND.search(before):
            return True
    return False
