"""Alembic migrations that work under asyncio, with the traps already avoided.

``asqla migrations init`` writes a migrations directory whose ``env.py``
calls `run_env()`; the commands are plain functions over the Alembic
``Config`` that `load_config()` builds from ``[tool.asqla]`` in
pyproject.toml. The database URL always comes from the application's
settings (``DATABASE_URL``). See ``docs/migrations.md``.

Example::

    from asqla.migrations import load_config, upgrade_async

    await upgrade_async(db, "head", config=load_config(), lock=True)
"""

from __future__ import annotations

from ._config import MigrationSettings as MigrationSettings
from ._config import load_config as load_config
from ._env import run_env as run_env
from ._errors import EmptyMigrationError as EmptyMigrationError
from ._errors import MigrationError as MigrationError
from ._errors import MigrationLockError as MigrationLockError
from ._results import AppliedRevision as AppliedRevision
from ._results import MigrationRun as MigrationRun
from ._results import RevisionInfo as RevisionInfo
from ._results import SchemaDiff as SchemaDiff
from ._results import SchemaDifference as SchemaDifference
from .commands import check as check
from .commands import check_async as check_async
from .commands import current as current
from .commands import downgrade as downgrade
from .commands import downgrade_async as downgrade_async
from .commands import heads as heads
from .commands import history as history
from .commands import init as init
from .commands import new as new
from .commands import stamp as stamp
from .commands import upgrade as upgrade
from .commands import upgrade_async as upgrade_async

__all__ = [
    "AppliedRevision",
    "EmptyMigrationError",
    "MigrationError",
    "MigrationLockError",
    "MigrationRun",
    "MigrationSettings",
    "RevisionInfo",
    "SchemaDiff",
    "SchemaDifference",
    "check",
    "check_async",
    "current",
    "downgrade",
    "downgrade_async",
    "heads",
    "history",
    "init",
    "load_config",
    "new",
    "run_env",
    "stamp",
    "upgrade",
    "upgrade_async",
]
