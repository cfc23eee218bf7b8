"""``asqla doctor``: run a script under the query doctor, or audit the models of a module.

The group is registered on the root app with
``app.add_typer(doctor_app, name="doctor")``; `run_command` and
`audit_command` are the plain functions under ``asqla doctor run`` and
``asqla doctor audit``. Both print ``--format json`` documents with
``schema_version``, described in ``docs/doctor.md``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from types import ModuleType, TracebackType

import typer

from ..doctor import KINDS, DoctorOptions, Kind, Report
from ..doctor._audit import audit_models
from ..doctor._script import run_script
from ._output import FORMAT_OPTION, CommandFailed, OutputFormat, console, print_json

__all__ = ["audit_command", "doctor_app", "parse_kinds", "run_command"]

doctor_app = typer.Typer(
    name="doctor",
    help="Find N+1 queries, slow statements, missing indexes and model problems.",
    no_args_is_help=True,
)


class AuditDialect(StrEnum):
    """The ``--dialect`` choices of ``asqla doctor audit``."""

    postgresql = "postgresql"
    mysql = "mysql"
    mariadb = "mariadb"
    sqlite = "sqlite"


def parse_kinds(
    values: Iterable[str], option: str, *, json_output: bool = False
) -> frozenset[Kind]:
    """Read ``--fail-on n_plus_one,slow_query`` (repeatable; ``all`` for every kind)."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    if "all" in names:
        return frozenset(KINDS)
    unknown = sorted(names - set(KINDS))
    if unknown:
        raise CommandFailed(
            f"{option} names unknown kinds {unknown!r}; choose from {', '.join(KINDS)} or all.",
            exit_code=2,
            json_output=json_output,
        )
    return frozenset(names)  # type: ignore[arg-type]  # checked against KINDS above


def run_command(
    script: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    options: DoctorOptions | None = None,
    fail_on: frozenset[Kind] = frozenset(),
    strict: bool = False,
    output_format: OutputFormat = OutputFormat.text,
) -> int:
    """Run ``script`` under the doctor, print the report, and return the exit status.

    The status is 1 when a finding of a ``fail_on`` kind exists, else the
    script's own. With JSON output, what the script prints goes to stderr,
    so that stdout holds the JSON document alone.
    """
    json_output = output_format is OutputFormat.json
    redirect = contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext()
    try:
        with redirect:
            run = run_script(script, args, options=options, strict=strict)
    except FileNotFoundError as exc:
        raise CommandFailed(str(exc), exit_code=2, json_output=json_output) from exc
    if run.error is not None:
        _print_script_error(run.error, Path(script))
    failing = [f for f in run.report.findings if f.kind in fail_on]
    code = 1 if failing else run.exit_code
    if json_output:
        print_json(
            {
                "script": str(script),
                "exit_code": code,
                "script_exit_code": run.exit_code,
                "statements": run.report.query_count,
                "database_ms": round(_database_seconds(run.report) * 1000, 3),
                **run.report.to_dict(),
            }
        )
    else:
        console.print(_text(run.report), markup=False, highlight=False, soft_wrap=True)
        if failing:
            kinds = sorted({f.kind for f in failing})
            console.print(
                f"Failing: {len(failing)} finding(s) of --fail-on kinds {', '.join(kinds)}.",
                markup=False,
                highlight=False,
            )
    return code


def _database_seconds(report: Report) -> float:
    return sum(s.duration or 0.0 for s in report.statements)


def _text(report: Report) -> str:
    took = f"{_database_seconds(report) * 1000:.1f} ms in the database"
    return f"\n{report}\n({report.query_count} statements, {took})"


def _print_script_error(error: BaseException, script: Path) -> None:
    """Print the script's traceback as ``python`` would, without the doctor's own frames."""
    tb: TracebackType | None = error.__traceback__
    target = str(script.resolve())
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != target:
        tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb or error.__traceback__)
    sys.stderr.write("".join(lines))


def audit_command(
    module: str,
    *,
    dialect: str | None = None,
    output_format: OutputFormat = OutputFormat.text,
) -> int:
    """Import ``module`` (a dotted name or a ``.py`` path), audit its models, print the report.

    Returns 1 when an error-severity finding exists, else 0.
    """
    json_output = output_format is OutputFormat.json
    imported = _import(module, json_output=json_output)
    try:
        report = audit_models(imported, dialect=dialect)
    except ValueError as exc:
        raise CommandFailed(str(exc), exit_code=2, json_output=json_output) from exc
    if json_output:
        print_json({"module": module, **report.to_dict()})
    else:
        console.print(str(report), markup=False, highlight=False, soft_wrap=True)
    return report.exit_code


def _import(module: str, *, json_output: bool) -> ModuleType:
    """Import a module by dotted name (from the working directory) or by file path."""
    path = Path(module)
    try:
        if module.endswith(".py") or os.sep in module:
            if not path.is_file():
                raise FileNotFoundError(f"no file at {module!r}")
            sys.path.insert(0, str(path.resolve().parent))
            name = path.stem
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"{module!r} is not a Python module")
            imported = importlib.util.module_from_spec(spec)
            sys.modules[name] = imported
            spec.loader.exec_module(imported)
            return imported
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(module)
    except (ImportError, FileNotFoundError) as exc:
        raise CommandFailed(
            f"Cannot import {module!r}: {exc}. Give a dotted module name importable from the "
            "current directory (app.models) or the path of a file (app/models.py).",
            exit_code=2,
            json_output=json_output,
        ) from exc


SCRIPT_ARGUMENT = typer.Argument(..., help="The Python script to run, as `python SCRIPT` would.")
ARGS_ARGUMENT = typer.Argument(None, help="The script's own arguments.", show_default=False)
FAIL_ON_OPTION = typer.Option(
    None,
    "--fail-on",
    help="Exit 1 if a finding of these kinds exists (comma-separated, repeatable, or 'all').",
    show_default=False,
)
IGNORE_OPTION = typer.Option(
    None, "--ignore", help="Kinds not to report (comma-separated, repeatable).", show_default=False
)
SLOW_QUERY_OPTION = typer.Option(
    None,
    "--slow-query",
    help="Seconds after which a statement is slow and explained (default 0.5; 0: all).",
    show_default=False,
)
STRICT_OPTION = typer.Option(False, "--strict", help="Refuse every lazy load (doctor.strict()).")


@doctor_app.command(
    "run",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    script: Path = SCRIPT_ARGUMENT,
    args: list[str] | None = ARGS_ARGUMENT,
    output_format: OutputFormat = FORMAT_OPTION,
    fail_on: list[str] | None = FAIL_ON_OPTION,
    ignore: list[str] | None = IGNORE_OPTION,
    slow_query: float | None = SLOW_QUERY_OPTION,
    strict: bool = STRICT_OPTION,
) -> None:
    """Run a Python script with the doctor watching every engine, and report what it found.

    Options go before SCRIPT; everything after it is the script's:
    asqla doctor run --fail-on n_plus_one app/seed.py --users 100
    """
    json_output = output_format is OutputFormat.json
    failing = parse_kinds(fail_on or (), "--fail-on", json_output=json_output)
    ignored = parse_kinds(ignore or (), "--ignore", json_output=json_output)
    try:
        options = DoctorOptions(
            ignore=ignored,
            slow_query=DoctorOptions().slow_query if slow_query is None else slow_query,
        )
    except ValueError as exc:
        raise CommandFailed(str(exc), exit_code=2, json_output=json_output) from exc
    code = run_command(
        script,
        args or [],
        options=options,
        fail_on=failing,
        strict=strict,
        output_format=output_format,
    )
    raise typer.Exit(code)


MODULE_ARGUMENT = typer.Argument(
    ..., help="The module that defines the models: app.models, or a path: app/models.py."
)
DIALECT_OPTION = typer.Option(
    None, "--dialect", help="Audit for one backend (default: what fails on any of them)."
)


@doctor_app.command("audit")
def audit(
    module: str = MODULE_ARGUMENT,
    dialect: AuditDialect | None = DIALECT_OPTION,
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Audit the models a module defines: unindexed foreign keys, async-unsafe loading, and more."""
    code = audit_command(
        module, dialect=dialect.value if dialect else None, output_format=output_format
    )
    raise typer.Exit(code)
