"""The lazy loads the doctor stops: any in strict mode, and the ones asyncio cannot run.

Both are caught in ``do_orm_execute``, the moment before the load's SQL is
sent, with the attribute read that triggered it still on the stack
(``_fire_loader_callables`` holds the instance state and the key). An
attribute read outside SQLAlchemy's greenlet, on an async engine, is about
to fail with ``MissingGreenlet``; raising `ImplicitIOError` there, and
not after, also avoids the half-started driver coroutine that SQLAlchemy
would leave behind ("coroutine was never awaited").
"""

from __future__ import annotations

import linecache
import re
import sys
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, RelationshipProperty
from sqlalchemy.orm import attributes as orm_attributes

from ._eager import strategy_for
from ._errors import ImplicitIOError, LazyLoadError
from ._findings import Finding
from ._records import Capture
from ._stack import Location, capture_location, is_user_code, render

__all__ = ["by_attribute_access", "implicit_io_error", "strict_error", "translate_missing_greenlet"]

_ATTRIBUTES_FILE = orm_attributes.__file__
_GENERIC_FIX = "load what you need in the query, or run the code in `await session.run_sync(fn)`"
_GENERIC_LOADER = "load it with the query (selectinload / joinedload)"


def _read_in(frame: FrameType) -> tuple[InstanceState[Any], str] | None:
    """Return the instance and key if ``frame`` is SQLAlchemy loading an attribute on read."""
    code = frame.f_code
    if code.co_name == "_fire_loader_callables" and code.co_filename == _ATTRIBUTES_FILE:
        state, key = frame.f_locals.get("state"), frame.f_locals.get("key")
        if isinstance(state, InstanceState) and isinstance(key, str):
            return state, key
    return None


def _read_frame(frame: FrameType | None) -> tuple[InstanceState[Any], str] | None:
    """Find the attribute the user read, from ``frame`` outwards.

    The outermost read wins: reading ``user.posts`` on an expired ``user``
    first loads ``User.id``, but ``posts`` is what the user's line touched.
    """
    found = None
    while frame is not None:
        found = _read_in(frame) or found
        frame = frame.f_back
    return found


def by_attribute_access() -> bool:
    """Tell whether the load running now was triggered by reading an attribute.

    ``session.refresh(obj, ["posts"])`` and ``immediateload()`` also go
    through the lazy loader, but they are explicit requests: not refused.
    """
    return _read_frame(sys._getframe(1)) is not None


def _expression(location: Location, key: str) -> str:
    """Guess how the user's line names the instance (``u`` in ``u.posts``), for the fix."""
    if location:
        filename, line = location[0]
        source = linecache.getline(filename, line)
        match = re.search(rf"([A-Za-z_][\w.\[\]]*)\.{re.escape(key)}\b", source)
        if match:
            return match.group(1).removesuffix(".awaitable_attrs")
    return "obj"


@dataclass(frozen=True, slots=True)
class _Read:
    """An attribute read that needs a query: what it is and how the user's code names it."""

    name: str
    key: str
    variable: str
    origin: str | None
    loader: str | None
    """The loader option, for a relationship; ``None`` for a column."""

    @property
    def query(self) -> str:
        return f"the query at {self.origin}" if self.origin else "the query that loads it"


def _describe(
    read: tuple[InstanceState[Any], str] | None, location: Location, capture: Capture | None
) -> _Read | None:
    if read is None:
        return None
    state, key = read
    origin = capture.origins.get(state) if capture is not None else None
    prop = inspect(state.class_).attrs.get(key)
    name = f"{state.class_.__name__}.{key}"
    return _Read(
        name=name,
        key=key,
        variable=_expression(location, key),
        origin=render(origin.location) if origin is not None else None,
        loader=f"{strategy_for(prop)}({name})" if isinstance(prop, RelationshipProperty) else None,
    )


def implicit_io_error(capture: Capture, location: Location) -> ImplicitIOError:
    """Build the error for a load about to fail with MissingGreenlet, and record its finding."""
    return _error(_describe(_read_frame(sys._getframe(1)), location, capture), location, capture)


def _error(read: _Read | None, location: Location, capture: Capture | None) -> ImplicitIOError:
    line = render(location)
    at = f" at {line}" if line else ""
    if read is None:
        subject, fix = "Database IO was attempted", None
    elif read.loader is not None:
        subject = f"{read.name}, a lazy relationship, was read"
        fix = (
            f".options({read.loader}) on {read.query}, "
            f"or `await {read.variable}.awaitable_attrs.{read.key}`"
        )
    else:
        subject = f"{read.name}, an expired or deferred attribute, was read"
        fix = (
            f"`await {read.variable}.awaitable_attrs.{read.key}`, or `await session.refresh("
            f"{read.variable}, [{read.key!r}])`; keep expire_on_commit=False (asqla's default) "
            "so that commits do not expire it"
        )
    message = (
        f"{subject} without await{at}: under asyncio SQLAlchemy can only reach the database "
        "inside an awaited call (this is SQLAlchemy's MissingGreenlet). "
        f"Fix: {fix or _GENERIC_FIX}."
    )
    finding = Finding(
        kind="async_implicit_io",
        severity="error",
        count=1,
        location=line,
        relationship=read.name if read else None,
        origin=read.origin if read else None,
        fix=fix,
    )
    if capture is not None:
        for scope in capture.chain():
            scope.errors.append(finding)
    return ImplicitIOError(message, attribute=read.name if read else None)


def strict_error(capture: Capture, location: Location) -> LazyLoadError:
    """Build the error ``doctor.strict()`` raises for a lazy load."""
    read = _describe(_read_frame(sys._getframe(1)), location, capture)
    line = render(location)
    name = read.name if read else "A relationship"
    fix = f".options({read.loader}) on {read.query}" if read and read.loader else _GENERIC_LOADER
    one = f"`await session.refresh({read.variable}, [{read.key!r}])`" if read else "refresh()"
    return LazyLoadError(
        f"{name} was about to be lazy-loaded{f' at {line}' if line else ''}, and "
        f"doctor.strict() refuses lazy loads. Fix: {fix}; or, for one object, {one}.",
        relationship=name,
    )


def translate_missing_greenlet(exc: BaseException, capture: Capture) -> ImplicitIOError | None:
    """Turn a MissingGreenlet that escaped the hooks into an `ImplicitIOError`.

    The hooks catch lazy loads and expired attributes before they fail; this
    covers the rest (Core IO from a sync callback, a custom loader), as far
    as the traceback tells: the attribute if one was being read, and the
    innermost user line.
    """
    cause = exc.orig if isinstance(exc, sa_exc.StatementError) else exc
    if not isinstance(cause, sa_exc.MissingGreenlet) or isinstance(exc, ImplicitIOError):
        return None
    frames = _traceback_frames(exc.__traceback__)
    read = next((r for f, _ in frames if (r := _read_in(f)) is not None), None)  # outermost
    user = [(f.f_code.co_filename, n) for f, n in frames if is_user_code(f.f_code.co_filename)]
    location: Location = (user[-1],) if user else capture_location()
    return _error(_describe(read, location, capture), location, capture)


def _traceback_frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames
