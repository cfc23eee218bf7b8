"""What the plugin reads from ``--asqla-url``, the environment and ``[tool.asqla]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from asqla import ConfigurationError
from asqla.testing import PluginSettings
from asqla.testing._settings import import_object


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("DATABASE_URL", "ASQLA_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def _read(project: Path, toml: str, *, option: str | None = None) -> PluginSettings:
    (project / "pyproject.toml").write_text(toml)
    return PluginSettings.read(option=option, rootpath=project, inipath=None)


def test_the_table_names_the_app_its_database_and_models(project: Path) -> None:
    (project / "migrations").mkdir()
    settings = _read(
        project,
        '[tool.asqla]\ndatabase = "app.db:db"\napp = "app.main:app"\n'
        'models = ["app.a:Base", "app.b:metadata"]\n',
    )
    assert settings.database == "app.db:db"
    assert settings.app == "app.main:app"
    assert settings.models == ("app.a:Base", "app.b:metadata")
    assert settings.migrations is None  # a directory without env.py holds no migrations
    (project / "migrations" / "env.py").write_text("")
    assert _read(project, "[tool.asqla]\n").migrations == project / "migrations"


def test_the_url_option_wins_over_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _read(project, "").url is None
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/app")
    assert _read(project, "").url == "postgresql://a@h/app"
    monkeypatch.setenv("ASQLA_DATABASE_URL", "postgresql://b@h/app")
    assert _read(project, "").url == "postgresql://b@h/app"
    assert _read(project, "", option="mysql://c@h/app").url == "mysql://c@h/app"


def test_the_url_never_shows_in_the_repr(project: Path) -> None:
    settings = _read(project, "", option="postgresql://a:s3cret@h/app")
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param(
            "[tool.asqla]\nmodels = 3\n",
            r"models = 3 must be a string such as \"app.models:Base\"",
            id="models",
        ),
        pytest.param(
            '[tool.asqla]\napp = "app.main"\n',
            r"app = 'app.main' must name an object as \"module:attribute\"",
            id="app",
        ),
        pytest.param("[tool.asqla\n", r"Cannot read .*pyproject.toml.*Fix the file", id="toml"),
    ],
)
def test_bad_values_are_explained(project: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _read(project, toml)


def test_import_object_explains_what_is_missing(project: Path) -> None:
    (project / "shop_app_for_asqla.py").write_text("db = object()\n")
    assert import_object("shop_app_for_asqla:db", project_dir=project, key="database")
    with pytest.raises(ConfigurationError, match=r"cannot import 'nowhere_for_asqla'"):
        import_object("nowhere_for_asqla:db", project_dir=project, key="database")
    with pytest.raises(ConfigurationError, match=r"has no attribute 'engine'"):
        import_object("shop_app_for_asqla:engine", project_dir=project, key="database")
