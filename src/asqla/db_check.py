"""``check_database``: can this process reach its database, and is the pool sized right?

The plain function behind ``asqla db check``. It opens one connection with
the same engine tuning the application gets (:func:`asqla.create_engine`),
and reports, without ever showing the password:

- whether the server is reachable and, when it is not, why, in plain words
  (a stable :data:`Problem` code plus a paragraph that names the fix);
- the server's product and version, its time zone and encoding, whether the
  connection is encrypted (TLS);
- the round trip of ``SELECT 1``: minimum and median over several pings;
- the pool arithmetic: ``workers x (pool_size + max_overflow)`` against the
  connections the server accepts from ordinary users.

Example:
    >>> report = await check_database("postgresql://app@db:5432/app", workers=4)  # doctest: +SKIP
    >>> report.healthy, report.latency.median_ms  # doctest: +SKIP
    (True, 0.31)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, ValidationError
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from ._health_check import diagnose, is_local_host, scrub
from ._url import mask_url, parse_database_url
from .engine import create_engine
from .exceptions import ConfigurationError, DriverNotInstalledError
from .settings import DatabaseSettings

__all__ = [
    "CheckReport",
    "Latency",
    "PoolArithmetic",
    "Problem",
    "ServerInfo",
    "check_database",
]

Problem = Literal[
    "name_not_resolved",
    "connection_refused",
    "timeout",
    "authentication_failed",
    "database_not_found",
    "tls_required",
    "tls_unavailable",
    "tls_failed",
    "too_many_connections",
    "invalid_url",
    "invalid_settings",
    "driver_missing",
    "error",
]
"""Why a database is unreachable: a stable code, part of the JSON contract."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """What the server says about itself.

    Attributes:
        product: ``"PostgreSQL"``, ``"MariaDB"``, ``"MySQL"`` or ``"SQLite"``.
        version: The version string the server reports.
        time_zone: The server's default time zone (``None`` for SQLite).
        encoding: The server's character set (PostgreSQL ``server_encoding``,
            MySQL ``character_set_server``, SQLite ``PRAGMA encoding``).
        tls: Whether this connection is encrypted (``None`` for SQLite).
    """

    product: str
    version: str
    time_zone: str | None
    encoding: str
    tls: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Round trips of ``SELECT 1`` on an open connection, and the time to connect.

    Attributes:
        connect_ms: Opening the first connection (TCP, TLS, login, SQLAlchemy's
            first-connect queries).
        min_ms: The fastest ping.
        median_ms: The median ping.
        pings: How many pings were timed.
    """

    connect_ms: float
    min_ms: float
    median_ms: float
    pings: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolArithmetic:
    """The connections the application may open, against what the server accepts.

    Attributes:
        workers: Processes running the application (``--workers``).
        preset: The engine preset the settings select.
        pool_size: Connections each process keeps in its pool.
        max_overflow: Extra connections each process may open under load.
        per_worker: ``pool_size + max_overflow``; ``None`` without a pool
            (one connection per concurrent session, no upper bound).
        total: ``workers x per_worker``, or ``None`` without a pool.
        max_connections: The server's connection limit (``None`` for SQLite).
        reserved: Connections the server keeps for superusers and admins.
        available: ``max_connections - reserved``: what ordinary users get
            (the per-user limit instead, on MySQL/MariaDB, when it is lower).
        in_use: Client connections open on the server now, this check's included.
        fits: ``total <= available`` (``True`` when either is unknown).
    """

    workers: int
    preset: str
    pool_size: int
    max_overflow: int
    per_worker: int | None
    total: int | None
    max_connections: int | None
    reserved: int
    available: int | None
    in_use: int | None
    fits: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """The result of :func:`check_database`.

    Attributes:
        url: The URL checked, its password hidden.
        backend: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        driver: The driver used (``"asyncpg"``, ``"asyncmy"``, ``"aiosqlite"``).
        reachable: Whether a connection was made and answered.
        problem: Why not, when it was not reachable.
        reason: The problem in plain words, with the fix; ``None`` when reachable.
        server: What the server said about itself, when reachable.
        latency: The timings, when reachable.
        pool: The pool arithmetic, when reachable.
        warnings: Things that work today but deserve attention.
    """

    url: str
    backend: str
    driver: str
    reachable: bool
    problem: Problem | None = None
    reason: str | None = None
    server: ServerInfo | None = None
    latency: Latency | None = None
    pool: PoolArithmetic | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        """Reachable, and the pools of every worker fit within the server's limit."""
        return self.reachable and (self.pool is None or self.pool.fits)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as ``asqla db check --format json`` prints it.

        Without ``schema_version``, which the command adds; ``docs/cli.md``
        documents every field.
        """
        latency = self.latency
        return {
            "ok": self.healthy,
            "url": self.url,
            "backend": self.backend,
            "driver": self.driver,
            "reachable": self.reachable,
            "problem": self.problem,
            "reason": self.reason,
            "server": None if self.server is None else asdict(self.server),
            "latency_ms": None
            if latency is None
            else {
                "connect": latency.connect_ms,
                "min": latency.min_ms,
                "median": latency.median_ms,
                "pings": latency.pings,
            },
            "pool": None if self.pool is None else asdict(self.pool),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class _Probe:
    """What the server-specific queries found."""

    server: ServerInfo
    max_connections: int | None = None
    reserved: int = 0
    in_use: int | None = None


async def check_database(
    url: str | DatabaseSettings | None = None,
    *,
    workers: int = 1,
    pings: int = 5,
    timeout: float = 5.0,
) -> CheckReport:
    """Connect to the database once, and report what a deployment needs to know.

    Never raises for an unreachable database: the report says why. The pool
    numbers come from the settings (the preset and ``ASQLA_POOL_SIZE`` /
    ``ASQLA_MAX_OVERFLOW``), exactly as the application would build its engine.

    Args:
        url: A database URL, the application's settings, or ``None`` to read
            them from the environment (``DATABASE_URL``).
        workers: Processes that will each open a pool (uvicorn/gunicorn workers,
            replicas): the arithmetic multiplies by it.
        pings: ``SELECT 1`` round trips to time.
        timeout: Seconds the whole check may take before the server is
            reported as not answering.

    Raises:
        ValueError: ``workers`` or ``pings`` is below 1, or ``timeout`` is not positive.
    """
    if workers < 1 or pings < 1 or timeout <= 0:
        raise ValueError(
            f"check_database needs workers >= 1, pings >= 1 and timeout > 0; got "
            f"workers={workers!r}, pings={pings!r}, timeout={timeout!r}."
        )
    try:
        if isinstance(url, DatabaseSettings):
            settings = url
        else:
            settings = DatabaseSettings() if url is None else DatabaseSettings(url=url)
    except (ConfigurationError, ValidationError) as exc:
        return CheckReport(
            url="(DATABASE_URL)" if url is None else mask_url(str(url)),
            backend="unknown",
            driver="unknown",
            reachable=False,
            problem=_configuration_problem(exc, url),
            reason=str(exc),
        )
    sa_url = settings.sqlalchemy_url
    report = CheckReport(
        url=settings.display_url,
        backend=sa_url.get_backend_name(),
        driver=sa_url.get_driver_name(),
        reachable=False,
    )
    password = sa_url.password or ""
    missing = _missing_sqlite_file(sa_url)
    if missing is not None:
        return replace(report, problem="database_not_found", reason=missing)
    try:
        async with asyncio.timeout(timeout):
            return await _check(settings, report, workers=workers, pings=pings, timeout=timeout)
    except Exception as exc:  # whatever the driver raised; a cancellation passes through
        found = diagnose(exc, sa_url, timeout=timeout)
        return replace(report, problem=found.problem, reason=scrub(found.reason, password))


async def _check(
    settings: DatabaseSettings, report: CheckReport, *, workers: int, pings: int, timeout: float
) -> CheckReport:
    # One connection, no pool, the application's own connect arguments and
    # on-connect tuning; the timeouts bounded by the check's.
    probe_settings = settings.model_copy(
        update={
            "preset": "serverless",
            "connect_timeout": timeout,
            "command_timeout": timeout,
            "pool_size": None,
            "max_overflow": None,
        }
    )
    engine = create_engine(probe_settings)
    try:
        started = time.perf_counter()
        async with engine.connect() as connection:
            connect_ms = (time.perf_counter() - started) * 1000
            samples = []
            for _ in range(pings):
                started = time.perf_counter()
                await connection.exec_driver_sql("SELECT 1")
                samples.append((time.perf_counter() - started) * 1000)
            probe = await _PROBES[report.backend](connection)
    finally:
        await engine.dispose()
    latency = Latency(
        connect_ms=round(connect_ms, 3),
        min_ms=round(min(samples), 3),
        median_ms=round(statistics.median(samples), 3),
        pings=pings,
    )
    pool = _arithmetic(settings, probe, workers) if report.backend != "sqlite" else None
    checked = replace(report, reachable=True, server=probe.server, latency=latency, pool=pool)
    return replace(checked, warnings=_warnings(checked, settings.sqlalchemy_url))


async def _probe_postgresql(connection: AsyncConnection) -> _Probe:
    row = await _one(
        connection,
        (
            "SELECT current_setting('server_version'), current_setting('TimeZone'), "
            "current_setting('server_encoding'), current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            # reserved_connections (for pg_use_reserved_connections) is PostgreSQL 16+.
            "coalesce(current_setting('reserved_connections', true), '0')::int, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
            "coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)"
        ),
    )
    version, time_zone, encoding, max_connections, superuser, reserved, in_use, tls = row
    server = ServerInfo(
        product="PostgreSQL", version=version, time_zone=time_zone, encoding=encoding, tls=tls
    )
    return _Probe(server, max_connections, superuser + reserved, in_use)


async def _probe_mysql(connection: AsyncConnection) -> _Probe:
    row = await _one(
        connection,
        "SELECT VERSION(), @@global.time_zone, @@system_time_zone, @@character_set_server, "
        "@@max_connections, @@session.max_user_connections",
    )
    version, time_zone, system_zone, charset, max_connections, per_user = row
    _, cipher = await _one(connection, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    _, threads = await _one(connection, "SHOW GLOBAL STATUS LIKE 'Threads_connected'")
    if time_zone == "SYSTEM":
        time_zone = f"SYSTEM ({system_zone})"
    server = ServerInfo(
        product="MariaDB" if "mariadb" in version.lower() else "MySQL",
        version=version,
        time_zone=time_zone,
        encoding=charset,
        tls=bool(cipher),
    )
    # MySQL and MariaDB keep one connection beyond max_connections for an
    # account with SUPER / CONNECTION ADMIN, so max_connections is what
    # ordinary users get; the session value of max_user_connections is the
    # account's own limit when it has one (MariaDB "max_user_connections").
    limit = int(max_connections)
    if per_user and int(per_user) < limit:
        return _Probe(server, int(per_user), 0, int(threads))
    return _Probe(server, limit, 0, int(threads))


async def _probe_sqlite(connection: AsyncConnection) -> _Probe:
    (version,) = await _one(connection, "SELECT sqlite_version()")
    (encoding,) = await _one(connection, "PRAGMA encoding")
    return _Probe(
        ServerInfo(product="SQLite", version=version, time_zone=None, encoding=encoding, tls=None)
    )


async def _one(connection: AsyncConnection, sql: str) -> tuple[Any, ...]:
    return tuple((await connection.exec_driver_sql(sql)).one())


_PROBES = {"postgresql": _probe_postgresql, "mysql": _probe_mysql, "sqlite": _probe_sqlite}


def _arithmetic(settings: DatabaseSettings, probe: _Probe, workers: int) -> PoolArithmetic:
    preset = settings.engine_preset
    per_worker = None if preset.null_pool else preset.pool_size + preset.max_overflow
    total = None if per_worker is None else workers * per_worker
    available = None if probe.max_connections is None else probe.max_connections - probe.reserved
    return PoolArithmetic(
        workers=workers,
        preset=preset.name,
        pool_size=0 if preset.null_pool else preset.pool_size,
        max_overflow=0 if preset.null_pool else preset.max_overflow,
        per_worker=per_worker,
        total=total,
        max_connections=probe.max_connections,
        reserved=probe.reserved,
        available=available,
        in_use=probe.in_use,
        fits=total is None or available is None or total <= available,
    )


def _warnings(report: CheckReport, url: URL) -> tuple[str, ...]:
    found: list[str] = []
    pool, server = report.pool, report.server
    if pool is not None and pool.total is not None and pool.available is not None:
        if not pool.fits:
            found.append(
                f"{pool.workers} worker(s) x {pool.per_worker} connections "
                f"(pool_size {pool.pool_size} + max_overflow {pool.max_overflow}) = {pool.total}, "
                f"more than the {pool.available} the server accepts "
                f"(max_connections {pool.max_connections} - {pool.reserved} reserved). Under "
                "load, connections will be refused. Lower ASQLA_POOL_SIZE / ASQLA_MAX_OVERFLOW, "
                "run fewer workers, raise max_connections, or put PgBouncer in front "
                "(preset 'pgbouncer')."
            )
        elif pool.in_use is not None and pool.total > pool.available - (pool.in_use - 1):
            others = pool.in_use - 1
            found.append(
                f"The pools ({pool.total} connections) fit within the {pool.available} the server "
                f"accepts, but {others} other connection(s) are open on it now; together they "
                "would exceed the limit. Check what else connects (other services, replicas of "
                "this one) before scaling out."
            )
    if pool is not None and pool.per_worker is None:
        found.append(
            f"Preset {pool.preset!r} opens one connection per concurrent session, with no upper "
            "bound per worker: the server's limit is the only bound. Use a pooled preset "
            "('web', 'worker') for long-running processes."
        )
    if server is not None:
        encoding = server.encoding.lower().replace("-", "")
        if report.backend == "postgresql" and encoding != "utf8":
            found.append(
                f"The server encoding is {server.encoding!r}, not UTF8: text outside it is "
                "refused (or, with SQL_ASCII, stored unchecked). Create the database with "
                "ENCODING 'UTF8'."
            )
        if report.backend == "mysql" and encoding != "utf8mb4":
            found.append(
                f"The server's default character set is {server.encoding!r}, not utf8mb4: "
                "tables created without an explicit charset cannot store emoji and other "
                "4-byte characters. Set character_set_server = utf8mb4."
            )
        if server.tls is False and not is_local_host(url.host):
            found.append(
                f"The connection to {url.host!r} is not encrypted: passwords and data cross "
                "the network in clear text. Enable TLS on the server and add ssl=require "
                "(PostgreSQL) or ssl_ca=... (MySQL) to the URL."
            )
    return tuple(found)


def _missing_sqlite_file(url: URL) -> str | None:
    """Say so when a SQLite URL names a file that does not exist (connecting would create it)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        return None
    path = Path(database.removeprefix("file:").split("?", 1)[0])
    if path.exists():
        return None
    return (
        f"The SQLite database file {str(path)!r} does not exist (resolved from "
        f"{str(Path.cwd())!r}). Check the path in the URL: sqlite:///relative/path.db is "
        "relative to the working directory, sqlite:////absolute/path.db is absolute. "
        "Run the migrations to create it."
    )


def _configuration_problem(exc: Exception, url: str | DatabaseSettings | None) -> Problem:
    """``driver_missing``, ``invalid_url``, or ``invalid_settings`` when the URL alone is fine."""
    if isinstance(exc, DriverNotInstalledError):
        return "driver_missing"
    if url is None:  # the variables the settings read the URL from, in their order
        alias = DatabaseSettings.model_fields["url"].validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else []
        url = next((os.environ[n] for n in names if isinstance(n, str) and os.environ.get(n)), None)
    if not isinstance(url, str):
        return "invalid_url"
    try:
        parse_database_url(url)
    except ConfigurationError:
        return "invalid_url"
    return "invalid_settings"
