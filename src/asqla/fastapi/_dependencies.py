"""``Session`` and ``ReadSession``: the request's sessions as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from .._session import AsyncSession
from ._unit_of_work import unit_of_work

__all__ = ["ReadSession", "Session"]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    unit = unit_of_work(request.scope)
    session = unit.session()
    try:
        yield session
    except BaseException as exc:
        # FastAPI throws the endpoint's exception (HTTPException included) in
        # here before any exception handler builds the error response.
        await unit.abort(exc)
        raise


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    unit = unit_of_work(request.scope)
    session = unit.read_session()
    try:
        yield session
    except BaseException as exc:
        await unit.abort(exc)
        raise


Session = Annotated[AsyncSession, Depends(_session)]
"""The request's unit of work: committed before the response starts, rolled back on error."""

ReadSession = Annotated[AsyncSession, Depends(_read_session)]
"""A session for reads that never commits (see ``Database.read_session``)."""
