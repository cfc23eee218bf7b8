"""Format a new revision with the project's ruff, when ruff is installed.

Alembic renders the operations of a revision in a layout of its own (the
columns of ``op.create_table()`` one per line at the call's indentation,
lines past any length limit). The template gets the rest right; ruff, run
with the project's own configuration, gives the operations the layout that
``ruff format --check`` expects. ruff is never a dependency of asqla: without
it, the revision is written as Alembic renders it.

Alembic's ``post_write_hooks`` could run the same commands, but they print
"Running post write hook ..." to stdout, which the commands' contract
(return values, never output) and the CLI's JSON output forbid.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["format_revision"]

logger = logging.getLogger("asqla.migrations")

# `ruff check --fix` first (the import block, as the project's isort
# settings order it), then `ruff format`, as Alembic's documentation has it.
# --force-exclude: a project that excludes its revisions from ruff keeps
# them as Alembic writes them.
_STEPS = (("check", "--fix", "--force-exclude"), ("format", "--force-exclude"))
# Seconds for one ruff run, far above what one file takes.
_TIMEOUT = 60.0


def format_revision(path: str | Path, project_dir: Path) -> None:
    """Run ``ruff check --fix`` and ``ruff format`` on the revision at ``path``, if ruff is here.

    A ruff that fails is logged on the ``asqla.migrations`` logger and left
    at that: the revision is written and runs either way.
    """
    ruff = _ruff()
    if ruff is None:
        return
    for step in _STEPS:
        command = [*ruff, *step, str(path)]
        try:
            done = subprocess.run(
                command,
                cwd=project_dir,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("asqla: could not run %s on the new revision: %s", " ".join(step), exc)
            return
        # ruff exits 1 when violations it cannot fix remain (the project's
        # own lint run reports them), and 2 when it could not run at all.
        if done.returncode > 1:
            logger.warning(
                "asqla: `ruff %s` failed on the new revision %s (exit %d): %s",
                " ".join(step[:1]),
                path,
                done.returncode,
                done.stderr.strip() or done.stdout.strip(),
            )


def _ruff() -> list[str] | None:
    """The command that runs ruff: the one installed beside asqla, else one on PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    executable = shutil.which("ruff")
    return [executable] if executable is not None else None
