"""The plan of a slow statement, taken the moment it finishes, and its index advice.

A ``slow_query`` finding is worth little without its plan, and the plan is
worth most when taken on the statement's own connection, inside its own
transaction: the rows it saw (uncommitted ones included), its temporary
tables, its parameters. So the statement is explained from the
``after_cursor_execute`` hook, right after it returned, when it ran at least
the scope's ``slow_query`` threshold; everything after that (the analysis at
the end of the scope) only reads what was kept here.

The EXPLAIN never disturbs the application's transaction: on PostgreSQL it
runs in a savepoint (a failed statement there would otherwise abort the
whole transaction), it builds no real index (HypoPG's hypothetical ones
only), and any error is logged and swallowed: the application's statement
succeeded, and the doctor must not make it fail. Streamed results (a
server-side cursor still open on the connection) and ``executemany`` are
not explained.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.engine import Connection

from ._advice import advise_on
from ._explain import Plan, backend, explainable, run_explain, unwatched
from ._index_advice import IndexAdvice
from ._planner import in_autocommit

__all__ = ["SlowPlan", "describe", "explain_slow"]

logger = logging.getLogger("asqla.doctor")

_SAVEPOINT: Final = "asqla_doctor_explain"


@dataclass(frozen=True, slots=True)
class SlowPlan:
    """What the doctor learnt about one slow statement: its plan and the index advice."""

    plan: Plan | None
    advice: tuple[IndexAdvice, ...] = ()
    error: str | None = None
    """Why there is no plan, if there is none."""


def explain_slow(
    connection: Connection, sql: str, parameters: Any, context: Any
) -> SlowPlan | None:
    """EXPLAIN a statement that just ran slow, on its own connection (sync: a cursor hook).

    Returns ``None`` for a statement EXPLAIN cannot plan (an INSERT, DDL) or
    must not touch (a streamed result, ``executemany``).
    """
    options = getattr(context, "execution_options", {}) or {}
    if (
        not explainable(sql)
        or getattr(context, "executemany", False)
        or options.get("stream_results")
        or options.get("yield_per")
    ):
        return None
    try:
        with unwatched(), _shielded(connection):
            plan = run_explain(connection, sql, parameters)
            advice = advise_on(connection, sql, parameters, plan, confirm=True, trial=False)
    except Exception as exc:  # the application's statement succeeded: never fail it
        logger.debug("asqla doctor: could not explain a slow statement", exc_info=True)
        return SlowPlan(None, error=f"{type(exc).__name__}: {exc}")
    return SlowPlan(plan, advice)


@contextmanager
def _shielded(connection: Connection) -> Iterator[None]:
    """On PostgreSQL in a transaction, run the block in a savepoint it cannot abort."""
    if backend(connection.dialect.name) != "postgresql" or in_autocommit(connection):
        yield
        return
    connection.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
    try:
        yield
    except BaseException:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        raise
    finally:
        connection.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")


def describe(slow: SlowPlan | None) -> tuple[str, str | None]:
    """Return the text to add to a ``slow_query`` finding, and its fix (the index advice).

    The text starts with a newline and is indented under the finding's message::

        plan: Seq Scan on post (~120,000 rows) where (user_id = 3)
        advice: post is read in full ... no index starts with user_id.
    """
    if slow is None:
        return "", None
    if slow.plan is None:
        return f"\n    plan: not available ({slow.error})", None
    lines = str(slow.plan).splitlines() or ["(empty)"]
    text = "\n    plan: " + "\n          ".join(lines)
    text += "".join(f"\n    advice: {advice.reason}" for advice in slow.advice)
    fixes = [advice.fix for advice in slow.advice if advice.fix]
    return text, "\n\n".join(fixes) or None
