"""The errors and the warning the doctor raises.

They belong to asqla's tree (`asqla.exceptions`)::

    AsqlaError
    ├── SessionUsageError
    │   ├── LazyLoadError                doctor.strict(): a lazy load was refused
    │   └── ImplicitIOError              a lazy or expired attribute touched without await
    │                                    (also a sqlalchemy.exc.MissingGreenlet)
    ├── DoctorError                      mode="raise": the doctor found problems
    └── QueryBudgetExceededError         assert_max_queries(n) exceeded (also an AssertionError)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import MissingGreenlet

from ..exceptions import AsqlaError, SessionUsageError

if TYPE_CHECKING:
    from ._findings import Finding, Statement

__all__ = [
    "DoctorError",
    "DoctorWarning",
    "ImplicitIOError",
    "LazyLoadError",
    "QueryBudgetExceededError",
]


class DoctorWarning(UserWarning):
    """A doctor finding, issued by ``doctor(mode="warn")``.

    Attributes:
        finding: The finding.
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


class DoctorError(AsqlaError):
    """``doctor(mode="raise")`` found problems in the block it watched.

    Attributes:
        findings: The findings that made it fail.
    """

    def __init__(self, message: str, *, findings: Sequence[Finding]) -> None:
        super().__init__(message)
        self.findings = tuple(findings)


class LazyLoadError(SessionUsageError):
    """``doctor.strict()`` refused a lazy load; the message names the relationship and the fix.

    Attributes:
        relationship: The relationship, as ``"Class.attribute"``.
    """

    def __init__(self, message: str, *, relationship: str) -> None:
        super().__init__(message)
        self.relationship = relationship


class ImplicitIOError(SessionUsageError, MissingGreenlet):
    """A lazy relationship or an expired attribute was read without ``await``.

    SQLAlchemy raises ``MissingGreenlet`` here; the doctor raises this error
    instead, which is still a ``MissingGreenlet`` (``except MissingGreenlet``
    keeps working) but names the attribute, the line and the fix.

    Attributes:
        attribute: The attribute, as ``"Class.attribute"`` (``None`` if unknown).
    """

    def __init__(self, message: str, *, attribute: str | None) -> None:
        SessionUsageError.__init__(self, message)
        self.attribute = attribute

    def __str__(self) -> str:
        # SQLAlchemyError renders its own message with a code and a link;
        # ours already says everything.
        return str(self.args[0])


class QueryBudgetExceededError(AsqlaError, AssertionError):
    """More statements ran than ``assert_max_queries(n)`` allows.

    An ``AssertionError`` too, so that pytest reports it as a failed assertion.

    Attributes:
        limit: The budget.
        statements: The statements that counted against it.
        findings: What the doctor found among them.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        statements: Sequence[Statement],
        findings: Sequence[Finding],
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.statements = tuple(statements)
        self.findings = tuple(findings)
