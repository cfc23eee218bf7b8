"""Exception handlers: asqla errors become JSON responses with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..exceptions import (
    AsqlaError,
    CommitFailedError,
    ConflictError,
    DatabaseUnavailableError,
    InvalidQueryError,
    InvalidRowError,
    NotFoundError,
)
from ._unit_of_work import (
    RETRY_AFTER_SECONDS,
    commit_failure_response,
    error_code,
    log_commit_failure,
)

__all__ = ["add_exception_handlers", "asqla_exception_handler"]

logger = logging.getLogger("asqla.fastapi")


async def asqla_exception_handler(request: Request, exc: Exception) -> Response:
    """Answer an asqla error: 400, 404, 409, 422, 503 with ``Retry-After``, or 500.

    A [`CommitFailedError`][asqla.CommitFailedError] gets the unit of work's
    own answer (500 ``commit_failed``, or 503 when the database was
    unavailable).

    The body is ``{"detail": ..., "error": ...}`` where ``error`` is a stable
    code such as ``"unique_violation"`` or ``"pool_timeout"``; a 400 for an
    [`InvalidQueryError`][asqla.InvalidQueryError] adds ``"allowed"``, what the query may
    use instead. Messages of 400, 404, 409 and 503 errors are shown to the
    client; a 500 shows a generic message and logs the real one, so that no
    internals leak.
    """
    code = error_code(exc)
    if isinstance(exc, InvalidQueryError):
        return JSONResponse(
            {"detail": str(exc), "error": code, "allowed": exc.allowed}, status_code=400
        )
    if isinstance(exc, InvalidRowError):
        body = {"detail": str(exc), "error": code, "index": exc.index, "column": exc.column}
        return JSONResponse(body, status_code=422)
    if isinstance(exc, NotFoundError):
        return JSONResponse({"detail": str(exc), "error": code}, status_code=404)
    if isinstance(exc, ConflictError):
        return JSONResponse({"detail": str(exc), "error": code}, status_code=409)
    if isinstance(exc, CommitFailedError):  # from the unit of work, before the response
        log_commit_failure(exc)
        return commit_failure_response(exc)
    if isinstance(exc, DatabaseUnavailableError):
        logger.warning("asqla: %s", exc)
        return JSONResponse(
            {"detail": str(exc), "error": code},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    logger.error("asqla: %s", exc, exc_info=exc)
    return JSONResponse({"detail": "Internal database error.", "error": code}, status_code=500)


def add_exception_handlers(app: FastAPI) -> None:
    """Register `asqla_exception_handler()` for every [`AsqlaError`][asqla.AsqlaError]."""
    app.add_exception_handler(AsqlaError, asqla_exception_handler)
