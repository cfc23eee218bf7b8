"""The commands as plain functions, on real databases: new, upgrade, downgrade, check..."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from asqla import Database
from asqla.migrations import (
    EmptyMigrationError,
    MigrationError,
    check,
    current,
    downgrade,
    heads,
    history,
    load_config,
    new,
    stamp,
    upgrade,
)

from .conftest import MODELS_WITH_BODY, Project


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await db.dispose()


async def test_a_model_change_goes_from_new_to_upgrade_to_check(project: Project) -> None:
    config = project.config()
    first = new(config, "initial schema")
    assert first.message == "initial schema"
    assert first.is_head and first.down_revisions == ()
    assert first.path.endswith(f"_{first.revision}_initial_schema.py")

    run = upgrade(config)
    assert run.before == () and run.after == (first.revision,)
    assert [(s.revision, s.direction) for s in run.applied] == [(first.revision, "upgrade")]
    assert {"author", "note", "alembic_version"} <= await _tables(project.database_url)
    assert check(config).ok

    project.write_models(MODELS_WITH_BODY)
    drift = check(config)
    assert not drift.ok
    assert [(d.operation, d.table) for d in drift.differences] == [("add_column", "note")]
    assert "note.body VARCHAR(2000) NULL" in drift.differences[0].detail
    assert "sa.Column('body', sa.String(length=2000), nullable=True)" in drift.upgrade_code
    assert "###" not in drift.upgrade_code

    second = new(config, "add note.body")
    assert second.down_revisions == (first.revision,)
    run = upgrade(config)
    assert run.before == (first.revision,) and run.after == (second.revision,)
    assert check(config).ok
    assert [info.revision for info in current(config)] == [second.revision]
    assert [info.revision for info in heads(config)] == [second.revision]
    assert [info.revision for info in history(config)] == [second.revision, first.revision]

    run = downgrade(config, "-1")
    assert run.after == (first.revision,)
    assert [(s.revision, s.direction) for s in run.applied] == [(second.revision, "downgrade")]
    run = downgrade(config, "base")
    assert run.after == ()
    assert await _tables(project.database_url) <= {"alembic_version"}


async def test_new_refuses_to_write_an_empty_revision(project: Project) -> None:
    config = project.config()
    new(config, "initial")
    upgrade(config)
    with pytest.raises(EmptyMigrationError, match=r"No change detected.*--empty"):
        new(config, "nothing changed")
    assert len(list(project.versions.glob("*.py"))) == 1

    written = new(config, "data fix", allow_empty=True)
    assert "pass" in Path(written.path).read_text()
    blank = new(config, "by hand", autogenerate=False)
    assert blank.down_revisions == (written.revision,)


async def test_new_needs_the_database_at_head(project: Project) -> None:
    config = project.config()
    new(config, "initial")
    with pytest.raises(MigrationError, match=r"not up to date.*asqla migrations upgrade"):
        new(config, "second")


async def test_check_needs_the_database_at_head(project: Project) -> None:
    config = project.config()
    first = new(config, "initial")
    with pytest.raises(
        MigrationError, match=rf"at no revision, not at head \['{first.revision}'\]"
    ):
        check(config)


async def test_stamp_records_a_revision_without_running_it(project: Project) -> None:
    config = project.config()
    first = new(config, "initial")
    run = stamp(config, "head")
    assert run.after == (first.revision,) and run.applied == ()
    assert [info.revision for info in current(config)] == [first.revision]
    assert "note" not in await _tables(project.database_url)


@pytest.mark.backends("sqlite", "postgresql")
async def test_upgrade_sql_prints_the_script_and_runs_nothing(
    project: Project, backend: str
) -> None:
    config = project.config()
    new(config, "initial", autogenerate=False)
    project.write_revision(
        "b2",
        next(iter(heads(config))).revision,
        "op.create_table('t', sa.Column('id', sa.Integer))",
    )
    run = upgrade(config, sql=True)
    assert run.sql is not None and "CREATE TABLE t" in run.sql
    assert "alembic_version" in run.sql
    if backend == "postgresql":
        assert "SET lock_timeout = 5000" in run.sql
        assert "SET statement_timeout = 3600000" in run.sql
    assert current(config) == ()
    with pytest.raises(MigrationError, match="nothing to lock"):
        upgrade(config, sql=True, lock=True)


@pytest.mark.backends("sqlite")
def test_commands_say_what_is_missing(project: Project, tmp_path: pytest.TempPathFactory) -> None:
    config = load_config(project.root / "app", database=project.database_url)
    with pytest.raises(MigrationError, match=r"No migrations at .*asqla migrations init"):
        upgrade(config)
    (project.root / "pyproject.toml").write_text('[tool.asqla]\nmigrations = "migrations"\n')
    with pytest.raises(MigrationError, match=r'Autogenerate needs the models.*models = "app'):
        new(load_config(project.root, database=project.database_url), "x")
    with pytest.raises(MigrationError, match=r"Can't locate revision.*nope"):
        upgrade(project.config(), "nope")
