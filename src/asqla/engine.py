"""Build an ``AsyncEngine`` from settings: a pool preset plus per-dialect tuning."""

from __future__ import annotations

import logging
import sqlite3
import uuid
import weakref
from typing import Any

from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from . import _dialects
from .settings import DatabaseSettings

__all__ = ["create_engine"]

logger = logging.getLogger("asqla.engine")

_MEMORY_ANCHORS: weakref.WeakKeyDictionary[Engine, sqlite3.Connection] = weakref.WeakKeyDictionary()


def create_engine(settings: DatabaseSettings | str) -> AsyncEngine:
    """Create an ``AsyncEngine`` tuned for the backend and the settings' preset.

    On top of the preset's pool numbers, each backend is tuned on connect:

    - SQLite on disk: WAL journal, ``busy_timeout``, ``foreign_keys=ON``, and
      transactions that write begin with ``BEGIN IMMEDIATE`` so that
      concurrent writers wait for the lock instead of failing; no
      ``pool_pre_ping`` unless the settings ask for it.
    - SQLite in memory: one shared database that every session sees.
    - MySQL/MariaDB: utf8mb4, strict SQL mode, UTC session time zone, and a
      pool recycle shorter than the server's ``wait_timeout``.
    - PostgreSQL: ``application_name``, and the optional ``statement_timeout``
      and ``idle_in_transaction_session_timeout``.

    Args:
        settings: The settings, or a database URL to use with the defaults.

    Example:
        >>> engine = create_engine("sqlite:///app.db")
        >>> engine.dialect.name
        'sqlite'
    """
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    preset = settings.engine_preset
    url = settings.sqlalchemy_url
    backend = url.get_backend_name()

    kwargs: dict[str, Any] = {
        "echo": settings.echo,
        "pool_pre_ping": preset.pool_pre_ping,
        "hide_parameters": False,
    }
    if backend == "sqlite" and settings.pool_pre_ping is None:
        # A file has no server that could drop the connection: a ping would
        # only cost each checkout a round trip to aiosqlite's thread.
        kwargs["pool_pre_ping"] = False
    memory_anchor: sqlite3.Connection | None = None
    if backend == "sqlite" and _is_memory(url):
        url, memory_anchor = _shared_memory_url(url)
        # One connection at a time: a shared-cache database reports "table is
        # locked" (SQLITE_LOCKED) to a second connection instead of waiting.
        kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
        kwargs.update(pool_timeout=preset.pool_timeout, pool_recycle=-1)
    elif preset.null_pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool,
            pool_size=preset.pool_size,
            max_overflow=preset.max_overflow,
            pool_timeout=preset.pool_timeout,
            pool_recycle=preset.pool_recycle,
        )
    kwargs["connect_args"] = _dialects.connect_args(url, settings, preset)

    engine = create_async_engine(url, **kwargs)
    if memory_anchor is not None:
        # The shared in-memory database lives as long as one connection to it
        # is open; this one is closed by close_memory_database() or with the engine.
        _MEMORY_ANCHORS[engine.sync_engine] = memory_anchor
    _dialects.install(engine.sync_engine, settings, preset, memory=memory_anchor is not None)
    logger.info(
        "asqla engine created: %s (preset=%s, pool=%s)",
        settings.display_url,
        preset.name,
        type(engine.pool).__name__,
    )
    return engine


def close_memory_database(engine: AsyncEngine) -> None:
    """Close the connection that keeps ``engine``'s in-memory SQLite database alive."""
    anchor = _MEMORY_ANCHORS.pop(engine.sync_engine, None)
    if anchor is not None:
        anchor.close()


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _shared_memory_url(url: URL) -> tuple[URL, sqlite3.Connection]:
    name = f"file:asqla-{uuid.uuid4().hex}?mode=memory&cache=shared"
    anchor = sqlite3.connect(name, uri=True, check_same_thread=False)
    return url.set(database=name, query={**url.query, "uri": "true"}), anchor
