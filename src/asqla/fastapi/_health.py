"""A ``/health/db`` router: ping latency and pool status."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..database import Database
from ..exceptions import AsqlaError
from ._unit_of_work import RETRY_AFTER_SECONDS

__all__ = ["health_router"]


def health_router(
    database: Database, *, path: str = "/health/db", timeout: float = 2.0
) -> APIRouter:
    """Return a router whose ``GET path`` reports the database's health.

    It answers 200 with the ping latency and the pool's state, or 503 with
    ``Retry-After`` and the reason when the database does not answer within
    ``timeout`` seconds. The URL shown has its password hidden.

    Example:
        >>> app.include_router(health_router(db))  # doctest: +SKIP
    """
    router = APIRouter()

    @router.get(path, tags=["health"], summary="Database health")
    async def database_health() -> JSONResponse:
        pool = dataclasses.asdict(database.status())
        try:
            latency = await database.ping(timeout=timeout)
        except AsqlaError as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": str(exc), "pool": pool},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        return JSONResponse({"status": "ok", "latency_ms": round(latency * 1000, 3), "pool": pool})

    return router
