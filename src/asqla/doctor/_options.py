"""``DoctorOptions``: the thresholds and filters of a doctor scope, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._findings import KINDS, Kind

__all__ = ["DoctorOptions", "Mode"]

Mode = Literal["off", "log", "warn", "raise"]
"""What a doctor scope does with its findings when the block exits.

- ``"off"``: nothing at all; no event listener is installed.
- ``"log"``: log each finding on the ``asqla.doctor`` logger.
- ``"warn"``: issue a `DoctorWarning` per finding (``info`` ones are logged).
- ``"raise"``: raise `DoctorError` if any finding fails the run (see ``fail_on``).
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorOptions:
    """How sensitive the doctor is, and what it reports.

    Attributes:
        repeats: How many runs of one statement shape from one line make a
            loop (N+1, duplicates, flushes, pagination). Default 2.
        slow_query: Seconds after which a statement is a ``slow_query``;
            ``None`` turns the check off. Default 0.5.
        ignore: Kinds not to report at all.
        fail_on: In ``mode="raise"``, the kinds that raise. ``None`` (the
            default) raises for every finding of severity ``warning`` or ``error``.

    Example:
        >>> options = DoctorOptions(slow_query=0.1, ignore=frozenset({"pagination_loop"}))
    """

    repeats: int = 2
    slow_query: float | None = 0.5
    ignore: frozenset[Kind] = frozenset()
    fail_on: frozenset[Kind] | None = None

    def __post_init__(self) -> None:
        if self.repeats < 2:
            raise ValueError(
                f"DoctorOptions.repeats must be at least 2, got {self.repeats!r}: one run "
                "of a statement is not a loop."
            )
        if self.slow_query is not None and self.slow_query < 0:
            raise ValueError(
                f"DoctorOptions.slow_query must be a number of seconds >= 0 or None, "
                f"got {self.slow_query!r}."
            )
        for name in ("ignore", "fail_on"):
            kinds = getattr(self, name)
            if kinds is None:
                continue
            # A set or a list is accepted and frozen, so that the options stay hashable.
            object.__setattr__(self, name, frozenset(kinds))
            unknown = sorted(set(kinds) - set(KINDS))
            if unknown:
                raise ValueError(
                    f"DoctorOptions.{name} names unknown kinds {unknown!r}; "
                    f"choose from {list(KINDS)!r}."
                )
