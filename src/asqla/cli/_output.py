"""Output shared by every command: text with Rich, or versioned JSON."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

SCHEMA_VERSION = 1

console = Console()
error_console = Console(stderr=True)


class OutputFormat(StrEnum):
    """The ``--format`` choices."""

    text = "text"
    json = "json"


FORMAT_OPTION = typer.Option(
    OutputFormat.text, "--format", help="text for people, json for scripts (a versioned contract)."
)


class CommandFailed(Exception):
    """A command failed in a way the user can fix; printed as one paragraph."""

    def __init__(self, message: str, *, exit_code: int = 1, json_output: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.json_output = json_output


def print_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as the command's JSON document, with its schema version."""
    document = {"schema_version": SCHEMA_VERSION, **payload}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def print_error(message: str, *, json_output: bool) -> None:
    """Print a failure: JSON on stdout for scripts, one red paragraph on stderr otherwise."""
    if json_output:
        print_json({"ok": False, "error": message})
    else:
        error_console.print(
            f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
        )
