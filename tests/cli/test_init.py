"""``asqla init``: the project it writes, and that project passing its own tests.

The end-to-end tests do what the getting-started page tells a user: build
asqla from this checkout into a wheel, scaffold a project, create its
virtualenv, ``make install`` it, and run ``make test`` and the migrations in
subprocesses, on SQLite and, with ``DATABASE_URL`` pointed at the harness's
server, on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from asqla.cli import app, main
from asqla.cli._init import init
from asqla.scaffold import init_project

PYTHON_FILES = [
    "app/__init__.py",
    "app/db.py",
    "app/main.py",
    "app/models.py",
    "app/repositories.py",
    "app/routes.py",
    "app/schemas.py",
    "app/settings.py",
    "migrations/env.py",
    "migrations/versions/0001_create_note.py",
    "tests/test_notes.py",
]
FILES = sorted(
    [
        *PYTHON_FILES,
        ".gitignore",
        "Makefile",
        "README.md",
        "migrations/script.py.mako",
        "migrations/versions/.gitkeep",
        "pyproject.toml",
    ]
)
TESTS_IN_PROJECT = 9
DEFAULT = {"DATABASE_URL": "sqlite:///app.db"}  # the Makefile's


@pytest.fixture(autouse=True)
def _init_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``init`` on the CLI for these tests, unless ``asqla.cli`` already does."""
    if not any(command.name == "init" for command in app.registered_commands):
        monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))
        app.command("init")(init)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


ROOT = Path(__file__).resolve().parents[2]  # this checkout


def run(
    project: Path, *args: str | Path, venv: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``project`` as a shell with ``venv`` activated would.

    No database variable, no ``PYTHONPATH`` and no pytest option of this run
    leaks in: what the project needs comes from ``venv`` and its own files.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV"}
        and not key.startswith(("ASQLA_", "PYTEST_"))
    }
    environment["VIRTUAL_ENV"] = str(venv)
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{environment['PATH']}"
    environment.update(env or {})
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def transcript(result: subprocess.CompletedProcess[str]) -> str:
    """The command and all it printed, for an assertion's message."""
    return f"$ {' '.join(map(str, result.args))}\n{result.stdout}{result.stderr}"


def server_env(backend: str, database_url: str) -> dict[str, str]:
    # SQLite runs on the project's defaults: the generated code must work with no variable set.
    return {} if backend == "sqlite" else {"DATABASE_URL": database_url}


# -- what it writes ------------------------------------------------------------------------


def test_init_writes_the_project_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes-service"

    code, out, err = run_cli(capsys, "init", str(target))

    assert code == 0, err
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == FILES
    assert 'name = "notes-service"' in (target / "pyproject.toml").read_text()
    assert "make test" in out
    assert "app/models.py" in out


def test_init_json_lists_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes"

    code, out, _ = run_cli(capsys, "init", str(target), "--name", "my-notes", "--format", "json")

    assert code == 0
    assert json.loads(out) == {
        "schema_version": 1,
        "ok": True,
        "name": "my-notes",
        "directory": str(target.resolve()),
        "files": FILES,
    }


def test_init_refuses_a_directory_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "main.py").write_text("print('mine')\n")

    code, _, err = run_cli(capsys, "init", str(tmp_path / "notes"))

    assert code == 1
    assert "already exists and is not an empty directory" in err
    assert "never overwrites files" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["main.py"]
    assert (tmp_path / "notes" / "main.py").read_text() == "print('mine')\n"


def test_init_refuses_a_non_empty_directory_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("mine\n")

    code, out, _ = run_cli(capsys, "init", str(tmp_path / "notes"), "--format", "json")

    assert code == 1
    document = json.loads(out)
    assert document["ok"] is False
    assert "already exists and is not an empty directory" in document["error"]


def test_init_writes_into_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()

    project = init_project(tmp_path / "notes")

    assert [path.as_posix() for path in project.files] == FILES


@pytest.mark.parametrize(
    "name",
    [pytest.param("-notes", id="leading-dash"), pytest.param("my notes", id="space")],
)
def test_init_refuses_an_invalid_name(tmp_path: Path, name: str) -> None:
    from asqla import ConfigurationError

    with pytest.raises(ConfigurationError, match=rf"{name!r} is not a valid project name"):
        init_project(tmp_path / "notes", name=name)
    assert not (tmp_path / "notes").exists()


# -- end to end: installed in a new virtualenv, the project passes its own tests -----------


@dataclass(frozen=True)
class Installed:
    project: Path
    venv: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A project from ``asqla init``, installed by its own ``make install``, as a user would.

    asqla is a wheel built from this checkout and installed first into the
    project's new ``.venv``: ``make install`` then finds it there and takes
    everything else (FastAPI, the drivers, pytest) from the package index. No
    ``PYTHONPATH`` and no ``-p`` option: the pytest plugin must come from the
    wheel's ``pytest11`` entry point.
    """
    root = tmp_path_factory.mktemp("init")
    project = init_project(root / "notes").directory
    venv = project / ".venv"

    def step(*args: str | Path) -> None:
        result = run(project, *args, venv=venv)
        assert result.returncode == 0, transcript(result)

    step(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", root, ROOT)
    (wheel,) = root.glob("asqla-*.whl")
    step(sys.executable, "-m", "venv", venv)
    step(venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[fastapi,sqlite]")
    step("make", "install")
    return Installed(project=project, venv=venv)


def test_the_project_runs_on_the_asqla_it_installed(installed: Installed) -> None:
    where = run(
        installed.project,
        "python",
        "-c",
        "import asqla, app; print(asqla.__file__); print(app.__file__)",
        venv=installed.venv,
    )

    assert where.returncode == 0, transcript(where)
    asqla_file, app_file = map(Path, where.stdout.split())
    assert asqla_file.is_relative_to(installed.venv)  # the wheel, not this checkout
    assert app_file.is_relative_to(installed.project)  # the project, installed editable


def test_the_generated_code_passes_ruff_and_mypy_strict(installed: Installed) -> None:
    result = run(installed.project, "make", "lint", venv=installed.venv)

    assert result.returncode == 0, transcript(result)
    assert "Success: no issues found" in result.stdout  # mypy ran, over files


async def test_the_generated_project_passes_its_tests(
    backend: str, database_url: str, installed: Installed
) -> None:
    result = run(
        installed.project,
        "make",
        "test",
        venv=installed.venv,
        env=server_env(backend, database_url),
    )

    assert result.returncode == 0, transcript(result)
    assert f"{TESTS_IN_PROJECT} passed" in result.stdout
    assert "pip install" not in result.stdout  # `make install` already did it


async def test_the_initial_revision_matches_the_models(
    backend: str, database_url: str, installed: Installed
) -> None:
    env = server_env(backend, database_url)

    upgrade = run(installed.project, "make", "migrate", venv=installed.venv, env=env)
    # The Makefile's default DATABASE_URL, for SQLite.
    check = run(
        installed.project,
        "asqla",
        "migrations",
        "check",
        "--format",
        "json",
        venv=installed.venv,
        env=env or DEFAULT,
    )

    assert upgrade.returncode == 0, transcript(upgrade)
    assert check.returncode == 0, transcript(check)
    assert json.loads(check.stdout)["ok"] is True
    if backend == "sqlite":
        assert (installed.project / "app.db").is_file()  # DATABASE_URL's default


def test_check_finds_a_model_the_revision_does_not_have(
    installed: Installed, tmp_path: Path
) -> None:
    # The check above could pass by comparing nothing: a model change must show up. A second
    # project, so that the installed one stays as written; asqla puts its directory first on
    # sys.path, ahead of the installed project.
    project = init_project(tmp_path / "notes").directory
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text() + "    pinned: Mapped[bool] = mapped_column(default=False)\n"
    )

    upgrade = run(project, "asqla", "migrations", "upgrade", venv=installed.venv, env=DEFAULT)
    check = run(
        project,
        "asqla",
        "migrations",
        "check",
        "--format",
        "json",
        venv=installed.venv,
        env=DEFAULT,
    )

    assert upgrade.returncode == 0, transcript(upgrade)
    document = json.loads(check.stdout)
    assert document["ok"] is False
    assert [d["operation"] for d in document["differences"]] == ["add_column"]
    assert "pinned" in document["upgrade_code"]


# -- the getting-started page shows the files as they are written --------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
_TITLED = re.compile(
    r'^```(?:python|toml) title="(?P<path>[^"]+)"\n(?P<code>.*?)^```$', re.M | re.S
)


def test_the_getting_started_page_shows_the_generated_files(tmp_path: Path) -> None:
    project = init_project(tmp_path / "notes").directory
    excerpts = [(m["path"], m["code"]) for m in _TITLED.finditer(GUIDE.read_text())]

    assert len(excerpts) >= 8
    for path, code in excerpts:
        assert code in (project / path).read_text(), f"{path} in {GUIDE.name} is out of date"
