"""What the pytest plugin tests against: the server, the app, its models and migrations.

Read once per test session from, in order of precedence:

- ``--asqla-url`` on the command line;
- ``ASQLA_DATABASE_URL``, then ``DATABASE_URL``, as the application reads them;
- otherwise a SQLite file in a temporary directory.

The URL names a *server*: the tests never use its database, they create
their own beside it (see ``_databases``). The application is described in
``[tool.asqla]`` of ``pyproject.toml``, the table the migrations read too::

    [tool.asqla]
    database = "app.db:db"          # the application's asqla.Database
    app = "app.main:app"            # its FastAPI (or any ASGI) app
    models = "app.models:Base"      # a declarative base or a MetaData; or a list
    migrations = "migrations"       # Alembic's env.py and versions/, when there are some
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["PluginSettings", "import_object"]

_KEYS = ("database", "app", "models", "migrations")


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSettings:
    """Where the tests' databases live, and what the application is made of.

    Attributes:
        url: The server URL, password included: never printed (``repr=False``);
            ``None`` for a temporary SQLite file.
        project_dir: The directory of ``pyproject.toml`` (the rootdir without one).
        database: The application's ``Database``, as ``"module:attribute"``.
        app: The application's ASGI app, as ``"module:attribute"``.
        models: Declarative bases or ``MetaData`` objects, as ``"module:attribute"``.
        migrations: The Alembic directory, when it holds an ``env.py``.
    """

    url: str | None = field(default=None, repr=False)
    project_dir: Path
    database: str | None = None
    app: str | None = None
    models: tuple[str, ...] = ()
    migrations: Path | None = None

    @classmethod
    def read(cls, *, option: str | None, rootpath: Path, inipath: Path | None) -> PluginSettings:
        """Build the settings from the ``--asqla-url`` value, the environment and pyproject."""
        url = option or os.environ.get("ASQLA_DATABASE_URL") or os.environ.get("DATABASE_URL")
        pyproject = inipath if inipath is not None and inipath.name == "pyproject.toml" else None
        if pyproject is None and (rootpath / "pyproject.toml").is_file():
            pyproject = rootpath / "pyproject.toml"
        table = _table(pyproject) if pyproject is not None else {}
        project_dir = pyproject.parent if pyproject is not None else rootpath
        where = f"[tool.asqla] in {pyproject}"
        models = table.get("models", ())
        if isinstance(models, str):
            models = (models,)
        if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
            raise ConfigurationError(
                f'{where}: models = {models!r} must be a string such as "app.models:Base" '
                "or a list of them."
            )
        for key in ("database", "app"):
            value = table.get(key)
            if value is not None and (not isinstance(value, str) or ":" not in value):
                raise ConfigurationError(
                    f'{where}: {key} = {value!r} must name an object as "module:attribute", '
                    f'such as {key} = "app.main:{"db" if key == "database" else "app"}".'
                )
        directory = project_dir / str(table.get("migrations", "migrations"))
        return cls(
            url=url or None,
            project_dir=project_dir,
            database=table.get("database"),
            app=table.get("app"),
            models=tuple(models),
            migrations=directory if (directory / "env.py").is_file() else None,
        )


def import_object(reference: str, *, project_dir: Path, key: str) -> Any:
    """Import ``"package.module:attribute.path"``, with the project directory importable."""
    module_name, _, attribute = reference.partition(":")
    if str(project_dir) not in sys.path:
        # The project's own packages import as they do under `python -m`.
        sys.path.append(str(project_dir))
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"[tool.asqla] {key} = {reference!r}: cannot import {module_name!r} ({exc}). "
            f"Check the module path; it is imported from {str(project_dir)!r}."
        ) from exc
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"[tool.asqla] {key} = {reference!r}: module {module_name!r} has no "
                f"attribute {attribute!r}."
            ) from None
    return value


def _table(pyproject: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read {pyproject}: {exc}. Fix the file's TOML.") from exc
    table = document.get("tool", {}).get("asqla", {})
    return {key: table[key] for key in _KEYS if key in table}
