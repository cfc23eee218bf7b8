"""The lint report for people (Rich text, grouped by file) and for scripts (JSON).

The JSON document is a contract, pinned by tests/migrations/lint/test_report.py::

    {"schema_version": 1, "dialect": "postgresql", "server_version": "PostgreSQL 14",
     "files": 3,
     "findings": [{"rule", "severity", "path", "line", "message", "fix"}]}
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.syntax import Syntax

if TYPE_CHECKING:
    from . import LintReport

FINDING_FIELDS = ("rule", "severity", "path", "line", "message", "fix")
_COLORS = {"error": "bold red", "warning": "bold yellow"}


def report_json(report: LintReport) -> dict[str, Any]:
    """The report as the JSON contract's fields (``schema_version`` is added by the CLI)."""
    return {
        "dialect": report.target.dialect,
        "server_version": report.target.label,
        "files": len(report.files),
        "findings": [
            {name: getattr(finding, name) for name in FINDING_FIELDS} for finding in report.findings
        ],
    }


def print_text(report: LintReport, console: Console) -> None:
    """Print the findings grouped by file, each with its severity, rule, message and fix."""
    assumed = f"{report.target.label} (--server-version {report.target.version_text})"
    for path, group in groupby(report.findings, key=lambda finding: finding.path):
        console.print(f"\n[bold]{escape(path)}[/]", highlight=False)
        for finding in group:
            color = _COLORS[finding.severity]
            console.print(
                f"  [dim]line {finding.line}[/] [{color}]{finding.severity}[/] "
                f"[cyan]{finding.rule}[/]: {escape(finding.message)}",
                soft_wrap=True,
                highlight=False,
            )
            console.print("    [dim]safe recipe:[/]", highlight=False)
            fix = Syntax(finding.fix, "python", theme="ansi_dark").highlight(finding.fix)
            fix.rstrip()
            console.print(Padding(fix, (0, 0, 0, 6), expand=False), soft_wrap=True)
    files = len(report.files)
    noun = "file" if files == 1 else "files"
    if not report.findings:
        console.print(
            f"No dangerous operation in {files} migration {noun}, for {assumed}.", highlight=False
        )
        return
    summary = f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}"
    console.print(
        f"\n{summary} in {files} migration {noun}, for {assumed}. "
        + escape("Silence a finding you have made safe with # asqla: ignore[rule-name] reason."),
        highlight=False,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
