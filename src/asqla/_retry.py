"""Rerun a whole transaction that lost a serialization race or a deadlock.

A retryable failure is recognised by its code anywhere in the exception chain
(``__cause__``, ``__context__``, a ``DBAPIError``'s ``orig``), so that it is
found behind asqla's translation, behind a ``CommitFailedError``, and behind the
MariaDB error 1305 that follows a deadlock inside a savepoint. A chain that
shows a lost connection is never retried: when the connection drops during
COMMIT, the client cannot know whether the transaction was saved.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from .exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    SerializationFailureError,
    SessionUsageError,
)

__all__ = [
    "MYSQL_RETRYABLE_ERRNOS",
    "MYSQL_SAVEPOINT_DOES_NOT_EXIST",
    "PG_RETRYABLE_SQLSTATES",
    "Attempt",
    "Backoff",
    "RetryEvent",
    "RetryPolicy",
    "Retrying",
    "is_retryable",
    "retry_on_conflict",
    "retrying",
]

logger = logging.getLogger("asqla.transactions")

P = ParamSpec("P")
T = TypeVar("T")

# PostgreSQL Appendix A: serialization_failure, deadlock_detected. Not 40003
# (statement_completion_unknown): its outcome is unknown.
PG_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# ER_LOCK_DEADLOCK (InnoDB rolled the whole transaction back), ER_LOCK_WAIT_TIMEOUT,
# ER_CHECKREAD ("Record has changed since last read": a write-write conflict under
# MariaDB's REPEATABLE READ with innodb_snapshot_isolation=ON, the default from
# 11.6.2; it rolls the whole transaction back, like a deadlock).
MYSQL_RETRYABLE_ERRNOS = frozenset({1213, 1205, 1020})
# ER_SP_DOES_NOT_EXIST: RELEASE / ROLLBACK TO SAVEPOINT after InnoDB rolled the
# transaction back on a deadlock. Only a retryable error further down its chain
# makes it retryable.
MYSQL_SAVEPOINT_DOES_NOT_EXIST = 1305
_PG_CONNECTION_LOST_PREFIXES = ("08", "57P")  # connection_exception, operator intervention
_PG_OUTCOME_UNKNOWN = frozenset({"40003"})  # statement_completion_unknown
_MYSQL_CONNECTION_LOST = frozenset({2006, 2013, 2055, 1053, 1927, 4031})
_GAVE_UP = "_asqla_gave_up"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential backoff between attempts, capped, with optional full jitter.

    Before retry ``n`` (1 for the first retry) the delay is
    ``min(cap, base * 2 ** (n - 1))`` seconds, or, with ``jitter``, a random
    delay between 0 and that ("full jitter", which spreads out transactions
    that collided so that they do not collide again in lockstep).

    Args:
        base: Seconds before the first retry, before jitter.
        cap: The longest delay, in seconds.
        jitter: Draw each delay at random between 0 and the exponential value.
    """

    base: float = 0.05
    cap: float = 1.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.base <= self.cap:
            raise ConfigurationError(
                f"Backoff(base={self.base!r}, cap={self.cap!r}) is invalid: the delays need "
                "0 <= base <= cap, in seconds. Example: Backoff(base=0.05, cap=1.0)."
            )

    def delay(self, retry: int) -> float:
        """Return the seconds to wait before retry number ``retry`` (1 for the first)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(max(retry - 1, 0), 62))
        return random.uniform(0.0, ceiling) if self.jitter else ceiling


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """What `RetryPolicy.on_retry` is told before each retry.

    Attributes:
        attempt: The attempt that just failed, 1 for the first.
        attempts: The most attempts the policy allows.
        delay: Seconds that will pass before the next attempt starts.
        error: The retryable error the attempt failed with.
    """

    attempt: int
    attempts: int
    delay: float
    error: BaseException


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to rerun a transaction that lost a race.

    Args:
        attempts: Runs in all, the first included; 1 disables retrying.
        backoff: The wait between attempts.
        on_retry: Called (and awaited, if it returns an awaitable) before each
            retry with a `RetryEvent`: for metrics, logs or tests.

    Example:
        >>> policy = RetryPolicy(attempts=5, backoff=Backoff(base=0.05, cap=1.0))
    """

    attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    on_retry: Callable[[RetryEvent], object] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigurationError(
                f"RetryPolicy(attempts={self.attempts!r}) must be a whole number of runs, "
                "the first included, e.g. RetryPolicy(attempts=5)."
            )
        if self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy(attempts={self.attempts!r}) must be at least 1 (1 runs the "
                "transaction once, without retrying)."
            )


def is_retryable(exc: BaseException) -> bool:
    """Return True when rerunning the whole transaction that raised ``exc`` may succeed.

    True for a serialization failure, a deadlock or a lock wait timeout
    anywhere in the exception chain; False as soon as the chain shows a lost
    connection (the outcome of COMMIT may be unknown), and for an error that
    already ended a retry loop.
    """
    retryable = False
    for link in _chain(exc):
        if getattr(link, _GAVE_UP, False) or _connection_lost(link):
            return False
        retryable = retryable or _conflict(link)
    return retryable


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        origin = link.orig if isinstance(link, sa_exc.DBAPIError) else None
        stack.extend(e for e in (link.__context__, origin, link.__cause__) if e is not None)


def _codes(link: BaseException) -> tuple[str | None, int | None]:
    sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
    errno = None
    if isinstance(link, sa_exc.DBAPIError) and link.orig is not None:
        # The driver's error is the DBAPIError's orig; MySQL drivers put the
        # error number first in its args.
        args = getattr(link.orig, "args", ())
        errno = args[0] if args and isinstance(args[0], int) else None
        sqlstate = sqlstate or getattr(link.orig, "sqlstate", None)
        sqlstate = sqlstate or getattr(link.orig, "pgcode", None)
    return (sqlstate if isinstance(sqlstate, str) else None), errno


def _conflict(link: BaseException) -> bool:
    if isinstance(link, SerializationFailureError):
        return True
    sqlstate, errno = _codes(link)
    return sqlstate in PG_RETRYABLE_SQLSTATES or errno in MYSQL_RETRYABLE_ERRNOS


def _connection_lost(link: BaseException) -> bool:
    if isinstance(link, DatabaseUnavailableError | ConnectionError):
        return True
    if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
        return True
    sqlstate, errno = _codes(link)
    if sqlstate is not None and (
        sqlstate in _PG_OUTCOME_UNKNOWN or sqlstate.startswith(_PG_CONNECTION_LOST_PREFIXES)
    ):
        return True
    return errno in _MYSQL_CONNECTION_LOST


_current: ContextVar[Attempt | None] = ContextVar("asqla_retry_attempt", default=None)


class Attempt:
    """One run of the unit of work; enter it with ``async with attempt:``.

    On a retryable error the block's exception is swallowed and the loop
    goes on to the next attempt; any other error propagates at once. After
    the last attempt, [`SerializationFailureError`][asqla.SerializationFailureError] says how
    many were made.

    Attributes:
        number: 1 for the first run, 2 for the first retry...
    """

    def __init__(self, number: int, policy: RetryPolicy) -> None:
        self.number = number
        self._policy = policy
        self._outcome: str | None = None  # "succeeded", "failed" or "retry"
        self._delay = 0.0
        self._began = False
        self._open: set[Connection] = set()

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of {self._policy.attempts}>"

    async def __aenter__(self) -> Attempt:
        if self._outcome is not None or _current.get() is self:
            raise SessionUsageError(f"{self!r} was entered twice; enter each attempt once.")
        _install_transaction_tracking()
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        _current.reset(self._token)
        if exc is None:
            self._outcome = "succeeded"
            return False
        self._outcome = "failed"
        if not isinstance(exc, Exception) or not is_retryable(exc):
            return False
        if not self._began or self._open:
            raise SessionUsageError(
                "A serialization failure or deadlock reached the retry loop, but the "
                "transaction it broke was not opened and closed inside the retried code (for "
                "example, it belongs to the request's Session). Rerunning part of a "
                "transaction would commit the rest without it. Open the transaction inside "
                "the retried function: `async with db.transaction() as session:`."
            ) from exc
        attempts = self._policy.attempts
        if self.number >= attempts:
            last = str(exc).strip().rstrip(".")
            error = SerializationFailureError(
                f"Gave up after {self.number} attempt{'s' if self.number > 1 else ''}: each "
                f"one lost a serialization race or a deadlock; the last failed with: {last}. "
                "Keep transactions short, lock rows in one consistent order, or allow more "
                "attempts with RetryPolicy(attempts=...)."
            )
            setattr(error, _GAVE_UP, True)
            raise error from exc
        self._delay = self._policy.backoff.delay(self.number)
        logger.info(
            "asqla: attempt %d of %d failed (%s); retrying in %.3fs",
            self.number,
            attempts,
            type(exc).__name__,
            self._delay,
        )
        if self._policy.on_retry is not None:
            result = self._policy.on_retry(RetryEvent(self.number, attempts, self._delay, exc))
            if inspect.isawaitable(result):
                await result
        self._outcome = "retry"
        return True


class Retrying:
    """The attempts of one retry loop; see `retrying()`."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._last: Attempt | None = None

    def __aiter__(self) -> Retrying:
        return self

    async def __anext__(self) -> Attempt:
        last = self._last
        if last is not None:
            if last._outcome is None:
                raise SessionUsageError(
                    f"{last!r} was never entered, so its outcome is unknown. Run the unit of "
                    "work inside it: `async for attempt in retrying(): async with attempt: ...`."
                )
            if last._outcome != "retry":
                raise StopAsyncIteration
            await asyncio.sleep(last._delay)
        self._last = Attempt(1 if last is None else last.number + 1, self.policy)
        return self._last


def retrying(policy: RetryPolicy | None = None) -> Retrying:
    """Iterate over the attempts of a unit of work until one succeeds.

    Each attempt must open, and end, its own transaction: when it fails with a
    serialization failure, a deadlock or a lock wait timeout, the transaction
    has been rolled back and the whole block runs again after the policy's
    backoff. Other errors propagate at once; so does a lost connection, as the
    outcome of COMMIT may then be unknown.

    Args:
        policy: How many attempts and how long to wait; ``RetryPolicy()`` if omitted.

    Raises:
        SerializationFailureError: The last attempt failed too; the message
            says how many were made.
        SessionUsageError: A retryable error broke a transaction opened outside
            the attempt, which rerunning the attempt cannot repair.

    Example:
        >>> async for attempt in retrying(RetryPolicy(attempts=5)):  # doctest: +SKIP
        ...     async with attempt, db.transaction(isolation_level="SERIALIZABLE") as session:
        ...         await move_money(session, source, destination, amount)
    """
    return Retrying(policy if policy is not None else RetryPolicy())


def _on_begin(connection: Connection) -> None:
    attempt = _current.get()
    if attempt is not None:
        attempt._began = True
        attempt._open.add(connection)


def _on_end(connection: Connection) -> None:
    attempt = _current.get()
    if attempt is not None:
        attempt._open.discard(connection)


def _install_transaction_tracking() -> None:
    """Note which transactions begin and end inside an attempt (every Engine, once).

    Listening on the Engine class reaches engines that already exist; the
    listeners cost one ContextVar lookup outside retry loops.
    """
    if not event.contains(Engine, "begin", _on_begin):
        event.listen(Engine, "begin", _on_begin)
        event.listen(Engine, "commit", _on_end)
        event.listen(Engine, "rollback", _on_end)


@overload
def retry_on_conflict(
    func: Callable[P, Awaitable[T]], /
) -> Callable[P, Coroutine[Any, Any, T]]: ...
@overload
def retry_on_conflict(
    policy: RetryPolicy | None = None, /
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]: ...
def retry_on_conflict(
    policy_or_func: RetryPolicy | Callable[P, Awaitable[T]] | None = None, /
) -> Any:
    """Decorate an ``async def`` to rerun it whole when its transaction loses a race.

    The function must open its own transaction (``db.transaction()``); see
    `retrying()` for what is retried and what is not. Use it bare
    (``@retry_on_conflict``) for the default `RetryPolicy`.

    Args:
        policy_or_func: The policy, or the function when used bare.

    Example:
        >>> @retry_on_conflict(RetryPolicy(attempts=5, backoff=Backoff(base=0.05)))
        ... async def transfer(db, source, destination, amount):
        ...     async with db.transaction(isolation_level="SERIALIZABLE") as session:
        ...         ...
    """
    if policy_or_func is None or isinstance(policy_or_func, RetryPolicy):
        return functools.partial(_decorate, policy_or_func or RetryPolicy())
    return _decorate(RetryPolicy(), policy_or_func)


def _decorate(
    policy: RetryPolicy, func: Callable[P, Awaitable[T]]
) -> Callable[P, Coroutine[Any, Any, T]]:
    if not inspect.iscoroutinefunction(func):
        raise ConfigurationError(
            f"retry_on_conflict decorates coroutine functions (async def), not {func!r}. "
            "Pass a RetryPolicy as retry_on_conflict(RetryPolicy(...)), or make the "
            "function async."
        )

    @functools.wraps(func)
    async def rerun(*args: P.args, **kwargs: P.kwargs) -> T:
        async for attempt in Retrying(policy):
            async with attempt:
                return await func(*args, **kwargs)
        raise AssertionError("unreachable: the loop ends by returning or raising")

    return rerun
