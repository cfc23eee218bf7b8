"""``asqla migrations lint``: report dangerous operations in Alembic migrations.

The ``migrations`` command group registers `lint()` with
``migrations_app.command("lint")(lint)``; `lint_command()` is the plain
function under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import typer

from ..migrations.lint import LintUsageError, lint_migrations
from ..migrations.lint._report import print_text, report_json
from ._output import FORMAT_OPTION, CommandFailed, OutputFormat, console, print_json


class LintDialect(StrEnum):
    """The ``--dialect`` choices."""

    postgresql = "postgresql"
    mysql = "mysql"
    sqlite = "sqlite"


def lint_command(
    paths: Sequence[str | Path],
    dialect: str,
    server_version: str | None = None,
    output_format: OutputFormat = OutputFormat.text,
) -> int:
    """Lint ``paths`` (or the versions directory), print the report and return the exit status.

    Returns 1 when an error-severity finding remains, 0 otherwise. A usage
    error (bad option, unreadable file, invalid Python) raises CommandFailed
    with exit status 2.
    """
    json_output = output_format is OutputFormat.json
    try:
        report = lint_migrations(paths, dialect=str(dialect), server_version=server_version)
    except LintUsageError as exc:
        raise CommandFailed(str(exc), exit_code=2, json_output=json_output) from exc
    if json_output:
        print_json(report_json(report))
    else:
        print_text(report, console)
    return report.exit_code


PATHS_ARGUMENT = typer.Argument(
    None,
    help="Migration scripts or directories of them; default: alembic.ini's versions directory.",
    show_default=False,
)
DIALECT_OPTION = typer.Option(..., "--dialect", help="The database the migrations run on.")
SERVER_VERSION_OPTION = typer.Option(
    None,
    "--server-version",
    help="The server version as SELECT version() says it: 15.4, 8.0.36, 10.11.6-MariaDB.",
)


def lint(
    paths: list[Path] | None = PATHS_ARGUMENT,
    dialect: LintDialect = DIALECT_OPTION,
    server_version: str | None = SERVER_VERSION_OPTION,
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Report operations that lock, rewrite or break a live database, with the safe recipe."""
    code = lint_command(paths or [], dialect.value, server_version, output_format)
    if code:
        raise typer.Exit(code)
