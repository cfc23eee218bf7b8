"""Lifespan wiring: check the database at start-up, dispose the engine at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ..database import Database

__all__ = ["lifespan"]

logger = logging.getLogger("asqla.fastapi")


def lifespan(
    database: Database, *, ping: bool = True, ping_timeout: float = 5.0
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """Return a FastAPI ``lifespan`` that starts and stops ``database``.

    At start-up it pings the database (unless ``ping=False``) so that a wrong
    URL or an unreachable server stops the service before it reports ready.
    At shutdown it disposes the engine, closing every pooled connection.

    Example:
        >>> db = Database()  # doctest: +SKIP
        >>> app = FastAPI(lifespan=lifespan(db))  # doctest: +SKIP
    """

    @asynccontextmanager
    async def _lifespan(app: Any) -> AsyncIterator[None]:
        if ping:
            latency = await database.ping(timeout=ping_timeout)
            logger.info(
                "asqla: connected to %s (%.1f ms)", database.settings.display_url, latency * 1000
            )
        try:
            yield
        finally:
            await database.dispose()
            logger.info("asqla: disposed the engine for %s", database.settings.display_url)

    return _lifespan
