"""The request's unit of work: commit before the response starts, close when it ends."""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._session import AsyncSession, shielded
from ..database import Database, _end
from ..exceptions import AsqlaError, CommitFailedError, ConflictError, DatabaseUnavailableError

logger = logging.getLogger("asqla.fastapi")

SCOPE_KEY = "asqla.unit_of_work"
RETRY_AFTER_SECONDS = "5"


class RequestUnitOfWork:
    """The sessions one request opened, and whether they may still commit."""

    __slots__ = ("_aborted", "_read_session", "_session", "database")

    def __init__(self, database: Database) -> None:
        self.database = database
        self._session: AsyncSession | None = None
        self._read_session: AsyncSession | None = None
        self._aborted = False

    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.database._new_session()
        return self._session

    def read_session(self) -> AsyncSession:
        if self._read_session is None:
            session = self.database._new_session(bind=self.database._read_bind)
            session._asqla_read_only = True
            self._read_session = session
        return self._read_session

    async def abort(self, exc: BaseException) -> None:
        """Roll back: the request failed (before its response, or while streaming it)."""
        self._aborted = True
        await _release(self._opened(), exc)

    async def commit(self) -> None:
        """Commit the write session, unless the request failed.

        Raises:
            ConflictError: The final flush of pending changes hit a constraint;
                the client can fix this, so it stays a conflict (409).
            CommitFailedError: COMMIT itself failed; nothing was saved.
        """
        session = self._session
        if session is None or self._aborted:
            return
        try:
            await session.flush()
        except ConflictError as exc:
            self._aborted = True
            await _release([session], exc)
            raise
        try:
            await session.commit()
        except BaseException as exc:
            # The session stays listed: a streaming body may still use it, and
            # close() must then release the connection it opens again.
            self._aborted = True
            await _release([session], exc)
            if isinstance(exc, AsqlaError):
                raise CommitFailedError(
                    f"COMMIT failed, so nothing this request changed was saved: {exc}"
                ) from exc
            raise

    async def close(self, exc: BaseException | None = None) -> None:
        """Release every connection: after the response, or when the client went away."""
        await _release(self._opened(), exc)

    def _opened(self) -> list[AsyncSession]:
        return [s for s in (self._session, self._read_session) if s is not None]


async def _release(sessions: list[AsyncSession], exc: BaseException | None) -> None:
    """End every session, finishing each one even if the task is cancelled meanwhile.

    A session that is not ended keeps its pooled connection checked out (and,
    on MySQL, its transaction open) until the garbage collector finds it.
    Ending a session twice is harmless, so callers need not track which ended.
    """
    error: BaseException | None = None
    for session in sessions:
        try:
            if exc is not None:
                await _end(session, exc)
            elif session._asqla_interrupted:
                # Cut off in the middle of a database call, as a streaming body
                # is when its client goes away: the connection's protocol state
                # is unknown, so it is closed rather than returned to the pool.
                await shielded(session.invalidate())
            else:
                await shielded(session.close())
        except BaseException as raised:  # release the others, then re-raise
            error = error or raised
    if error is not None:
        raise error


class UnitOfWorkMiddleware:
    """Pure ASGI middleware that gives each HTTP request one unit of work.

    The ``Session`` dependency's changes are committed when the response is
    about to start, after the endpoint and its dependencies have finished and
    before the client sees a status code. If COMMIT fails, the client gets a
    500 (or a 503 with ``Retry-After`` when the database is unavailable)
    instead of the response the endpoint produced: a 2xx is never sent for
    data that was not saved. That answer comes from the app's exception
    handler for [`CommitFailedError`][asqla.CommitFailedError] (or for the
    [`ConflictError`][asqla.ConflictError] of the final flush), registered the
    usual way with ``@app.exception_handler(...)``, when it has one, so that
    it can take the API's own error format. An exception raised by the endpoint, an
    ``HTTPException`` included, rolls back. Connections are released when the
    response has been sent, which for a streaming response is when the stream
    ends or the client goes away.

    Args:
        app: The ASGI app to wrap.
        database: The database whose sessions the requests use.
    """

    def __init__(self, app: ASGIApp, *, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        unit = RequestUnitOfWork(self.database)
        scope[SCOPE_KEY] = unit
        replaced = False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the app's own response was replaced by the error below
            if message["type"] == "http.response.start":
                try:
                    await unit.commit()
                except (CommitFailedError, ConflictError) as exc:
                    replaced = True
                    await _answer_commit_failure(scope, receive, send, exc)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        except BaseException as exc:
            await unit.abort(exc)
            raise
        else:
            await unit.close()


async def _answer_commit_failure(
    scope: Scope, receive: Receive, send: Send, exc: CommitFailedError | ConflictError
) -> None:
    """Send the app's exception handler's response for ``exc``, or asqla's own."""
    handler = _exception_handler(scope, exc)
    if handler is not None:
        request = Request(scope, receive)
        try:
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
        except Exception as failure:
            logger.error(
                "asqla: the exception handler %r failed on %s; sending asqla's own response",
                handler,
                type(exc).__name__,
                exc_info=failure,
            )
        else:
            if isinstance(response, Response):
                await response(scope, receive, send)
                return
            logger.error(
                "asqla: the exception handler %r returned %r, not a Response; sending "
                "asqla's own response",
                handler,
                type(response).__name__,
            )
    log_commit_failure(exc)
    await commit_failure_response(exc)(scope, receive, send)


def _exception_handler(scope: Scope, exc: BaseException) -> Any:
    """The handler the app registered for ``exc``'s class or a base of it, as Starlette finds it."""
    handlers = getattr(scope.get("app"), "exception_handlers", None)
    if not isinstance(handlers, dict):
        return None
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def commit_failure_response(exc: CommitFailedError | ConflictError) -> Response:
    """asqla's answer when the unit of work could not commit.

    409 for a conflict found by the final flush; for a failed COMMIT, 503 with
    ``Retry-After`` when the database was unavailable, else 500, with a message
    that tells the client nothing was saved and keeps the cause in the log.
    """
    if isinstance(exc, ConflictError):
        return JSONResponse({"detail": str(exc), "error": error_code(exc)}, status_code=409)
    unavailable = isinstance(exc.__cause__, DatabaseUnavailableError)
    return JSONResponse(
        {
            "detail": "The changes could not be saved; nothing was saved. Retry the request.",
            "error": "commit_failed",
        },
        status_code=503 if unavailable else 500,
        headers={"Retry-After": RETRY_AFTER_SECONDS} if unavailable else None,
    )


def log_commit_failure(exc: CommitFailedError | ConflictError) -> None:
    if isinstance(exc, ConflictError):
        logger.info("asqla: the request's changes conflict with saved data: %s", exc)
    else:
        logger.error("asqla: %s", exc, exc_info=exc)


def error_code(exc: BaseException) -> str:
    """Return the stable code of an asqla error (``UniqueViolationError``: ``unique_violation``)."""
    name = type(exc).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def unit_of_work(scope: Scope) -> RequestUnitOfWork:
    """Return the request's unit of work, or explain how to install the middleware."""
    unit = scope.get(SCOPE_KEY)
    if not isinstance(unit, RequestUnitOfWork):
        raise RuntimeError(
            "asqla's Session and ReadSession dependencies need the unit-of-work middleware, "
            "which this app does not have. Add it once, after creating the app: "
            "`asqla.fastapi.install(app, db)`."
        )
    return unit
