"""``AsyncSession``: SQLAlchemy's, with a concurrency guard, error translation and a timeout."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import Context
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession as _SAAsyncSession
from sqlalchemy.sql.elements import TextClause

from ._translate import translate
from .exceptions import AsqlaError, ConcurrentSessionUseError, QueryTimeoutError, SessionUsageError

__all__ = ["AsyncSession"]

logger = logging.getLogger("asqla.session")

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
    """SQLAlchemy's ``AsyncSession`` with four guarantees added.

    - **One task at a time.** A call from a second task while another task's
      call is in flight raises [`ConcurrentSessionUseError`][asqla.ConcurrentSessionUseError]. Plain
      SQLAlchemy raises only while a connection is being provisioned; once the
      session holds a connection it silently serialises the calls, and two
      tasks interleave their flushes in one transaction.
    - **asqla errors.** Database errors come out as the asqla error tree
      (``UniqueViolationError``, ``PoolTimeoutError``...) with the original as
      ``__cause__``.
    - **No call hangs forever.** Each call is bounded by the preset's
      ``command_timeout``; on expiry the connection is discarded and
      [`QueryTimeoutError`][asqla.QueryTimeoutError] is raised.
    - **Cancellation finishes its cleanup.** A cancelled call leaves its
      connection closed or back in the pool by the time the cancellation
      reaches the caller, even if the task is cancelled again meanwhile. For
      this each call runs in a task of its own: SQLAlchemy event hooks it
      fires see the caller's context variables (a copy), but values they
      ``set()`` are not seen by the caller, and ``asyncio.current_task()``
      in a hook is not the caller's task.

    Sessions come from `asqla.Database.session()`; the class is public so
    that it can be named in annotations.
    """

    _asqla_owner: asyncio.Task[Any] | None = None
    _asqla_runner: asyncio.Task[Any] | None = None
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
        method: Callable[..., Coroutine[Any, Any, Any]] = getattr(_SAAsyncSession, name)
        if self._asqla_depth:
            if task is self._asqla_runner:
                # SQLAlchemy calling itself: scalars() awaits execute().
                return await method(self, *args, **kwargs)
            raise ConcurrentSessionUseError(
                f"Task {_task_name(task)!r} called AsyncSession.{name}() while task "
                f"{_task_name(self._asqla_owner)!r} is still running "
                f"AsyncSession.{self._asqla_operation}() on the same session. A session is one "
                "unit of work for one task: give each task its own session "
                "(`async with db.session() as session:` inside the task)."
            )
        if self._asqla_read_only:
            self._asqla_refuse_writes(name, args)
        self._asqla_owner, self._asqla_operation, self._asqla_depth = task, name, 1
        try:
            return await self._asqla_run(method(self, *args, **kwargs), task)
        except AsqlaError:
            raise
        except TimeoutError as exc:
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
            self._asqla_depth = 0
            self._asqla_owner = self._asqla_runner = None

    def _asqla_run(
        self, call: Coroutine[Any, Any, Any], caller: asyncio.Task[Any] | None
    ) -> Awaitable[Any]:
        """Run ``call`` in a task of its own that is cancelled at most once; await the result.

        The call is bounded by the command timeout (``_asqla_timeout``): when
        it passes, the task is cancelled and the caller gets ``TimeoutError``.

        A cancellation of the caller is passed on once: it interrupts the
        database call, and SQLAlchemy cleans up in that same task. For a
        cancellation (``util.is_exit_exception``) ``Connection._handle_dbapi_exception``
        invalidates the connection, and the asyncio ``terminate()`` awaits a
        graceful close; a flush that failed rolls back; a checkin resets with
        ROLLBACK. A second cancellation landing in one of those awaits cuts the
        cleanup short, and SQLAlchemy 2.1 falls back: ``_ConnectionRecord.invalidate``
        leaves the connection open, soft-invalidated, for the next checkout to
        close (and to wait for); inside ``AsyncAdapt_terminate.terminate()`` it
        force-closes while the shielded graceful close runs on, which with
        aiosqlite 0.22 then waits for ever on a worker thread that has stopped
        (a leaked task). So later cancellations wait in the caller, outside
        that task, until the cleanup has finished, and are raised then
        (see `_CallWaiter`).
        """
        name = f"{_task_name(caller)}: AsyncSession.{self._asqla_operation}()"
        runner = self._asqla_runner = asyncio.create_task(call, name=name)
        return _CallWaiter(runner, self._asqla_timeout)

    def _asqla_refuse_writes(self, name: str, args: tuple[Any, ...]) -> None:
        statement = args[0] if args else None
        pending = name in ("flush", "commit") and (self.new or self.dirty or self.deleted)
        if pending or name in ("delete", "delete_all", "merge", "merge_all"):
            raise SessionUsageError(
                f"AsyncSession.{name}() would write through a read-only session (a "
                "ReadSession or db.transaction(read_only=True)), which never "
                "commits. Use the Session dependency (or db.session()) for writes."
            )
        if name in ("execute", "scalar", "scalars") and _writes(statement):
            raise SessionUsageError(
                f"A {type(statement).__name__} statement was executed through a ReadSession, "
                "which never commits. Use the Session dependency (or db.session()) for writes."
            )


class _CallWaiter:
    """What a caller awaits while its session call runs in ``runner``.

    The first cancellation, of the caller or by the deadline (the command
    timeout), is passed on to ``runner``; later ones are not. The caller then
    raises once ``runner`` has finished, whatever its outcome:
    ``CancelledError`` if it was cancelled itself, otherwise ``TimeoutError``
    if the deadline passed.

    This relies on the protocol between an asyncio ``Task`` and the
    future-like object it waits on (one with ``_asyncio_future_blocking``,
    see ``asyncio.isfuture``): ``Task.cancel()`` calls the object's
    ``cancel()`` and, when that returns False, marks the task to raise
    ``CancelledError`` when it next wakes up, which is when ``runner`` is
    done. Awaiting ``runner`` itself would pass on every cancellation.
    ``asyncio.wait((runner,))`` inside ``asyncio.timeout()``, which did this
    before, costs a future, a ``Timeout``, their callbacks and one more
    event-loop turn per call: the guard's CPU time per call was 40-60 %
    higher (benchmarks/README.md, "Session overhead").
    """

    __slots__ = (
        "_asyncio_future_blocking",
        "_cancelled",
        "_deadline",
        "_expired",
        "_forwarded",
        "_runner",
    )

    def __init__(self, runner: asyncio.Task[Any], timeout: float | None) -> None:
        self._runner = runner
        self._asyncio_future_blocking = False
        self._cancelled = self._expired = self._forwarded = False
        self._deadline = (
            None if timeout is None else runner.get_loop().call_later(timeout, self._expire)
        )

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._runner.get_loop()

    def add_done_callback(
        self, fn: Callable[[_CallWaiter], object], *, context: Context | None = None
    ) -> None:
        self._runner.add_done_callback(lambda _: fn(self), context=context)

    def result(self) -> None:
        # What the waiting task's wakeup reads: nothing, so that it resumes
        # the caller rather than throwing runner's exception into it. Raised
        # by __await__ instead, in the caller's frame, the exception chains
        # to the one the caller is handling (its __context__), as with a
        # plain await; translate() follows that chain (a deadlock, then a
        # failed ROLLBACK TO SAVEPOINT).
        return None

    def cancel(self, msg: Any = None) -> bool:
        # Called by the waiting task's Task.cancel(), and by nothing else.
        self._cancelled = True
        self._forward(msg)
        return False

    def _expire(self) -> None:
        if not self._runner.done():  # a call that has finished is not timed out
            self._expired = True
            self._forward(None)

    def _forward(self, msg: Any) -> None:
        if not self._forwarded:
            self._forwarded = True
            self._runner.cancel(msg)

    def __await__(self) -> Generator[Any, None, Any]:
        runner = self._runner
        try:
            if not runner.done():
                self._asyncio_future_blocking = True
                yield self  # resumed once runner is done
        except BaseException:
            # The caller was cancelled (or its coroutine closed): that wins
            # over whatever runner did.
            if runner.done() and not runner.cancelled():
                runner.exception()  # retrieved, so that asyncio does not log it
            raise
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
        if self._expired:
            if runner.cancelled():
                raise TimeoutError
            raise TimeoutError from runner.exception()
        return runner.result()


# The leading keyword of a text() statement that writes. A read session runs
# without a transaction on PostgreSQL and SQLite, so such a statement would be
# saved the moment it runs: it is refused before it reaches the server.
_WRITE_SQL = re.compile(
    r"^\s*(?:insert|update|delete|merge|replace|upsert|create|drop|alter|truncate|grant|revoke"
    r"|with\b.*\b(?:insert|update|delete|merge)\b)",
    re.IGNORECASE | re.DOTALL,
)


def _writes(statement: Any) -> bool:
    if getattr(statement, "is_dml", False):
        return True
    return isinstance(statement, TextClause) and _WRITE_SQL.match(statement.text) is not None


async def _discard(session: _SAAsyncSession) -> None:
    """Invalidate ``session``'s connections, finishing even if we are cancelled."""
    await shielded(session.invalidate())


async def shielded(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` to the end even when the caller is cancelled, then re-raise.

    Cleanup (rollback, close) that is cancelled half-way leaves a pooled
    connection checked out or mid-protocol. ``asyncio.shield`` alone does not
    help: the caller still returns at once while the cleanup runs unobserved,
    so a second cancellation or a closing event loop can cut it off. Here the
    caller waits for the cleanup however often it is cancelled, then raises
    the cancellation; it never swallows one. This is SQLAlchemy's own
    ``ext/asyncio/base.py:_run_to_completion`` (2.1), which its
    ``AsyncSession.__aexit__`` uses for ``close()``.
    """
    task = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            # Also when the cancellation lands just as the cleanup finishes
            # (task.done() is already true): dropping it then would let a
            # cancelled task carry on as if nothing had happened.
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled() and task.exception() is not None:
            logger.warning(
                "asqla: cleanup failed while the task was being cancelled",
                exc_info=task.exception(),
            )
        raise cancelled
    task.result()


def _task_name(task: asyncio.Task[Any] | None) -> str:
    return task.get_name() if task is not None else "<no task>"
