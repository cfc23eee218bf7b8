"""The JSON contract (pinned) and the text report."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from rich.console import Console

from asqla.migrations.lint import LintReport
from asqla.migrations.lint._report import print_text, report_json

Lint = Callable[..., LintReport]

BODY = """
op.create_index("ix_users_email", "users", ["email"])
op.drop_index("ix_users_name", table_name="users")
"""


def test_the_json_contract(lint_body: Lint) -> None:
    document = json.loads(json.dumps(report_json(lint_body(BODY, "postgresql", "15.4"))))
    assert list(document) == ["dialect", "server_version", "files", "findings"]
    assert (document["dialect"], document["server_version"], document["files"]) == (
        "postgresql",
        "PostgreSQL 15.4",
        1,
    )
    first, second = document["findings"]
    assert list(first) == ["rule", "severity", "path", "line", "message", "fix"]
    assert {k: first[k] for k in ("rule", "severity", "path", "line")} == {
        "rule": "create-index-blocking",
        "severity": "error",
        "path": "<migration>",
        "line": 11,
    }
    assert {k: second[k] for k in ("rule", "severity", "line")} == {
        "rule": "drop-index-blocking",
        "severity": "warning",
        "line": 12,
    }
    assert all(isinstance(f["message"], str) and isinstance(f["fix"], str) for f in (first, second))


def _text(report: LintReport, *, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=200, force_terminal=color, color_system="standard" if color else None
    )
    print_text(report, console)
    return buffer.getvalue()


def test_the_text_report_groups_by_file_and_colors_severities(lint_body: Lint) -> None:
    report = lint_body(BODY, "postgresql")
    text = _text(report)
    assert text.count("<migration>") == 1
    assert "line 11 error create-index-blocking: The migration builds index ix_users_email" in text
    assert "line 12 warning drop-index-blocking" in text
    assert "safe recipe:" in text and "postgresql_concurrently=True" in text
    assert "1 error, 1 warning in 1 migration file, for PostgreSQL 14" in text
    assert "# asqla: ignore[rule-name] reason" in text
    colored = _text(report, color=True)
    assert "\x1b[1;31merror" in colored and "\x1b[1;33mwarning" in colored


def test_a_clean_report_says_what_it_assumed(lint_body: Lint) -> None:
    text = _text(lint_body("pass", "mysql", "10.11.6-MariaDB"))
    assert text.strip() == (
        "No dangerous operation in 1 migration file, for MariaDB 10.11.6 "
        "(--server-version 10.11.6-MariaDB)."
    )
