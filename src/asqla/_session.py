"""``AsyncSession``: SQLAlchemy's, with a concurrency guard, error translation and a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession as _SAAsyncSession

from ._translate import translate
from .exceptions import AsqlaError, ConcurrentSessionUseError, QueryTimeoutError, SessionUsageError

__all__ = ["AsyncSession"]

# The database errors the guard translates; anything else (a bug in user code,
# CancelledError) passes through untouched.
_TRANSLATED = (sa_exc.SQLAlchemyError, OSError, TimeoutError)

# The coroutine methods that touch the connection. close(), invalidate() and
# reset() are left out: they must work from any task, in cleanup code.
_GUARDED = (
    "commit",
    "connection",
    "delete",
    "delete_all",
    "execute",
    "flush",
    "get",
    "get_one",
    "merge",
    "merge_all",
    "refresh",
    "rollback",
    "run_sync",
    "scalar",
    "scalars",
    "stream",
    "stream_scalars",
)


class AsyncSession(_SAAsyncSession):
    """SQLAlchemy's ``AsyncSession`` with three guarantees added.

    - **One task at a time.** A call from a second task while another task's
      call is in flight raises :class:`~asqla.ConcurrentSessionUseError`. Plain
      SQLAlchemy raises only while a connection is being provisioned; once the
      session holds a connection it silently serialises the calls, and two
      tasks interleave their flushes in one transaction.
    - **asqla errors.** Database errors come out as the asqla error tree
      (``UniqueViolationError``, ``PoolTimeoutError``...) with the original as
      ``__cause__``.
    - **No call hangs forever.** Each call is bounded by the preset's
      ``command_timeout``; on expiry the connection is discarded and
      :class:`~asqla.QueryTimeoutError` is raised.

    Sessions come from :meth:`asqla.Database.session`; the class is public so
    that it can be named in annotations.
    """

    _asqla_owner: asyncio.Task[Any] | None = None
    _asqla_operation: str = ""
    _asqla_depth: int = 0
    _asqla_timeout: float | None = None
    _asqla_read_only: bool = False
    _asqla_interrupted: bool = False

    if not TYPE_CHECKING:
        for _name in _GUARDED:
            locals()[_name] = (lambda name: lambda self, *a, **kw: self._asqla_call(name, a, kw))(
                _name
            )
        del _name

    async def _asqla_call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        task = asyncio.current_task()
        owner = self._asqla_owner
        if owner is not None and owner is not task:
            raise ConcurrentSessionUseError(
                f"Task {_task_name(task)!r} called AsyncSession.{name}() while task "
                f"{_task_name(owner)!r} is still running AsyncSession.{self._asqla_operation}() "
                "on the same session. A session is one unit of work for one task: give each "
                "task its own session (`async with db.session() as session:` inside the task)."
            )
        method: Callable[..., Coroutine[Any, Any, Any]] = getattr(_SAAsyncSession, name)
        outermost = self._asqla_depth == 0
        if outermost:
            self._asqla_owner, self._asqla_operation = task, name
            if self._asqla_read_only:
                self._asqla_refuse_writes(name, args)
        self._asqla_depth += 1
        try:
            if outermost and self._asqla_timeout is not None:
                async with asyncio.timeout(self._asqla_timeout):
                    return await method(self, *args, **kwargs)
            return await method(self, *args, **kwargs)
        except AsqlaError:
            raise
        except TimeoutError as exc:
            if not outermost:
                raise
            await _discard(self)
            raise QueryTimeoutError(
                f"AsyncSession.{name}() did not finish within the command timeout of "
                f"{self._asqla_timeout}s; its connection was discarded. Raise "
                "ASQLA_COMMAND_TIMEOUT if the work is expected to take this long."
            ) from exc
        except _TRANSLATED as exc:
            raise translate(exc) from exc
        except BaseException:
            # Cancelled (or interrupted) in the middle of a database call: the
            # connection's protocol state is unknown, so it must not be reused.
            self._asqla_interrupted = True
            raise
        finally:
            self._asqla_depth -= 1
            if self._asqla_depth == 0:
                self._asqla_owner = None

    def _asqla_refuse_writes(self, name: str, args: tuple[Any, ...]) -> None:
        statement = args[0] if args else None
        pending = name in ("flush", "commit") and (self.new or self.dirty or self.deleted)
        if pending or name in ("delete", "delete_all", "merge", "merge_all"):
            raise SessionUsageError(
                f"AsyncSession.{name}() would write through a ReadSession, which never "
                "commits. Use the Session dependency (or db.session()) for writes."
            )
        if name in ("execute", "scalar", "scalars") and getattr(statement, "is_dml", False):
            raise SessionUsageError(
                f"A {type(statement).__name__} statement was executed through a ReadSession, "
                "which never commits. Use the Session dependency (or db.session()) for writes."
            )


async def _discard(session: _SAAsyncSession) -> None:
    """Invalidate ``session``'s connections, finishing even if we are cancelled."""
    await shielded(session.invalidate())


async def shielded(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` to the end even when the caller is cancelled, then re-raise.

    Cleanup (rollback, close) that is cancelled half-way leaves a pooled
    connection checked out or mid-protocol. ``asyncio.shield`` alone does not
    help: the caller still returns at once while the cleanup runs unobserved,
    so a second cancellation or a closing event loop can cut it off.
    """
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # mark it retrieved: the cancellation wins
        raise asyncio.CancelledError
    task.result()


def _task_name(task: asyncio.Task[Any] | None) -> str:
    return task.get_name() if task is not None else "<no task>"
