"""``asqla db``: commands about the database itself; ``asqla db check`` for now.

The ``db`` group is registered on the root app with
``app.add_typer(db_app, name="db")``; `check_command()` is the plain
function under ``asqla db check``, over `asqla.db_check.check_database()`.
"""

from __future__ import annotations

import asyncio

import typer

from ..db_check import CheckReport, PoolArithmetic, check_database
from ._output import FORMAT_OPTION, OutputFormat, console, print_json

__all__ = ["check_command", "db_app"]

db_app = typer.Typer(
    name="db",
    help="Check the database the application uses.",
    no_args_is_help=True,
)

_PROBLEMS = {
    "name_not_resolved": "the host name does not resolve",
    "connection_refused": "connection refused",
    "timeout": "no answer in time",
    "authentication_failed": "authentication failed",
    "database_not_found": "the database does not exist",
    "tls_required": "the server requires TLS",
    "tls_unavailable": "the server does not offer TLS",
    "tls_failed": "the TLS handshake failed",
    "too_many_connections": "the server is at its connection limit",
    "invalid_url": "the URL cannot be used",
    "invalid_settings": "the settings cannot be used",
    "driver_missing": "the driver is not installed",
    "error": "the connection failed",
}


def check_command(
    url: str | None,
    *,
    workers: int = 1,
    pings: int = 5,
    timeout: float = 5.0,
    output_format: OutputFormat = OutputFormat.text,
) -> int:
    """Check the database at ``url`` (``DATABASE_URL`` when ``None``), print the report.

    Returns the exit status: 0 when the database is reachable and the pools
    fit within its connection limit, 1 otherwise.
    """
    report = asyncio.run(check_database(url, workers=workers, pings=pings, timeout=timeout))
    if output_format is OutputFormat.json:
        print_json(report.to_dict())
    else:
        for line in render_text(report):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0 if report.healthy else 1


def render_text(report: CheckReport) -> list[str]:
    """Return the lines of the text report: one screen, one fact a line."""
    lines = [_row("Database", report.url)]
    if not report.reachable:
        problem = _PROBLEMS.get(report.problem or "error", report.problem or "")
        lines += [_row("Reachable", f"NO: {problem}"), "", report.reason or ""]
        return lines
    server, latency, pool = report.server, report.latency, report.pool
    if server is None or latency is None:  # pragma: no cover - a reachable report has both
        return lines
    lines += [
        _row("Reachable", f"yes, connected in {latency.connect_ms:.1f} ms ({report.driver})"),
        _row("Server", f"{server.product} {server.version}"),
        _row(
            "Latency",
            f"min {latency.min_ms:.2f} ms, median {latency.median_ms:.2f} ms "
            f"over {latency.pings} pings",
        ),
    ]
    if server.time_zone is not None:
        lines.append(_row("Time zone", server.time_zone))
    lines.append(_row("Encoding", server.encoding))
    if server.tls is not None:
        lines.append(_row("TLS", "yes" if server.tls else "no"))
    if pool is not None:
        lines.append(_row("Pool", _pool_line(pool)))
    status = "healthy" if report.healthy else "NOT HEALTHY: the pools exceed the server's limit"
    lines.append(_row("Status", status))
    if report.warnings:
        lines += ["", "Warnings:"]
        lines += [f"  - {warning}" for warning in report.warnings]
    return lines


def _pool_line(pool: PoolArithmetic) -> str:
    if pool.per_worker is None:
        demand = f"preset {pool.preset!r} has no pool: no upper bound"
    else:
        demand = (
            f"{pool.workers} worker(s) x ({pool.pool_size} + {pool.max_overflow} overflow) = "
            f"{pool.total} connections"
        )
    if pool.available is None:
        return demand
    limit = f"max_connections {pool.max_connections}"
    if pool.reserved:
        limit += f" - {pool.reserved} reserved"
    now = "" if pool.in_use is None else f", {pool.in_use} open now"
    return f"{demand}; the server accepts {pool.available} ({limit}){now}"


def _row(label: str, value: str) -> str:
    return f"{label:<10} {value}"


def check(
    url: str | None = typer.Argument(
        None,
        help="The database URL; default: DATABASE_URL. Prefer the variable: a URL on the "
        "command line, password included, ends up in the shell history.",
        show_default=False,
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes that each open a pool (uvicorn workers, replicas)."
    ),
    timeout: float = typer.Option(
        5.0, "--timeout", min=0.001, help="Seconds before the server counts as not answering."
    ),
    pings: int = typer.Option(5, "--pings", min=1, help="SELECT 1 round trips to time."),
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Tell whether the database is reachable and the pool fits; exit 1 when not."""
    code = check_command(
        url, workers=workers, pings=pings, timeout=timeout, output_format=output_format
    )
    if code:
        raise typer.Exit(code)


db_app.command("check")(check)
