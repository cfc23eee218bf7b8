"""Which files to lint: the PATHs given, or the versions directory of the project's Alembic."""

from __future__ import annotations

import configparser
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ._errors import LintUsageError


def find_targets(paths: Sequence[str | os.PathLike[str]], *, cwd: Path) -> list[Path]:
    """The migration scripts to lint: files as given, directories searched for ``*.py``."""
    roots = [Path(p) for p in paths] or versions_directories(cwd)
    targets: list[Path] = []
    for root in roots:
        path = root if root.is_absolute() else cwd / root
        if path.is_dir():
            targets.extend(scripts_in(path))
        elif path.is_file():
            targets.append(path)
        else:
            raise LintUsageError(
                f"{root}: no such file or directory. Give migration scripts or the directory "
                "that holds them (Alembic's versions directory)."
            )
    return targets


def scripts_in(directory: Path) -> list[Path]:
    """The migration scripts under ``directory``, in name order."""
    return sorted(
        path
        for path in directory.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def versions_directories(cwd: Path) -> list[Path]:
    """Alembic's versions directories, from ``alembic.ini`` or ``pyproject.toml`` in ``cwd``."""
    ini = cwd / "alembic.ini"
    locations: list[str] = []
    if ini.is_file():
        parser = configparser.ConfigParser(defaults={"here": str(cwd)})
        try:
            parser.read(ini, encoding="utf-8")
            section = parser["alembic"] if parser.has_section("alembic") else None
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise LintUsageError(f"{ini}: cannot read it ({exc}).") from exc
        if section is not None:
            if section.get("version_locations"):
                locations = re.split(r"[\s,]+", section["version_locations"].strip())
            elif section.get("script_location"):
                locations = [os.path.join(section["script_location"], "versions")]
    pyproject = cwd / "pyproject.toml"
    if not locations and pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise LintUsageError(f"{pyproject}: cannot read it ({exc}).") from exc
        script_location = tool.get("alembic", {}).get("script_location")
        asqla_location = tool.get("asqla", {}).get("migrations")
        if isinstance(script_location, str):
            locations = [os.path.join(script_location.replace("%(here)s", str(cwd)), "versions")]
        elif isinstance(asqla_location, str):  # `asqla migrations init` writes no alembic.ini
            locations = [os.path.join(asqla_location, "versions")]
    if not locations and (cwd / "migrations" / "versions").is_dir():
        locations = ["migrations/versions"]
    found = [Path(loc) for loc in locations if ":" not in loc or Path(loc).is_dir()]
    found = [p if p.is_absolute() else cwd / p for p in found]
    if not found:
        raise LintUsageError(
            f"no migrations to lint in {cwd}: there is no alembic.ini with a script_location "
            "and no migrations/versions directory. Give the paths of the migration scripts "
            "(asqla migrations lint migrations/versions --dialect postgresql)."
        )
    return found


def read_script(path: Path, shown: str) -> str:
    """The text of a migration script, or a usage error that names it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LintUsageError(f"{shown}: not UTF-8 text ({exc.reason}); is it a migration?") from exc
    except OSError as exc:
        raise LintUsageError(f"{shown}: cannot read it ({exc.strerror or exc}).") from exc
