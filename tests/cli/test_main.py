"""The ``asqla`` entry point: exit statuses and one-paragraph errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from asqla.cli import main

DANGEROUS = """
from alembic import op


def upgrade():
    op.drop_column("users", "email")
"""


def test_a_command_exit_status_reaches_the_shell(tmp_path: Path) -> None:
    script = tmp_path / "0001_drop.py"
    script.write_text(DANGEROUS)
    with pytest.raises(SystemExit) as exited:
        main(["migrations", "lint", str(script), "--dialect", "postgresql", "--format", "json"])
    assert exited.value.code == 1


def test_errors_are_one_paragraph_with_markup_shown_verbatim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["migrations", "lint", "/nonexistent/[bold]/x.py", "--dialect", "postgresql"])
    assert exited.value.code != 0
    error = capsys.readouterr().err
    assert "[bold]" in error
    assert "Traceback" not in error
