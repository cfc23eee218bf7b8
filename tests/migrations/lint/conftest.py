"""Helpers for the linter's tests: migration scripts written from upgrade() bodies."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from asqla.migrations.lint import LintReport, lint_migrations, lint_source

HEADER = '''"""{message}"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "{revision}"
down_revision = {down_revision!r}


def upgrade() -> None:
'''
FOOTER = """

def downgrade() -> None:
    pass
"""


def script(body: str, *, revision: str = "r1", down_revision: str | None = None) -> str:
    """A complete migration script whose upgrade() runs ``body``."""
    header = HEADER.format(message=revision, revision=revision, down_revision=down_revision)
    return header + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ") + FOOTER


LintBody = Callable[..., LintReport]
WriteChain = Callable[[Sequence[str]], list[Path]]


@pytest.fixture
def lint_body() -> LintBody:
    """``lint_body(body, "postgresql", "11")``: lint one upgrade() body."""

    def lint(body: str, dialect: str, server_version: str | None = None) -> LintReport:
        return lint_source(script(body), dialect=dialect, server_version=server_version)

    return lint


@pytest.fixture
def write_chain(tmp_path: Path) -> WriteChain:
    """``write_chain([body1, body2])``: a versions directory of revisions r1 <- r2 <- ..."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)

    def write(bodies: Sequence[str]) -> list[Path]:
        paths = []
        for number, body in enumerate(bodies, start=1):
            down = f"r{number - 1}" if number > 1 else None
            path = versions / f"r{number}_step.py"
            path.write_text(script(body, revision=f"r{number}", down_revision=down))
            paths.append(path)
        return paths

    return write


@pytest.fixture
def lint_chain(write_chain: WriteChain, tmp_path: Path) -> Callable[..., LintReport]:
    """``lint_chain([body1, body2], "postgresql")``: lint every revision of a chain."""

    def lint(bodies: Sequence[str], dialect: str, server_version: str | None = None) -> LintReport:
        paths = write_chain(bodies)
        return lint_migrations(paths, dialect=dialect, server_version=server_version, cwd=tmp_path)

    return lint


def rules_of(report: LintReport) -> list[str]:
    return [finding.rule for finding in report.findings]
