"""Alembic's environment for this project, written by `asqla migrations init`.

asqla reads the database URL from the application's settings (DATABASE_URL),
never from a config file, and the models from [tool.asqla] in pyproject.toml.
It sets Alembic up for production: the models' naming convention, batch mode
on SQLite, type and server default comparison, one transaction per revision,
lock and statement timeouts, and it runs on the connection it is handed, so
that migrations also run inside an event loop (`await upgrade_async(db)`).

Options for context.configure() go to run_env() and win over asqla's, e.g.:

    def include_object(object, name, type_, reflected, compare_to):
        return not (type_ == "table" and name.startswith("legacy_"))

    run_env(context, include_object=include_object)
"""

from alembic import context

from asqla.migrations import run_env

run_env(context)
