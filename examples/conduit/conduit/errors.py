"""Error responses in the spec's shape: ``{"errors": {"body": ["..."]}}``.

The spec gives that body (``GenericErrorModel``) to its 422s; the 401, 403
and 404 of the RealWorld docs get it too, so that a client reads every error
the same way. A query parameter that a repository refuses is a 422 as well.
Errors from the database layer that are not the client's doing (409
conflicts, 503 unavailable) keep asqla's ``{"detail", "error"}`` body, from
asqla's handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from asqla import InvalidQueryError, NotFoundError

__all__ = ["add_error_handlers", "forbidden", "not_found", "unprocessable"]


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def forbidden(reason: str) -> HTTPException:
    return HTTPException(403, reason)


def unprocessable(*reasons: str) -> HTTPException:
    return HTTPException(422, list(reasons))


def add_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, invalid requests and missing rows with the spec's error body."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # More specific than asqla's AsqlaError handler, so these win for their classes.
    app.add_exception_handler(NotFoundError, _row_not_found)
    app.add_exception_handler(InvalidQueryError, _invalid_query)


def error_response(status: int, reasons: Sequence[str], **kwargs: Any) -> JSONResponse:
    return JSONResponse({"errors": {"body": list(reasons)}}, status_code=status, **kwargs)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail: Any = exc.detail  # FastAPI's HTTPException takes any JSON, unprocessable() a list
    reasons = detail if isinstance(detail, list) else [str(detail)]
    return error_response(exc.status_code, reasons, headers=exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, [_describe(error) for error in exc.errors()])


async def _row_not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, [str(exc)])


async def _invalid_query(request: Request, exc: Exception) -> JSONResponse:
    # A filter value the repository refused (a NUL byte in ?tag=, say): the
    # spec's 422, where asqla's own handler answers 400.
    return error_response(422, [str(exc)])


def _describe(error: dict[str, Any]) -> str:
    # ("body", "user", "email") -> "user.email"; ("query", "limit") -> "limit"
    where = ".".join(str(part) for part in error["loc"][1:])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
