"""Lifespan wiring: check the database at start-up, dispose the engine at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ..database import Database
from ..exceptions import DatabaseUnavailableError

__all__ = ["lifespan"]

logger = logging.getLogger("asqla.fastapi")


def lifespan(
    database: Database, *, ping: bool = True, ping_timeout: float = 5.0
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """Return a FastAPI ``lifespan`` that starts and stops ``database``.

    At start-up it pings the database (unless ``ping=False``) so that a wrong
    URL or an unreachable server stops the service before it reports ready,
    with a [`DatabaseUnavailableError`][asqla.DatabaseUnavailableError] that names the URL (its
    password hidden). At shutdown it disposes the engine, closing every pooled
    connection.

    Example:
        >>> db = Database()  # doctest: +SKIP
        >>> app = FastAPI(lifespan=lifespan(db))  # doctest: +SKIP
    """

    @asynccontextmanager
    async def _lifespan(app: Any) -> AsyncIterator[None]:
        if ping:
            try:
                latency = await database.ping(timeout=ping_timeout)
            except DatabaseUnavailableError as exc:
                await database.dispose()
                raise DatabaseUnavailableError(
                    f"The app did not start: the database at {database.settings.display_url} "
                    f"is unavailable. {exc}"
                ) from exc
            except BaseException:
                await database.dispose()
                raise
            logger.info(
                "asqla: connected to %s (%.1f ms)", database.settings.display_url, latency * 1000
            )
        try:
            yield
        finally:
            await database.dispose()
            logger.info("asqla: disposed the engine for %s", database.settings.display_url)

    return _lifespan
