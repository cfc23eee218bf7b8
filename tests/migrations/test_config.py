"""[tool.asqla] in pyproject.toml, and the Alembic Config built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from asqla import ConfigurationError, DatabaseSettings
from asqla.migrations import MigrationSettings, load_config
from asqla.migrations._config import database_settings, migration_settings, settings_of


def _write(root: Path, table: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.asqla]\n{table}\n')
    return root


def test_the_table_is_read_with_its_defaults(tmp_path: Path) -> None:
    root = _write(tmp_path, 'models = "app.models:Base"')
    assert migration_settings(root) == MigrationSettings(
        project_dir=root,
        directory=root / "migrations",
        models=("app.models:Base",),
        lock_timeout=5.0,
        statement_timeout=3600.0,
        lock_wait=600.0,
    )


def test_every_key_is_read(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        'models = ["a.models:Base", "b.db:metadata"]\nmigrations = "db/migrations"\n'
        "migration_lock_timeout = 2.5\nmigration_statement_timeout = 0\nmigration_lock_wait = 0",
    )
    settings = migration_settings(root / "pyproject.toml")
    assert settings.models == ("a.models:Base", "b.db:metadata")
    assert settings.directory == root / "db" / "migrations"
    assert (settings.lock_timeout, settings.statement_timeout, settings.lock_wait) == (
        2.5,
        None,
        0.0,
    )


def test_the_project_is_found_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(tmp_path / "service", 'migrations = "m"')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "monorepo"\n')
    (root / "app" / "deep").mkdir(parents=True)
    monkeypatch.chdir(root / "app" / "deep")
    assert migration_settings().directory == root / "m"


def test_without_a_pyproject_the_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = migration_settings()
    assert settings.directory == tmp_path / "migrations" and settings.models == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param(
            'migration_lock_timeout = "5s"',
            r"migration_lock_timeout = '5s' must be a number of seconds \(0 for no limit\), "
            r"such as migration_lock_timeout = 5",
            id="timeout-not-a-number",
        ),
        pytest.param(
            "migration_lock_wait = -1",
            r"migration_lock_wait = -1 must be a number of seconds \(0 to give up at once",
            id="negative-wait",
        ),
        pytest.param(
            "migration_lock_timout = 5",
            r"unknown key\(s\) \['migration_lock_timout'\]; the migration keys are",
            id="typo",
        ),
        pytest.param(
            "models = 3",
            r'models = 3 must be a string such as "app.models:Base" or a list of them',
            id="models",
        ),
        pytest.param(
            'migrations = ""', r"migrations = '' must name a directory", id="empty-directory"
        ),
    ],
)
def test_bad_values_are_named_with_the_fix(tmp_path: Path, table: str, message: str) -> None:
    root = _write(tmp_path, table)
    with pytest.raises(ConfigurationError, match=message):
        migration_settings(root)


def test_a_broken_pyproject_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.asqla\n")
    with pytest.raises(ConfigurationError, match=r"Cannot read .*pyproject.toml.*Fix the file"):
        migration_settings(tmp_path)


def test_the_url_never_enters_alembics_config(tmp_path: Path) -> None:
    # A URL-encoded password is full of %, which configparser takes for
    # interpolations; in the Config's options it breaks every command.
    url = "postgresql://app:p%40ss%25w0rd@db.internal/app"
    root = _write(tmp_path / "100% project", 'models = "app.models:Base"')
    config = load_config(root, database=url)
    options = dict(config.file_config.items("alembic"))
    assert options["script_location"] == str(root / "migrations")
    assert not any("p%40ss" in value or "db.internal" in value for value in options.values())
    assert database_settings(config).url.get_secret_value() == (
        "postgresql+asyncpg://app:p%40ss%25w0rd@db.internal/app"
    )
    assert "p%40ss" not in repr(config.attributes)
    assert settings_of(config).directory == root / "migrations"


def test_the_url_comes_from_the_applications_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(tmp_path, "")
    monkeypatch.delenv("ASQLA_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(
        ConfigurationError, match=r"No database URL was given: set the DATABASE_URL"
    ):
        database_settings(load_config(root))
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    settings = database_settings(load_config(root))
    assert isinstance(settings, DatabaseSettings)
    assert settings.display_url == "sqlite+aiosqlite:///from-env.db"
