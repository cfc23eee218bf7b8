"""Where the migrations are and how they run: ``[tool.asqla]`` in pyproject.toml.

::

    [tool.asqla]
    models = "app.models:Base"        # or a list of them; a MetaData works too
    migrations = "migrations"         # env.py, script.py.mako and versions/
    migration_lock_timeout = 5        # seconds a DDL statement waits for a lock
    migration_statement_timeout = 3600
    migration_lock_wait = 600         # seconds `upgrade --lock` waits for another process

The database URL is never written here nor in ``alembic.ini``: it comes from
the same settings as the application (``DATABASE_URL``, read by
[`DatabaseSettings`][asqla.DatabaseSettings]) and travels in ``Config.attributes``, out
of reach of configparser's ``%`` interpolation, which breaks a URL-encoded
password such as ``p%40ss``.
"""

from __future__ import annotations

import math
import tomllib
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config

from ..exceptions import ConfigurationError
from ..settings import DatabaseSettings

__all__ = ["MigrationSettings", "database_settings", "load_config", "migration_settings"]

PYPROJECT = "pyproject.toml"
DEFAULT_DIRECTORY = "migrations"

# Keys of Config.attributes, the one channel Alembic offers for Python objects.
SETTINGS_KEY = "asqla.migration_settings"
DATABASE_KEY = "asqla.database_settings"

# Revision files sort by creation time in a directory listing and in review.
FILE_TEMPLATE = "%(year)d%(month).2d%(day).2d_%(hour).2d%(minute).2d_%(rev)s_%(slug)s"

_KNOWN_KEYS = {
    "models",
    "migrations",
    "migration_lock_timeout",
    "migration_statement_timeout",
    "migration_lock_wait",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationSettings:
    """How a project's migrations are found and run, from ``[tool.asqla]``.

    Attributes:
        project_dir: The directory of ``pyproject.toml``; the models are imported from it.
        directory: The migrations directory: ``env.py``, ``script.py.mako``, ``versions/``.
        models: Where the models are, as ``"package.module:Base"`` (a declarative base,
            or a ``MetaData``); several for several metadata. Needed by ``new`` and
            ``check``; ``upgrade`` runs without them.
        lock_timeout: Seconds a migration statement waits for a lock before it fails
            (PostgreSQL ``lock_timeout``, MySQL/MariaDB ``lock_wait_timeout``), so that
            an ALTER queued behind a long transaction does not block every query
            queued behind it. ``None`` waits for ever.
        statement_timeout: Seconds a migration statement may run (PostgreSQL
            ``statement_timeout``, MariaDB ``max_statement_time``, MySQL
            ``max_execution_time``). It replaces the application's own, usually
            much shorter, limit. ``None``: no limit.
        lock_wait: Seconds ``upgrade --lock`` waits for another process to finish
            migrating before it gives up with `MigrationLockError`.
    """

    project_dir: Path
    directory: Path
    models: tuple[str, ...] = ()
    lock_timeout: float | None = 5.0
    statement_timeout: float | None = 3600.0
    lock_wait: float = 600.0
    pyproject: Path | None = field(default=None, compare=False)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.asqla]`` table, else the nearest one."""
    nearest: Path | None = None
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if not candidate.is_file():
            continue
        if "asqla" in _read_toml(candidate).get("tool", {}):
            return candidate
        nearest = nearest or candidate
    return nearest


def migration_settings(project: str | Path | None = None) -> MigrationSettings:
    """Read ``[tool.asqla]`` from ``project`` (a directory or a pyproject.toml; default: cwd).

    Without a pyproject.toml, or without the table, the defaults apply:
    migrations in ``./migrations`` and no models.
    """
    start = Path(project).resolve() if project is not None else Path.cwd()
    if start.is_file():
        pyproject: Path | None = start
    elif project is not None:
        pyproject = start / PYPROJECT if (start / PYPROJECT).is_file() else None
    else:
        pyproject = find_pyproject(start)
    if pyproject is None:
        return MigrationSettings(project_dir=start, directory=start / DEFAULT_DIRECTORY)
    table = _read_toml(pyproject).get("tool", {}).get("asqla", {})
    return _parse(table, pyproject)


def load_config(
    project: str | Path | None = None,
    *,
    database: DatabaseSettings | str | None = None,
    directory: str | Path | None = None,
) -> Config:
    """Build the Alembic ``Config`` of a project, as the ``asqla migrations`` commands use it.

    Args:
        project: The project's directory or its pyproject.toml; default: found
            from the current directory upwards.
        database: The database settings or URL; default: read from the
            environment (``DATABASE_URL``) when a command needs the database.
        directory: The migrations directory, instead of ``[tool.asqla] migrations``.

    Example:
        >>> config = load_config(".", database="sqlite:///app.db")  # doctest: +SKIP
        >>> upgrade(config, "head")  # doctest: +SKIP
    """
    settings = migration_settings(project)
    if directory is not None:
        path = Path(directory)
        settings = _replace_directory(
            settings, path if path.is_absolute() else settings.project_dir / path
        )
    # quiet: Alembic prints its own progress to stdout, which would break the
    # CLI's JSON output; asqla reports through logging and return values.
    config = Config(cmd_opts=Namespace(quiet=True))
    config.set_main_option("script_location", _escape(str(settings.directory)))
    config.set_main_option("file_template", _escape(FILE_TEMPLATE))
    config.set_main_option("path_separator", "os")
    config.attributes[SETTINGS_KEY] = settings
    if database is not None:
        if isinstance(database, str):
            database = DatabaseSettings(url=database)
        config.attributes[DATABASE_KEY] = database
    return config


def settings_of(config: Config) -> MigrationSettings:
    """The migration settings a ``Config`` carries, or those of the current directory.

    A ``Config`` that ``alembic`` built from ``alembic.ini`` carries none: the
    project is then found from the current directory, and the migrations
    directory is the ``script_location`` the ``Config`` names.
    """
    settings = config.attributes.get(SETTINGS_KEY)
    if isinstance(settings, MigrationSettings):
        return settings
    settings = migration_settings()
    location = config.get_alembic_option("script_location")
    if location and ":" not in location:  # "package:dir" locations are Alembic's business
        settings = _replace_directory(settings, Path(location))
    config.attributes[SETTINGS_KEY] = settings
    return settings


def database_settings(config: Config) -> DatabaseSettings:
    """The database settings a ``Config`` carries, or those of the environment."""
    settings = config.attributes.get(DATABASE_KEY)
    if isinstance(settings, DatabaseSettings):
        return settings
    # DatabaseSettings() raises ConfigurationError, naming DATABASE_URL, without a URL.
    settings = DatabaseSettings()
    config.attributes[DATABASE_KEY] = settings
    return settings


def _replace_directory(settings: MigrationSettings, directory: Path) -> MigrationSettings:
    if not directory.is_absolute():
        directory = (Path.cwd() / directory).resolve()
    return MigrationSettings(
        project_dir=settings.project_dir,
        directory=directory,
        models=settings.models,
        lock_timeout=settings.lock_timeout,
        statement_timeout=settings.statement_timeout,
        lock_wait=settings.lock_wait,
        pyproject=settings.pyproject,
    )


def _parse(table: dict[str, Any], pyproject: Path) -> MigrationSettings:
    where = f"[tool.asqla] in {pyproject}"
    unknown = sorted(key for key in table if key.startswith("migration") and key not in _KNOWN_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown key(s) {unknown!r}; the migration keys are {sorted(_KNOWN_KEYS)}."
        )
    models = table.get("models", ())
    if isinstance(models, str):
        models = (models,)
    if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
        raise ConfigurationError(
            f'{where}: models = {models!r} must be a string such as "app.models:Base" '
            "or a list of them."
        )
    directory = table.get("migrations", DEFAULT_DIRECTORY)
    if not isinstance(directory, str) or not directory:
        raise ConfigurationError(
            f'{where}: migrations = {directory!r} must name a directory, such as "migrations".'
        )
    project_dir = pyproject.parent
    path = Path(directory)
    return MigrationSettings(
        project_dir=project_dir,
        directory=path if path.is_absolute() else project_dir / path,
        models=tuple(models),
        lock_timeout=_seconds(table, "migration_lock_timeout", 5.0, where),
        statement_timeout=_seconds(table, "migration_statement_timeout", 3600.0, where),
        lock_wait=_wait(table, where),
        pyproject=pyproject,
    )


def _seconds(table: dict[str, Any], key: str, default: float, where: str) -> float | None:
    """A number of seconds; 0 means no limit (None)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(
            f"{where}: {key} = {value!r} must be a number of seconds (0 for no limit), "
            f"such as {key} = {default:g}."
        )
    if not math.isfinite(value):
        raise ConfigurationError(f"{where}: {key} = {value!r} must be a finite number of seconds.")
    return float(value) or None


def _wait(table: dict[str, Any], where: str) -> float:
    value = table.get("migration_lock_wait", 600.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigurationError(
            f"{where}: migration_lock_wait = {value!r} must be a number of seconds "
            "(0 to give up at once when another process holds the lock), such as 600."
        )
    return float(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc}. Fix the file's TOML.") from exc


def _escape(value: str) -> str:
    # Config's main options go through configparser, where % starts an
    # interpolation: a literal % must be doubled.
    return value.replace("%", "%%")
