"""``init_project``: write a new FastAPI project that uses asqla the recommended way.

The project is a small notes service: settings from the environment, one
``Database``, a model built from the mixins, a repository with declared
filters, routes on the request's unit of work, Alembic migrations with the
initial revision, and tests on asqla's pytest plugin. It passes its own
tests as written, on SQLite and, with ``DATABASE_URL`` set, on PostgreSQL
or MariaDB.

The files are templates shipped with asqla (``scaffold/templates/project``),
filled with `string.Template`: ``$name`` is the project's name.

Example::

    from asqla.scaffold import init_project

    project = init_project("notes")
    print(project.files)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..exceptions import ConfigurationError
from ..migrations import init as init_migrations

__all__ = ["ScaffoldedProject", "init_project"]

_SUFFIX = ".tmpl"
# Names a file cannot have in a wheel or a git checkout without trouble.
_RENAMED = {"gitignore": ".gitignore"}
# A distribution name (PEP 508): letters, digits, and . _ - inside.
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")

MODELS = "app.models:Base"
MIGRATIONS = "migrations"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaffoldedProject:
    """What `init_project()` wrote.

    Attributes:
        name: The project's name, as in its pyproject.toml.
        directory: The project's directory.
        files: Every file written, relative to ``directory``, sorted.
    """

    name: str
    directory: Path
    files: tuple[Path, ...]


def init_project(directory: str | Path, *, name: str | None = None) -> ScaffoldedProject:
    """Write a new project into ``directory``, which must not exist or be empty.

    Args:
        directory: Where to write the project; created with its parents.
        name: The project's name; default: the directory's name.

    Returns:
        The project: its name, directory and files.

    Raises:
        ConfigurationError: ``directory`` is a file or is not empty, or the
            name is not a valid project name.
    """
    target = Path(directory).resolve()
    name = name if name is not None else target.name
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"{name!r} is not a valid project name: use letters, digits, and '.', '_' or '-' "
            "between them, such as 'notes-service'. Pass another NAME (or --name)."
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigurationError(
            f"{str(target)!r} already exists and is not an empty directory, and asqla init "
            "never overwrites files. Choose a new directory name, or empty this one first."
        )
    target.mkdir(parents=True, exist_ok=True)
    templates = resources.files(__name__) / "templates" / "project"
    values = {"name": name}
    # The migrations directory last: asqla.migrations.init writes env.py and
    # script.py.mako into an empty one, and [tool.asqla] must already say
    # the models and migrations it writes (it checks that they agree).
    written = _render(templates, target, values, skip=MIGRATIONS)
    written += init_migrations(MIGRATIONS, models=MODELS, project=target)
    written += _render(templates / MIGRATIONS, target / MIGRATIONS, values)
    files = {path.relative_to(target) for path in written}
    return ScaffoldedProject(name=name, directory=target, files=tuple(sorted(files)))


def _render(
    source: Traversable, target: Path, values: dict[str, str], *, skip: str | None = None
) -> list[Path]:
    """Write every template under ``source`` (but ``skip``) to ``target``; return the paths.

    ``safe_substitute`` leaves a ``$`` that names no value alone, such as
    make's ``$(PYTHON)``; a template must not contain ``$$``, which it would
    turn into ``$``.
    """
    written: list[Path] = []
    for entry in sorted(source.iterdir(), key=lambda entry: entry.name):
        if entry.name == skip:
            continue
        if entry.is_dir():
            written += _render(entry, target / entry.name, values)
        elif entry.name.endswith(_SUFFIX):
            stem = entry.name.removesuffix(_SUFFIX)
            path = target / _RENAMED.get(stem, stem)
            text = string.Template(entry.read_text(encoding="utf-8")).safe_substitute(values)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
