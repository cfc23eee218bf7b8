"""What a project's ``env.py`` runs: ``run_env(context)``.

It configures Alembic the way a team running it in production wants it:

- the database from the application's settings (``DATABASE_URL``), never
  from a config file, and the models from ``[tool.asqla] models``;
- the models' naming convention for every constraint Alembic creates;
- batch mode (``render_as_batch``) on SQLite, which cannot ALTER most things;
- type and server default comparison in autogenerate, and no drop of the
  indexes of a table that the revision drops (`asqla.migrations._prune`);
- one transaction per revision, so that a failed revision leaves the ones
  before it applied and recorded, and ``autocommit_block()`` works;
- lock and statement timeouts for the migration's session
  (`asqla.migrations._timeouts`).

It runs on the connection it is handed through ``config.attributes``
(``upgrade_async`` and the ``asqla migrations`` commands hand one), and
otherwise, when run by a plain ``alembic`` command, opens its own.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import reduce
from typing import Any, Protocol

from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from ..exceptions import ConfigurationError
from ..model.types import utc_now
from ._config import MigrationSettings, database_settings, settings_of
from ._errors import EmptyMigrationError
from ._prune import drop_redundant_operations
from ._results import AppliedRevision
from ._runner import OWNED_KEY, STEPS_KEY, run_blocking, run_with_config_engine
from ._timeouts import offline_statements

__all__ = ["HEADS_KEY", "REFUSE_EMPTY_KEY", "AlembicContext", "load_metadata", "run_env"]

logger = logging.getLogger("asqla.migrations")

# Config.attributes keys set for and by one command.
REFUSE_EMPTY_KEY = "asqla.refuse_empty"
HEADS_KEY = "asqla.heads"

_DEFAULT_CONVENTION = MetaData().naming_convention


class AlembicContext(Protocol):
    """What `run_env()` uses of ``alembic.context``.

    ``env.py`` hands the module ``alembic.context``, whose functions act on
    the running ``EnvironmentContext``; mypy checks a module against a
    protocol, so that both the module and an ``EnvironmentContext`` are one.
    """

    @property
    def config(self) -> Config: ...

    def is_offline_mode(self) -> bool: ...

    def configure(self, **options: Any) -> None: ...

    def get_context(self) -> MigrationContext: ...

    def begin_transaction(self) -> AbstractContextManager[Any, Any]: ...

    def run_migrations(self, **kw: Any) -> None: ...

    def execute(
        self, sql: Executable | str, execution_options: dict[str, Any] | None = None
    ) -> None: ...


def run_env(context: AlembicContext, **configure_options: Any) -> None:
    """Configure Alembic and run the command's migrations; call it from ``env.py``.

    Args:
        context: ``alembic.context`` (or an ``EnvironmentContext``).
        **configure_options: Options for ``context.configure()``, added to
            asqla's or replacing them (``include_object=...``,
            ``version_table=...``). Hooks that asqla installs too
            (``process_revision_directives``, ``render_item``,
            ``on_version_apply``) run after asqla's or before, not instead.

    Example::

        # migrations/env.py
        from alembic import context

        from asqla.migrations import run_env

        run_env(context)
    """
    config = context.config
    settings = settings_of(config)
    if context.is_offline_mode():
        _run_offline(context, settings, configure_options)
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_online(context, connection, settings, configure_options)
        return

    # A plain `alembic` command: no connection was handed, open one.
    def work() -> None:
        _run_online(context, config.attributes["connection"], settings, configure_options)

    run_blocking(lambda: run_with_config_engine(config, work))


def load_metadata(settings: MigrationSettings) -> MetaData | list[MetaData] | None:
    """Import the models that ``[tool.asqla] models`` names and return their metadata."""
    if not settings.models:
        return None
    project = str(settings.project_dir)
    if project not in sys.path:
        # The console script's sys.path holds its own directory, not the
        # project's: `app.models` imports as it does under `python -m`.
        sys.path.insert(0, project)
    importlib.invalidate_caches()
    found = [_import_metadata(spec, settings) for spec in settings.models]
    for metadata in found:
        if metadata.naming_convention == _DEFAULT_CONVENTION:
            logger.warning(
                "asqla: the metadata of %s has no naming convention, so constraints get "
                "names the database makes up, which a later migration cannot drop by name. "
                "Subclass asqla.model.Base, or give it MetaData(naming_convention="
                "asqla.model.NAMING_CONVENTION).",
                settings.models,
            )
    return found[0] if len(found) == 1 else found


def _import_metadata(spec: str, settings: MigrationSettings) -> MetaData:
    where = f"[tool.asqla] models in {settings.pyproject or settings.project_dir}"
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"{where}: {spec!r} must name a module and an attribute, such as "
            '"app.models:Base" (a declarative base) or "app.db:metadata" (a MetaData).'
        )
    try:
        module = importlib.import_module(module_name)
        target = reduce(getattr, attribute.split("."), module)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"{where}: cannot import {spec!r} from {settings.project_dir}: {exc}. Check the "
            "module path (relative to the directory of pyproject.toml) and the attribute."
        ) from exc
    metadata = target if isinstance(target, MetaData) else getattr(target, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise ConfigurationError(
            f"{where}: {spec!r} is {target!r}, which is neither a MetaData nor has one. "
            'Name the declarative base ("app.models:Base") or a MetaData.'
        )
    return metadata


def _options(
    context: AlembicContext,
    settings: MigrationSettings,
    dialect: str,
    user: dict[str, Any],
) -> dict[str, Any]:
    config = context.config
    options: dict[str, Any] = {
        "target_metadata": load_metadata(settings),
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": dialect == "sqlite",
        "transaction_per_migration": True,
    }
    chained = {"process_revision_directives", "render_item", "on_version_apply"}
    options.update({key: value for key, value in user.items() if key not in chained})
    options["process_revision_directives"] = _directives(
        config.attributes, user.get("process_revision_directives")
    )
    options["render_item"] = _render_item(user.get("render_item"))
    user_apply = user.get("on_version_apply") or ()
    if callable(user_apply):
        user_apply = (user_apply,)
    options["on_version_apply"] = (_progress(config.attributes), *user_apply)
    return options


def _run_online(
    context: AlembicContext,
    connection: Connection,
    settings: MigrationSettings,
    user: dict[str, Any],
) -> None:
    config = context.config
    if connection.in_transaction() and config.attributes.get(OWNED_KEY):
        # Statements run before configure() (by env.py, or a hook) began a
        # transaction; Alembic would take it for the caller's and commit
        # nothing, so the migrations would be rolled back when the
        # connection closes. Commit it: Alembic then manages its own.
        connection.commit()
    context.configure(
        connection=connection, **_options(context, settings, connection.dialect.name, user)
    )
    migration_context = context.get_context()
    before = migration_context.get_current_heads()
    with context.begin_transaction():
        context.run_migrations()
    after = migration_context.get_current_heads()
    config.attributes[HEADS_KEY] = (before, after)


def _run_offline(
    context: AlembicContext, settings: MigrationSettings, user: dict[str, Any]
) -> None:
    url = database_settings(context.config).sqlalchemy_url
    options = _options(context, settings, url.get_backend_name(), user)
    options.setdefault("literal_binds", True)
    options.setdefault("dialect_opts", {"paramstyle": "named"})
    context.configure(url=url, **options)
    for statement in offline_statements(url.get_backend_name(), settings):
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def _progress(attributes: dict[str, Any]) -> Callable[..., None]:
    """An ``on_version_apply`` hook: record each revision applied, and log it."""
    clock = [time.perf_counter()]

    def applied(*, ctx: MigrationContext, step: MigrationInfo, heads: Any, run_args: Any) -> None:
        now = time.perf_counter()
        seconds, clock[0] = now - clock[0], now
        if not step.is_migration:  # a stamp changes the version table only
            return
        revision = step.up_revision  # a Script, whose doc is the message
        done = AppliedRevision(
            revision=step.up_revision_id or "",
            message=getattr(revision, "doc", "") or "",
            direction="upgrade" if step.is_upgrade else "downgrade",
            seconds=seconds,
        )
        attributes.setdefault(STEPS_KEY, []).append(done)
        logger.info(
            "asqla: %s %s %s (%.2fs)",
            "applied" if step.is_upgrade else "reverted",
            done.revision,
            done.message,
            seconds,
            extra={"asqla_revision": done},
        )

    return applied


def _directives(
    attributes: dict[str, Any], user_hook: Callable[..., None] | None
) -> Callable[..., None]:
    """Drop redundant operations, run the user's hook, then refuse an empty autogenerate."""

    def process(
        context: MigrationContext, revision: Any, directives: list[MigrationScript]
    ) -> None:
        for script in directives:
            for upgrade_ops in script.upgrade_ops_list:
                drop_redundant_operations(upgrade_ops)
            for downgrade_ops in script.downgrade_ops_list:
                drop_redundant_operations(downgrade_ops)
        if user_hook is not None:
            user_hook(context, revision, directives)
        if not attributes.get(REFUSE_EMPTY_KEY):
            return
        if all(_is_empty(script) for script in directives):
            raise EmptyMigrationError(
                "No change detected: the models and the database already match, so no revision "
                "was written. Pass --empty (allow_empty=True) for a revision to fill by hand, "
                "e.g. a data migration."
            )

    return process


def _is_empty(script: MigrationScript) -> bool:
    return all(ops.is_empty() for ops in script.upgrade_ops_list)


def _render_item(user_hook: Callable[..., Any] | None) -> Callable[..., Any]:
    """Render like Alembic, but import the module of each type it cannot import itself.

    Alembic renders a type from outside SQLAlchemy (``asqla.model.types.UTCDateTime``)
    by its module path without importing it: the revision then fails with
    ``NameError`` the first time it runs.
    """

    def render(type_: str, obj: Any, autogen_context: Any) -> Any:
        if user_hook is not None:
            rendered = user_hook(type_, obj, autogen_context)
            if rendered is not False:
                return rendered
        if type_ == "type":
            _import_types(obj, autogen_context.imports)
        elif type_ == "server_default":
            return _render_server_default(obj, autogen_context)
        return False

    return render


def _import_types(type_: Any, imports: set[str] | None) -> None:
    if imports is None:
        return
    for candidate in (type_, *getattr(type_, "_variant_mapping", {}).values()):
        module = type(candidate).__module__
        if not module.startswith(("sqlalchemy.", "builtins")):
            imports.add(f"import {module}")


def _render_server_default(default: Any, autogen_context: Any) -> Any:
    # asqla's utc_now() compiles differently on each backend; rendered as
    # compiled SQL, a revision made on SQLite would fail on PostgreSQL.
    argument = getattr(default, "arg", None)
    if isinstance(argument, utc_now):
        module = type(argument).__module__
        if autogen_context.imports is not None:
            autogen_context.imports.add(f"import {module}")
        return f"{module}.utc_now()"
    return False
