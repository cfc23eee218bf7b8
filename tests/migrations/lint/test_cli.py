"""``asqla migrations lint``, registered on a small Typer app as the migrations group does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from asqla.cli._lint import lint, lint_command
from asqla.cli._output import CommandFailed, OutputFormat

from .conftest import script

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    migrations_app = typer.Typer()
    migrations_app.command("lint")(lint)
    migrations_app.command("noop")(lambda: None)  # a group, as `asqla migrations` is
    return migrations_app


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    versions = tmp_path / "db" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1_index.py").write_text(
        script('op.create_index("ix_users_email", "users", ["email"])')
    )
    (versions / "r2_ok.py").write_text(script("pass", revision="r2", down_revision="r1"))
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/db\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_findings_with_an_error_exit_1(app: typer.Typer, project: Path) -> None:
    result = runner.invoke(app, ["lint", "--dialect", "postgresql"])
    assert result.exit_code == 1, result.output
    assert "db/versions/r1_index.py" in result.output
    assert "create-index-blocking" in result.output


def test_no_error_exits_0(app: typer.Typer, project: Path) -> None:
    result = runner.invoke(app, ["lint", "db/versions/r2_ok.py", "--dialect", "postgresql"])
    assert result.exit_code == 0, result.output
    assert "No dangerous operation in 1 migration file" in result.output
    mysql = runner.invoke(app, ["lint", "--dialect", "mysql"])
    assert mysql.exit_code == 0, mysql.output


def test_json_output_is_the_versioned_contract(app: typer.Typer, project: Path) -> None:
    result = runner.invoke(
        app, ["lint", "--dialect", "postgresql", "--server-version", "16.2", "--format", "json"]
    )
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert list(document) == ["schema_version", "dialect", "server_version", "files", "findings"]
    assert document["schema_version"] == 1
    assert document["files"] == 2
    assert [(f["rule"], f["path"], f["line"]) for f in document["findings"]] == [
        ("create-index-blocking", "db/versions/r1_index.py", 11)
    ]


def test_a_bad_dialect_is_a_usage_error(app: typer.Typer, project: Path) -> None:
    result = runner.invoke(app, ["lint", "--dialect", "oracle"])
    assert result.exit_code == 2
    assert "oracle" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "def upgrade(:\n", r"bad\.py, line 1: the migration is not valid Python", id="syntax"
        ),
        pytest.param(b"\xff\xfe\x00", r"bad\.py: not UTF-8 text", id="binary"),
    ],
)
def test_an_unreadable_migration_is_a_usage_error_naming_the_file(
    project: Path, content: str | bytes, message: str
) -> None:
    bad = project / "bad.py"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content)
    with pytest.raises(CommandFailed, match=message) as caught:
        lint_command(["bad.py"], "sqlite")
    assert caught.value.exit_code == 2


def test_a_missing_path_is_a_usage_error(app: typer.Typer, project: Path) -> None:
    result = runner.invoke(app, ["lint", "nowhere", "--dialect", "sqlite"])
    # asqla's main() prints CommandFailed as one paragraph and exits with its exit_code.
    assert isinstance(result.exception, CommandFailed)
    assert result.exception.exit_code == 2
    assert str(result.exception).startswith("nowhere: no such file or directory.")


def test_no_alembic_project_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandFailed, match="no migrations to lint in") as caught:
        lint_command([], "postgresql", output_format=OutputFormat.json)
    assert (caught.value.exit_code, caught.value.json_output) == (2, True)


def test_a_bad_server_version_is_a_usage_error(project: Path) -> None:
    with pytest.raises(
        CommandFailed, match="cannot read a version number in --server-version 'latest'"
    ):
        lint_command([], "postgresql", "latest")


def test_migrations_directory_is_found_without_alembic_ini(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1.py").write_text(script('op.drop_table("users")'))
    monkeypatch.chdir(tmp_path)
    assert lint_command([], "sqlite") == 1


def test_pyproject_tool_alembic_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "alembic" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1.py").write_text(script("pass"))
    (tmp_path / "pyproject.toml").write_text('[tool.alembic]\nscript_location = "alembic"\n')
    monkeypatch.chdir(tmp_path)
    assert lint_command([], "sqlite") == 0
