"""``asqla init NAME``: write a new FastAPI project on asqla, a thin layer over `init_project`.

JSON output (``--format json``), schema version 1::

    {"schema_version": 1, "ok": true, "name": "notes", "directory": "/abs/notes",
     "files": ["Makefile", "README.md", "app/__init__.py", ...]}

A failure is ``{"schema_version": 1, "ok": false, "error": "..."}`` and exit status 1.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from ..exceptions import AsqlaError
from ..scaffold import init_project
from ._output import FORMAT_OPTION, CommandFailed, OutputFormat, console, print_json

__all__ = ["init"]


def init(
    name: str = typer.Argument(
        ..., help="The project's directory, created; its last part names the project."
    ),
    project_name: str | None = typer.Option(
        None, "--name", help="The project's name, if not the directory's.", show_default=False
    ),
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Write a new FastAPI project that uses asqla: app, migrations, tests, Makefile."""
    json_output = output_format is OutputFormat.json
    try:
        project = init_project(name, name=project_name)
    except (AsqlaError, OSError) as exc:
        raise CommandFailed(str(exc), json_output=json_output) from exc
    if json_output:
        print_json(
            {
                "ok": True,
                "name": project.name,
                "directory": str(project.directory),
                "files": [path.as_posix() for path in project.files],
            }
        )
        return
    console.print(f"Created [bold]{escape(project.name)}[/] in {escape(str(project.directory))}:")
    for path in project.files:
        console.print(f"  {escape(path.as_posix())}", highlight=False)
    console.print("\nNext:", highlight=False)
    console.print(f"  cd {escape(name)}", highlight=False)
    console.print("  make install   # the app, its test tools and the drivers", highlight=False)
    console.print("  make test      # its tests, on SQLite", highlight=False)
    console.print("  make run       # migrate app.db and serve http://127.0.0.1:8000/docs")
