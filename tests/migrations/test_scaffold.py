"""``init``: the migrations directory and the [tool.asqla] table it writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from mako.template import Template

from asqla.migrations import MigrationError, init


def _tool(root: Path) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["asqla"]
    return table


def test_init_writes_the_directory_and_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    written = init("db/migrations", models="app.models:Base", project=tmp_path)
    directory = tmp_path / "db" / "migrations"
    assert set(written) == {
        directory / "env.py",
        directory / "script.py.mako",
        directory / "versions" / ".gitkeep",
        tmp_path / "pyproject.toml",
    }
    assert _tool(tmp_path) == {"models": "app.models:Base", "migrations": "db/migrations"}
    assert (tmp_path / "pyproject.toml").read_text().startswith('[project]\nname = "demo"\n')
    env = (directory / "env.py").read_text()
    compile(env, "env.py", "exec")
    assert "run_env(context)" in env
    Template((directory / "script.py.mako").read_text())  # raises on a syntax error


def test_init_creates_a_pyproject_when_there_is_none(tmp_path: Path) -> None:
    init(project=tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    assert _tool(tmp_path) == {"migrations": "migrations"}
    assert '# models = "app.models:Base"' in text


def test_init_adds_to_an_existing_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asqla]  # the data layer\nmodels = "app.models:Base"\n\n'
        "[tool.ruff]\nline-length = 100\n"
    )
    init(models="app.models:Base", project=tmp_path)
    assert _tool(tmp_path) == {"models": "app.models:Base", "migrations": "migrations"}
    assert "line-length = 100" in (tmp_path / "pyproject.toml").read_text()


def test_init_refuses_to_contradict_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.asqla]\nmigrations = "alembic"\n')
    with pytest.raises(
        MigrationError, match=r"already says migrations = 'alembic', not 'migrations'"
    ):
        init(project=tmp_path)
    assert not (tmp_path / "migrations").exists()


def test_init_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("# mine\n")
    with pytest.raises(MigrationError, match=r"migrations already exists and is not an empty"):
        init(project=tmp_path)
    assert (tmp_path / "migrations" / "env.py").read_text() == "# mine\n"
