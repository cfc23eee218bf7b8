"""The ``asqla`` command: a thin layer over plain, importable functions.

Every command takes ``--format text|json``. JSON output is a contract: an
object with ``"schema_version"`` and the command's fields, documented in
``docs/cli.md`` and pinned by tests. Errors print as one paragraph and exit
with status 1 (``--traceback`` shows the Python traceback instead).
"""

from __future__ import annotations

from ._app import app, main
from ._db import db_app
from ._doctor import doctor_app as _doctor_app
from ._init import init
from ._migrations import migrations_app

__all__ = ["app", "main"]

app.add_typer(db_app, name="db")
app.add_typer(migrations_app, name="migrations")
app.add_typer(_doctor_app, name="doctor")
app.command("init")(init)
