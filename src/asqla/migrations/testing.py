"""Migration tests for a project's own test suite: run its real migrations on a real database.

Four checks catch what goes wrong with migrations before production does:

- `assert_single_head()`: two developers each added a revision on the
  same parent; the next deploy fails with "multiple heads".
- `assert_upgrade_downgrade_cycle()`: upgrade to head, downgrade to base
  (leaving no table behind), upgrade again: a downgrade that was never run
  is a downgrade that does not work.
- `assert_stairway()`: each revision, one at a time: up, down, up again.
  Catches a downgrade that forgets a type or an index, which only a second
  upgrade notices ("type already exists").
- `assert_no_drift()`: after upgrading to head, the database matches
  the models: no change that a model made and no revision carries.

Each async check takes an empty database ([`Database`][asqla.Database] or
``AsyncEngine``) and the project's ``Config``, and raises ``AssertionError``
with a message that says what is wrong. Example::

    from asqla.migrations import load_config
    from asqla.migrations.testing import (
        assert_no_drift, assert_single_head, assert_stairway, assert_upgrade_downgrade_cycle,
    )

    def test_one_head():
        assert_single_head(load_config())

    async def test_migrations(db):
        config = load_config(database=db.settings)
        await assert_upgrade_downgrade_cycle(db, config)
        await assert_stairway(db, config)
        await assert_no_drift(db, config)
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ..database import Database
from ._config import load_config
from ._results import MigrationRun
from .commands import check_async, downgrade_async, upgrade_async

__all__ = [
    "assert_no_drift",
    "assert_single_head",
    "assert_stairway",
    "assert_upgrade_downgrade_cycle",
    "upgrade_database",
]


async def upgrade_database(
    url: URL | str, directory: str | Path, *, revision: str = "head"
) -> MigrationRun:
    """Migrate the database at ``url`` with the migrations in ``directory``; for test set-up.

    The project (``[tool.asqla]``, for the models) is the one of the
    directory's parent. The engine is made for the call and disposed after it.
    """
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    path = Path(directory).resolve()
    config = load_config(path.parent, database=url, directory=path)
    database = Database(url)
    try:
        return await upgrade_async(database, revision, config=config)
    finally:
        await database.dispose()


def assert_single_head(config: Config) -> None:
    """Assert that the revisions have one head: no branch left unmerged."""
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    if len(heads) > 1:
        files = ", ".join(
            f"{head} ({revision.path})"
            for head in sorted(heads)
            if (revision := script.get_revision(head)) is not None
        )
        raise AssertionError(
            f"The migrations have {len(heads)} heads: {files}. Two revisions follow the same "
            'parent; merge them with `alembic merge heads -m "merge"` (or rebase one onto '
            "the other by editing its down_revision)."
        )
    if not heads:
        raise AssertionError(
            f"No revision in {script.versions}: write one with asqla migrations new."
        )


async def assert_upgrade_downgrade_cycle(db: Database | AsyncEngine, config: Config) -> None:
    """Assert that upgrading to head, downgrading to base and upgrading again all work.

    After the downgrade to base, no table that the upgrade created may be
    left, except Alembic's version table.
    """
    engine = db.engine if isinstance(db, Database) else db
    heads = set(ScriptDirectory.from_config(config).get_heads())
    before = await _tables(engine)
    run = await upgrade_async(engine, "head", config=config)
    _expect(set(run.after), heads, "upgrade to head")
    run = await downgrade_async(engine, "base", config=config)
    _expect(set(run.after), set(), "downgrade to base")
    left = await _tables(engine) - before - {"alembic_version"}
    if left:
        raise AssertionError(
            f"After downgrading to base, table(s) {sorted(left)!r} are still there: a "
            "downgrade() does not drop what its upgrade() created."
        )
    run = await upgrade_async(engine, "head", config=config)
    _expect(set(run.after), heads, "upgrade to head after the downgrade to base")


async def assert_stairway(db: Database | AsyncEngine, config: Config) -> None:
    """Assert that every revision, from the first, upgrades, downgrades and upgrades again.

    The database must start empty (or at base); it ends at head.
    """
    engine = db.engine if isinstance(db, Database) else db
    script = ScriptDirectory.from_config(config)
    for revision in reversed(list(script.walk_revisions())):
        step = f"{revision.revision} ({revision.doc})"
        down = revision.down_revision
        target = "base" if down is None else down if isinstance(down, str) else down[0]
        try:
            await upgrade_async(engine, revision.revision, config=config)
            await downgrade_async(engine, target, config=config)
            await upgrade_async(engine, revision.revision, config=config)
        except Exception as exc:
            raise AssertionError(
                f"Revision {step} failed the stairway (upgrade, downgrade to {target}, upgrade "
                f"again): {exc}"
            ) from exc


async def assert_no_drift(db: Database | AsyncEngine, config: Config) -> None:
    """Assert that, once upgraded to head, the database matches the models."""
    engine = db.engine if isinstance(db, Database) else db
    await upgrade_async(engine, "head", config=config)
    diff = await check_async(engine, config=config)
    if not diff.ok:
        lines = "\n".join(f"  {difference.detail}" for difference in diff.differences)
        raise AssertionError(
            f"The migrated database differs from the models:\n{lines}\n"
            f"A revision would need:\n{diff.upgrade_code}\n"
            'Write it with: asqla migrations new "describe the change"'
        )


async def _tables(engine: AsyncEngine) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(names)


def _expect(found: set[str], wanted: set[str], what: str) -> None:
    if found != wanted:
        raise AssertionError(
            f"After the {what}, the database is at {sorted(found) or 'base'}, "
            f"not at {sorted(wanted) or 'base'}."
        )
