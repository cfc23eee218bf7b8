"""Find the user's own line, even when SQLAlchemy runs the ORM inside a greenlet.

Under asyncio, SQLAlchemy runs the synchronous ORM in a greenlet
(``greenlet_spawn``); the frames of that greenlet end at its root, and the
code that awaited lives in the parent greenlet, from ``parent.gr_frame`` on.
asqla's [`AsyncSession`][asqla.AsyncSession] adds one more hop: each call runs in a
task of its own, so the caller's frames are not on the running stack at all;
they are the suspended coroutine chain of the task that owns the call
(``AsyncSession._asqla_owner``). The walk below follows all three.

A frame is *plumbing* (SQLAlchemy, greenlet, asyncio, asqla itself), *library*
(the rest of the standard library and site-packages) or *user*. The location
is the innermost user frames (a call path, so that one helper called from two
lines gives two locations); with no user frame at all, the innermost library
frame stands in.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import functools
import os
import sys
import sysconfig
from collections.abc import Iterator
from types import CoroutineType, FrameType
from typing import Any, Final

import greenlet  # type: ignore[import-untyped]  # no stubs; SQLAlchemy's own dependency
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncSession as _SAAsyncSession

import asqla
from asqla._session import AsyncSession

__all__ = ["Location", "capture_location", "is_user_code", "render"]

Location = tuple[tuple[str, int], ...]
"""A call path: ``(filename, line)`` pairs, the innermost first."""

DEPTH: Final = 6
"""User frames kept per location."""

_PLUMBING, _LIBRARY, _USER = 0, 1, 2

_HANDLE_RUN = asyncio.events.Handle._run.__code__  # the bottom of every task step
_SA_ASYNC_SESSION = sys.modules[_SAAsyncSession.__module__].__file__


def _directory(module: Any) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__))) + os.sep


_PLUMBING_DIRS: Final = (
    *(_directory(module) for module in (sqlalchemy, greenlet, asqla, asyncio)),
    os.path.abspath(contextlib.__file__),
)
_LIBRARY_DIRS: Final = tuple(
    {
        os.path.abspath(path) + os.sep
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(name))
    }
)
_kinds: dict[str, int] = {}


def _kind(filename: str) -> int:
    kind = _kinds.get(filename)
    if kind is None:
        if filename.startswith("<frozen") or filename.startswith(_PLUMBING_DIRS):
            kind = _PLUMBING
        elif filename.startswith(_LIBRARY_DIRS) or filename.startswith("<"):
            kind = _LIBRARY
        else:
            kind = _USER
        _kinds[filename] = kind
    return kind


def capture_location() -> Location:
    """Return the call path of the user code running now (empty if there is none)."""
    found: list[tuple[str, int]] = []
    fallback: tuple[str, int] | None = None
    kinds = _kinds
    for frame in _frames(sys._getframe(1)):
        filename = frame.f_code.co_filename
        kind = kinds.get(filename)
        if kind is None:
            kind = _kind(filename)
        if kind == _USER:
            found.append((filename, frame.f_lineno))
            if len(found) == DEPTH:
                break
        elif kind == _LIBRARY and fallback is None:
            fallback = (filename, frame.f_lineno)
    if found:
        return tuple(found)
    return (fallback,) if fallback else ()


def is_user_code(filename: str) -> bool:
    """Tell whether ``filename`` is the user's code (not a library, not SQLAlchemy or asqla)."""
    return _kind(filename) == _USER


def _frames(frame: FrameType | None) -> list[FrameType]:
    """Return the frames from ``frame`` outwards: this greenlet, its parents, the awaiting task."""
    frames: list[FrameType] = []
    current: Any = greenlet.getcurrent()
    while True:
        while frame is not None:
            if frame.f_code is _HANDLE_RUN:
                # The event loop's own frames, down to whoever called
                # asyncio.run(): never the line that awaited.
                break
            frames.append(frame)
            frame = frame.f_back
        parent = current.parent
        if parent is None or not getattr(current, "__sqlalchemy_greenlet_provider__", False):
            break
        current, frame = parent, parent.gr_frame
    owner = _owner()
    if owner is not None:
        frames += _suspended_frames(owner)
    return frames


def _owner() -> asyncio.Task[Any] | None:
    """Return the task that awaits the running one, if it is an asqla session's call runner."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    if frame is None or frame.f_code.co_filename != _SA_ASYNC_SESSION:
        return None  # not an AsyncSession method: the task is the user's own
    session = frame.f_locals.get("self")
    if isinstance(session, AsyncSession) and session._asqla_runner is task:
        return session._asqla_owner
    return None


def _suspended_frames(task: asyncio.Task[Any]) -> Iterator[FrameType]:
    """Yield the frames of a suspended task, innermost first, along its ``await`` chain."""
    chain: list[FrameType] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None and len(chain) < 256:
        if type(awaitable) is CoroutineType:
            frame, next_awaitable = awaitable.cr_frame, awaitable.cr_await
        else:
            frame = getattr(awaitable, "gi_frame", None) or getattr(awaitable, "ag_frame", None)
            next_awaitable = getattr(awaitable, "gi_yieldfrom", None) or getattr(
                awaitable, "ag_await", None
            )
        if frame is None:
            break  # a future, or an awaitable without frames
        chain.append(frame)
        awaitable = next_awaitable
    return reversed(chain)


def render(location: Location) -> str | None:
    """Render the innermost frame of ``location`` as ``"path:line"``."""
    if not location:
        return None
    filename, line = location[0]
    return f"{_display(filename)}:{line}"


@functools.lru_cache(maxsize=1024)
def _display(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive, on Windows
        return filename
    return filename if relative.startswith("..") else relative
