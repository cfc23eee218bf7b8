"""FastAPI integration: lifespan, request unit of work, dependencies, handlers, health.

Example:
    >>> from fastapi import FastAPI
    >>> from asqla import Database
    >>> from asqla.fastapi import Session, install, lifespan
    >>> db = Database("sqlite:///app.db")
    >>> app = FastAPI(lifespan=lifespan(db))
    >>> install(app, db)
"""

from __future__ import annotations

from fastapi import FastAPI

from ..database import Database
from ._dependencies import ReadSession as ReadSession
from ._dependencies import Session as Session
from ._filters import filter_params as filter_params
from ._filters import sort_param as sort_param
from ._handlers import add_exception_handlers as add_exception_handlers
from ._handlers import asqla_exception_handler as asqla_exception_handler
from ._health import health_router as health_router
from ._lifespan import lifespan as lifespan
from ._unit_of_work import UnitOfWorkMiddleware as UnitOfWorkMiddleware

__all__ = [
    "ReadSession",
    "Session",
    "UnitOfWorkMiddleware",
    "add_exception_handlers",
    "asqla_exception_handler",
    "filter_params",
    "health_router",
    "install",
    "lifespan",
    "sort_param",
]


def install(app: FastAPI, database: Database, *, exception_handlers: bool = True) -> None:
    """Give ``app`` a unit of work per request on ``database``, and asqla's error handlers.

    Adds `UnitOfWorkMiddleware` (which the ``Session`` and
    ``ReadSession`` dependencies need) and, unless ``exception_handlers=False``,
    `add_exception_handlers()`. Call it once, before the app starts.
    """
    app.add_middleware(UnitOfWorkMiddleware, database=database)
    if exception_handlers:
        add_exception_handlers(app)
