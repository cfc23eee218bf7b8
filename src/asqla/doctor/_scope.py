"""``doctor``: watch a block of code (a request, a test, a script) and report what it did wrong."""

from __future__ import annotations

import logging
import warnings
from contextvars import Token
from functools import partial
from types import TracebackType
from typing import Final

from ._capture import activate, deactivate
from ._detect import analyse, statements
from ._errors import DoctorError, DoctorWarning
from ._findings import Finding, Report
from ._lazy import translate_missing_greenlet
from ._options import DoctorOptions, Mode
from ._records import Capture, current

__all__ = ["doctor"]

logger = logging.getLogger("asqla.doctor")

_MODES: Final = ("off", "log", "warn", "raise")


class doctor:  # a context manager, named like contextlib.suppress
    """Watch the statements a block runs, and report N+1 queries and their fixes.

    Use it around anything: a request, a test, a block, a whole script. It is
    a context manager both ``with`` and ``async with``, and gives the
    `Report`, which is complete once the block has exited. Scopes
    follow context variables: tasks started inside the block are watched with
    it, a concurrent request outside it is not. While no scope is active,
    not one SQLAlchemy event listener is installed.

    Args:
        mode: What to do with the findings on exit: ``"log"`` (the
            ``asqla.doctor`` logger), ``"warn"`` (a `DoctorWarning`
            each), ``"raise"`` (`DoctorError` if any fails the run), or
            ``"off"`` (watch nothing).
        strict: Refuse every lazy load with `LazyLoadError` naming the
            relationship and the fix (see `strict()`).
        options: Thresholds and filters (`DoctorOptions`).

    Example:
        >>> async with doctor(mode="raise") as report:  # doctest: +SKIP
        ...     users = (await session.scalars(select(User))).all()
        ...     for user in users:
        ...         await user.awaitable_attrs.posts  # DoctorError on exit: N+1, fix
        ...                                           # selectinload(User.posts)
    """

    def __init__(
        self,
        mode: Mode = "log",
        *,
        strict: bool = False,
        options: DoctorOptions | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"doctor mode must be one of {_MODES!r}, got {mode!r}.")
        self.mode: Mode = mode
        self.strict_loading = strict
        self.options = options or DoctorOptions()
        self._token: Token[Capture | None] | None = None
        self._capture: Capture | None = None
        self._report: Report | None = None

    @classmethod
    def strict(cls, mode: Mode = "log", *, options: DoctorOptions | None = None) -> doctor:
        """Watch like ``doctor()``, and refuse every lazy load triggered by reading an attribute.

        Like ``lazy="raise_on_sql"`` on every relationship, for the length of
        the block: a many-to-one found in the identity map still works (no
        SQL); anything else raises `LazyLoadError`, which names the
        relationship and the loader option to add. ``session.refresh(obj,
        ["rel"])`` stays allowed: it is an explicit load.
        """
        return cls(mode, strict=True, options=options)

    def __enter__(self) -> Report:
        if self._token is not None:
            raise RuntimeError("this doctor scope is already active; create one per block")
        report = self._report = Report()
        if self.mode == "off":
            return report
        capture = self._capture = Capture(
            strict=self.strict_loading, parent=current.get(), slow_query=self.options.slow_query
        )
        self._token = activate(capture)
        report._live(partial(analyse, capture, self.options), partial(statements, capture))
        return report

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc, stacklevel=4)

    def _exit(self, exc: BaseException | None, *, stacklevel: int) -> None:
        report, capture, token = self._report, self._capture, self._token
        self._capture = self._token = self._report = None
        if capture is None or token is None or report is None:
            return
        deactivate(token)
        replacement = translate_missing_greenlet(exc, capture) if exc is not None else None
        report._freeze()
        if replacement is not None:
            raise replacement from exc
        self._deliver(report.findings, exc, stacklevel=stacklevel)

    async def __aenter__(self) -> Report:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc, stacklevel=4)

    def _deliver(
        self, findings: tuple[Finding, ...], exc: BaseException | None, *, stacklevel: int
    ) -> None:
        if self.mode == "raise":
            failing = [f for f in findings if self._fails(f)]
            if failing and exc is None:
                raise DoctorError(_summary(failing), findings=failing)
            if failing and exc is not None:
                exc.add_note(_summary(failing))
            return
        for finding in findings:
            if self.mode == "warn" and finding.severity != "info":
                # Attributed to the line of the `with` block.
                warnings.warn(DoctorWarning(finding), stacklevel=stacklevel)
            else:
                level = logging.INFO if finding.severity == "info" else logging.WARNING
                logger.log(level, "asqla doctor: %s: %s", finding.kind, finding.message)

    def _fails(self, finding: Finding) -> bool:
        if self.options.fail_on is not None:
            return finding.kind in self.options.fail_on
        return finding.severity != "info"


def _summary(findings: list[Finding]) -> str:
    lines = [f"asqla doctor found {len(findings)} problem(s):"]
    lines += [f"- {f.kind}: {f.message}" for f in findings]
    return "\n".join(lines)
