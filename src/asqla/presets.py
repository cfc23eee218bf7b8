"""Engine presets: pool and timeout numbers chosen for a kind of process.

Each number has a reason; ``docs/settings.md`` explains them in full.

- ``web``: a FastAPI service behind a load balancer. A request should fail
  fast with a 503 rather than queue for long, so ``pool_timeout`` is 10 s (not
  SQLAlchemy's 30 s, which is longer than most proxies' timeouts). Ten pooled
  plus ten overflow connections serve a single worker process well and keep
  four workers under PostgreSQL's default ``max_connections = 100``.
- ``worker``: a background job runner. Few concurrent sessions, long
  statements: five connections, no overflow, a long command timeout.
- ``serverless``: a short-lived process (a lambda, a CLI, a cron job). No
  pool (``NullPool``): a connection is opened per checkout and closed after,
  so nothing is left open when the process is frozen or killed.
- ``pgbouncer``: PgBouncer in transaction pooling mode hands each transaction
  to any server connection, so server-side prepared statements must not be
  reused: the statement cache is off and every prepared statement gets a
  unique name (SQLAlchemy's documented recipe for asyncpg behind PgBouncer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PRESETS", "EnginePreset", "PresetName"]

PresetName = Literal["web", "worker", "serverless", "pgbouncer"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnginePreset:
    """Pool and timeout numbers for one kind of process.

    Attributes:
        name: The preset's name.
        pool_size: Connections kept open in the pool (ignored with ``null_pool``).
        max_overflow: Extra connections opened under load and closed when returned.
        pool_timeout: Seconds a checkout waits for a free connection before
            [`PoolTimeoutError`][asqla.PoolTimeoutError].
        pool_recycle: Seconds after which a pooled connection is replaced, so that
            no connection outlives a server-side or firewall idle timeout.
        pool_pre_ping: Test each connection on checkout (one cheap round trip) so
            that a connection the server dropped is replaced, not handed out.
        connect_timeout: Seconds to wait for a new connection.
        command_timeout: Seconds any single database call may take before it is
            abandoned with [`QueryTimeoutError`][asqla.QueryTimeoutError]; ``None`` waits forever.
        null_pool: Open a connection per checkout and close it afterwards.
        prepared_statement_cache: Reuse server-side prepared statements (asyncpg).
    """

    name: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float
    pool_pre_ping: bool
    connect_timeout: float
    command_timeout: float | None
    null_pool: bool = False
    prepared_statement_cache: bool = True


PRESETS: dict[str, EnginePreset] = {
    "web": EnginePreset(
        name="web",
        pool_size=10,
        max_overflow=10,
        pool_timeout=10.0,
        pool_recycle=1800.0,
        pool_pre_ping=True,
        connect_timeout=5.0,
        command_timeout=60.0,
    ),
    "worker": EnginePreset(
        name="worker",
        pool_size=5,
        max_overflow=0,
        pool_timeout=60.0,
        pool_recycle=1800.0,
        pool_pre_ping=True,
        connect_timeout=10.0,
        command_timeout=1800.0,
    ),
    "serverless": EnginePreset(
        name="serverless",
        pool_size=0,
        max_overflow=0,
        pool_timeout=10.0,
        pool_recycle=-1,
        pool_pre_ping=False,
        connect_timeout=5.0,
        command_timeout=60.0,
        null_pool=True,
    ),
    "pgbouncer": EnginePreset(
        name="pgbouncer",
        pool_size=5,
        max_overflow=5,
        pool_timeout=10.0,
        pool_recycle=600.0,
        pool_pre_ping=True,
        connect_timeout=5.0,
        command_timeout=60.0,
        prepared_statement_cache=False,
    ),
}
