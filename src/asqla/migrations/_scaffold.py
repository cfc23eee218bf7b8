"""``init``: write a project's migrations directory and its ``[tool.asqla]`` table."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from ._config import PYPROJECT, _read_toml
from ._errors import MigrationError

__all__ = ["init"]

_TEMPLATES = {"env.py": "env.py.tmpl", "script.py.mako": "script.py.mako"}
_HEADER = re.compile(r"^\[tool\.asqla\][ \t]*(#.*)?$", re.MULTILINE)


def init(
    directory: str | Path = "migrations",
    *,
    models: str | None = None,
    project: str | Path | None = None,
) -> tuple[Path, ...]:
    """Write a migrations directory and point ``[tool.asqla]`` in pyproject.toml at it.

    Writes ``env.py``, ``script.py.mako`` and an empty ``versions/`` into
    ``directory`` (relative to ``project``, default: the current directory),
    and adds ``migrations`` (and ``models``, when given) to the ``[tool.asqla]``
    table of the project's pyproject.toml, creating the table or the file if
    needed. No database URL is written anywhere.

    Args:
        directory: The migrations directory; it must not exist, or be empty.
        models: Where the models are, such as ``"app.models:Base"``.
        project: The project's directory, where pyproject.toml is.

    Returns:
        The files written or changed.

    Raises:
        MigrationError: ``directory`` is not empty, or pyproject.toml already
            names other migrations or models.
    """
    project_dir = Path(project).resolve() if project is not None else Path.cwd()
    target = Path(directory)
    target = (target if target.is_absolute() else project_dir / target).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MigrationError(
            f"{target} already exists and is not an empty directory; init writes a new "
            "migrations directory. Choose another one (asqla migrations init db/migrations) "
            "or remove it."
        )
    try:
        relative = target.relative_to(project_dir).as_posix()
    except ValueError:
        relative = target.as_posix()
    pyproject = project_dir / PYPROJECT
    text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else None
    updated = _with_tool_table(text, pyproject, relative, models)

    (target / "versions").mkdir(parents=True, exist_ok=True)
    written = []
    templates = resources.files("asqla.migrations") / "templates"
    for name, template in _TEMPLATES.items():
        path = target / name
        path.write_text(templates.joinpath(template).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    keep = target / "versions" / ".gitkeep"
    keep.touch()
    written.append(keep)
    if updated != text:
        pyproject.write_text(updated, encoding="utf-8")
        written.append(pyproject)
    return tuple(written)


def _with_tool_table(text: str | None, pyproject: Path, directory: str, models: str | None) -> str:
    """``text`` with ``migrations`` (and ``models``) in its ``[tool.asqla]`` table."""
    lines = {"migrations": directory, "models": models}
    if text is None or not _HEADER.search(text):
        body = [f"migrations = {_quote(directory)}"]
        if models is not None:
            body.insert(0, f"models = {_quote(models)}")
        else:
            body.insert(0, '# models = "app.models:Base"  # needed by `new` and `check`')
        block = "[tool.asqla]\n" + "\n".join(body) + "\n"
        if not text:
            return block
        return text.rstrip("\n") + "\n\n" + block
    table = _read_toml(pyproject).get("tool", {}).get("asqla", {})
    missing = []
    for key, value in lines.items():
        if value is None:
            continue
        if key in table:
            if table[key] != value:
                raise MigrationError(
                    f"[tool.asqla] in {pyproject} already says {key} = {table[key]!r}, not "
                    f"{value!r}. Edit it by hand if the project should use {value!r}."
                )
            continue
        missing.append(f"{key} = {_quote(value)}")
    if not missing:
        return text
    header = _HEADER.search(text)
    assert header is not None  # checked above
    end = header.end()
    return text[:end] + "\n" + "\n".join(missing) + text[end:]


def _quote(value: str) -> str:
    # A TOML basic string: backslashes and quotes escaped.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
