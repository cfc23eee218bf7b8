"""A temporary project for the migration tests: pyproject.toml, app/models.py, migrations/.

Each test gets its own ``asqla.model.Base`` (the module executed again), so
that the models it writes never collide with another test's, and the
``app`` package it writes is forgotten afterwards.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.config import Config

import asqla.model
import asqla.model.base
from asqla.migrations import init, load_config

MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from asqla.model import Base, BigIntPrimaryKey, SoftDelete, Timestamps, UUIDPrimaryKey, Versioned


class Author(BigIntPrimaryKey, Base):
    __tablename__ = "author"

    name: Mapped[str] = mapped_column(String(100), unique=True)


class Note(UUIDPrimaryKey, Timestamps, SoftDelete, Versioned, Base):
    __tablename__ = "note"

    title: Mapped[str] = mapped_column(String(200), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id", ondelete="CASCADE"))
"""

# The same models, with one column more.
MODELS_WITH_BODY = (
    MODELS
    + """
    body: Mapped[str | None] = mapped_column(String(2000))
"""
)


@dataclass
class Project:
    """A project on disk, with its migrations, pointed at the test's database."""

    root: Path
    database_url: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def versions(self) -> Path:
        return self.root / "migrations" / "versions"

    def config(self) -> Config:
        return load_config(self.root, database=self.database_url)

    def write_models(self, source: str) -> None:
        """Write app/models.py, and make the next import see it on a new Base."""
        (self.root / "app" / "models.py").write_text(textwrap.dedent(source))
        _forget_app()
        fresh = _fresh_base()
        self.monkeypatch.setattr(asqla.model, "Base", fresh)
        self.monkeypatch.setattr(asqla.model.base, "Base", fresh)

    def write_revision(
        self,
        revision: str,
        down_revision: str | None,
        upgrade: str,
        downgrade: str = "pass",
        *,
        imports: str = "",
    ) -> Path:
        """Write a hand-written revision script."""
        path = self.versions / f"{revision}.py"
        source = (
            f'"""{revision}"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n{imports}\n\n'
            f"revision = {revision!r}\ndown_revision = {down_revision!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade() -> None:\n{textwrap.indent(textwrap.dedent(upgrade), '    ')}\n\n\n"
            f"def downgrade() -> None:\n{textwrap.indent(textwrap.dedent(downgrade), '    ')}\n"
        )
        path.write_text(source)
        return path

    def write_env(self, source: str) -> None:
        (self.root / "migrations" / "env.py").write_text(textwrap.dedent(source))

    def set_tool(self, **values: object) -> None:
        """Add keys to [tool.asqla]."""
        pyproject = self.root / "pyproject.toml"
        lines = "".join(f"{key} = {value!r}\n" for key, value in values.items())
        pyproject.write_text(
            pyproject.read_text().replace("[tool.asqla]\n", "[tool.asqla]\n" + lines)
        )


def _fresh_base() -> type:
    """Execute ``asqla/model/base.py`` again: a new ``Base`` with its own registry."""
    spec = importlib.util.find_spec("asqla.model.base")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Base  # type: ignore[no-any-return]


def _forget_app() -> None:
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]


@pytest.fixture
def project(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """A project with app/models.py and `asqla migrations init` done, on the test database."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    init("migrations", models="app.models:Base", project=root)
    path = list(sys.path)
    built = Project(root=root, database_url=database_url, monkeypatch=monkeypatch)
    built.write_models(MODELS)
    try:
        yield built
    finally:
        _forget_app()
        sys.path[:] = path
