"""What `init` and `new` write passes mypy --strict, ruff check and ruff format in a user's project.

The files are checked as a user's CI checks them: mypy and ruff run in
subprocesses on the temporary project, with a typical ruff configuration in
its pyproject.toml and an explicit mypy configuration (never this
repository's).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from asqla.migrations import new, upgrade

from ..test_docs import ROOT, extract_blocks
from .conftest import Project

# The env.py of docs/migrations.md, which users copy to extend theirs.
(CUSTOM_ENV,) = [
    block.code
    for block in extract_blocks((ROOT / "docs" / "migrations.md").read_text())
    if block.no_run is not None and "an env.py" in block.no_run
]

RUFF = """
[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "I", "B", "UP", "SIM", "RUF"]
"""

MODELS = """
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from asqla.model import Base, BigIntPrimaryKey, SoftDelete, Timestamps, UUIDPrimaryKey


class Author(BigIntPrimaryKey, Base):
    __tablename__ = "author"

    name: Mapped[str] = mapped_column(String(100), unique=True)


class Post(UUIDPrimaryKey, Timestamps, SoftDelete, Base):
    __tablename__ = "post"
    __table_args__ = (Index("ix_post_author_title", "author_id", "title"),)

    title: Mapped[str] = mapped_column(String(200), index=True)
    body: Mapped[str | None] = mapped_column(Text, server_default="")
    author_id: Mapped[int] = mapped_column(
        ForeignKey("author.id", ondelete="CASCADE"), index=True
    )
"""

MODELS_WITH_SUMMARY = (
    MODELS
    + """
    summary: Mapped[str] = mapped_column(String(300), server_default="", index=True)
"""
)


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every backend's run: SQLAlchemy's stubs are read once."""
    return tmp_path_factory.mktemp("mypy-cache")


def _run(project: Project, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_what_init_and_new_write_passes_mypy_strict_and_ruff(
    project: Project, mypy_cache: Path
) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + RUFF)
    project.write_models(MODELS)
    config = project.config()
    new(config, "create author and post")
    upgrade(config)
    project.write_models(MODELS_WITH_SUMMARY)
    new(config, "add post.summary, a column with an index and a default")
    new(config, "backfill post.summary", autogenerate=False)
    # Through the template alone, with no ruff run after it: a second root,
    # a merge revision (down_revision is a tuple) and Alembic's dialect imports.
    command.revision(config, "second root", head="base", splice=True)
    command.merge(config, "heads", "merge the roots")
    ScriptDirectory.from_config(config).generate_revision(
        "0000dialects",
        "a column of a dialect's own type",
        head="heads",
        imports="from sqlalchemy.dialects import postgresql\nfrom sqlalchemy.dialects import mysql",
        upgrades='op.add_column("post", sa.Column("data", postgresql.JSONB().with_variant('
        'mysql.JSON(), "mysql")))',
        downgrades='op.drop_column("post", "data")',
    )
    revisions = sorted(project.versions.glob("*.py"))
    assert len(revisions) == 6
    custom_env = project.root / "migrations" / "custom_env.py"
    custom_env.write_text(CUSTOM_ENV)
    files = [str(project.root / "migrations" / "env.py"), str(custom_env), *map(str, revisions)]
    mypy_ini = project.root / "mypy.ini"
    mypy_ini.write_text("[mypy]\nstrict = True\n")

    mypy = ["mypy", "--strict", "--config-file", str(mypy_ini), "--cache-dir", str(mypy_cache)]
    typed = _run(project, *mypy, *files)
    linted = _run(project, "ruff", "check", "--no-cache", *files)
    formatted = _run(project, "ruff", "format", "--check", "--diff", "--no-cache", *files)

    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.backends("sqlite")
def test_new_leaves_a_revision_that_ruff_excludes_as_alembic_renders_it(
    project: Project,
) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.ruff]\nexclude = ["migrations"]\n')

    written = new(project.config(), "create author and note")

    source = Path(written.path).read_text()
    assert "op.create_table('author',\n" in source
    assert 'revision: str = "' in source  # the template's own part is formatted all the same


@pytest.mark.backends("sqlite")
def test_new_writes_the_revision_and_logs_a_ruff_that_fails(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.ruff]\nline-length = "long"\n')

    with caplog.at_level(logging.WARNING, logger="asqla.migrations"):
        written = new(project.config(), "create author and note")

    assert "op.create_table('author',\n" in Path(written.path).read_text()
    messages = [r.getMessage() for r in caplog.records if r.name == "asqla.migrations"]
    assert [m.split(" failed")[0] for m in messages] == [
        "asqla: `ruff check`",
        "asqla: `ruff format`",
    ]
    assert all(written.path in m and "line-length" in m for m in messages), messages
