"""Query budgets: fail when a block runs more statements than it should.

Usable in any code, and in pytest as is: the error is an ``AssertionError``,
so a test that goes over its budget fails with the list of statements, each
with the line that ran it, and what the doctor found among them::

    async def test_feed_is_two_queries(db):
        async with db.session() as session:
            with assert_max_queries(2):
                await feed(session)

Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not
counted: whether a driver sends BEGIN as a statement is not the code's doing.
"""

from __future__ import annotations

from contextvars import Token
from functools import partial
from types import TracebackType

from ._capture import activate, deactivate
from ._detect import analyse, statements
from ._errors import QueryBudgetExceededError
from ._findings import Report
from ._options import DoctorOptions
from ._records import Capture, current

__all__ = ["assert_max_queries"]

_LISTED = 50
"""Statements listed in the failure message at most."""


class assert_max_queries:  # an assertion helper, named like one
    """Fail if the block runs more than ``limit`` statements.

    A context manager (``with`` or ``async with``) that gives the live
    `Report` of the block; ``report.query_count`` is the number
    counted so far. Raises `QueryBudgetExceededError` on exit when
    the block ran more than ``limit`` statements (not when the block itself
    raised: that error wins).

    Args:
        limit: The most statements allowed, transaction control excluded.
        options: The doctor's options for the findings listed on failure.

    Example:
        >>> with assert_max_queries(3) as report:  # doctest: +SKIP
        ...     await list_articles(session)
    """

    def __init__(self, limit: int, *, options: DoctorOptions | None = None) -> None:
        if limit < 0:
            raise ValueError(f"assert_max_queries needs a limit >= 0, got {limit!r}.")
        self.limit = limit
        self.options = options or DoctorOptions()
        self._token: Token[Capture | None] | None = None
        self._report: Report | None = None

    def __enter__(self) -> Report:
        if self._token is not None:
            raise RuntimeError("this budget is already active; create one per block")
        capture = Capture(strict=False, parent=current.get(), slow_query=self.options.slow_query)
        report = self._report = Report()
        report._live(partial(analyse, capture, self.options), partial(statements, capture))
        self._token = activate(capture)
        return report

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, report = self._token, self._report
        self._token = self._report = None
        if token is None or report is None:
            return
        deactivate(token)
        report._freeze()
        if exc is None and report.query_count > self.limit:
            raise _exceeded(self.limit, report)

    async def __aenter__(self) -> Report:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _exceeded(limit: int, report: Report) -> QueryBudgetExceededError:
    counted = [s for s in report.statements if not s.transaction_control]
    lines = [
        f"{len(counted)} statements ran, over the budget of {limit} "
        "(transaction control not counted):"
    ]
    lines += [f"  {number}. {statement}" for number, statement in enumerate(counted[:_LISTED], 1)]
    if len(counted) > _LISTED:
        lines.append(f"  ... and {len(counted) - _LISTED} more")
    if report.findings:
        lines.append("The doctor found:")
        lines += [f"- {f.kind}: {f.message}" for f in report.findings]
    else:
        lines.append("Batch the reads (selectinload, IN) or raise the budget if the work needs it.")
    return QueryBudgetExceededError(
        "\n".join(lines), limit=limit, statements=counted, findings=report.findings
    )
