"""The generated env.py under asyncio, and the traps it must not fall into."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from asqla import Database
from asqla.migrations import (
    EmptyMigrationError,
    MigrationError,
    check,
    current,
    load_config,
    new,
    upgrade,
    upgrade_async,
)

from ..conftest import MakeDatabase
from .conftest import MODELS_WITH_BODY, Project

CREATE_T = "op.create_table('t', sa.Column('id', sa.Integer, primary_key=True))"


async def _scalar(db: Database, sql: str) -> object:
    async with db.engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def test_upgrade_async_runs_in_the_running_event_loop(project: Project, db: Database) -> None:
    project.write_revision("r1", None, CREATE_T, "op.drop_table('t')")
    run = await upgrade_async(db, config=project.config())
    assert run.after == ("r1",)
    assert [step.revision for step in run.applied] == ["r1"]
    assert await _scalar(db, "SELECT version_num FROM alembic_version") == "r1"


async def test_a_plain_alembic_command_works_inside_a_running_loop(
    project: Project, db: Database
) -> None:
    # Alembic's own async template calls asyncio.run() in env.py, which
    # raises "cannot be called from a running event loop" here.
    project.write_revision("r1", None, CREATE_T)
    command.upgrade(project.config(), "head")
    assert await _scalar(db, "SELECT version_num FROM alembic_version") == "r1"


async def test_statements_before_configure_are_not_rolled_back(
    project: Project, db: Database
) -> None:
    # A statement on the connection before context.configure() begins a
    # transaction; Alembic then treats it as the caller's, commits nothing,
    # and autocommit_block() fails on an assertion.
    project.write_env(
        """
        from alembic import context
        from sqlalchemy import text

        from asqla.migrations import run_env

        connection = context.config.attributes.get("connection")
        if connection is not None:
            connection.execute(text("SELECT 1"))
        run_env(context)
        """
    )
    project.write_revision(
        "r1",
        None,
        f"{CREATE_T}\nwith op.get_context().autocommit_block():\n    op.execute('SELECT 1')",
    )
    await upgrade_async(db, config=project.config())
    other = Database(db.settings)
    try:
        assert await _scalar(other, "SELECT version_num FROM alembic_version") == "r1"
        assert await _scalar(other, "SELECT COUNT(*) FROM t") == 0
    finally:
        await other.dispose()


async def test_a_hook_that_drops_empty_revisions_does_not_break_check(project: Project) -> None:
    # Alembic's cookbook recipe "Don't Generate Empty Migrations with
    # Autogenerate" makes `alembic check` fail with IndexError when there
    # is no change: check reads the revision the hook removed.
    project.write_env(
        """
        from alembic import context

        from asqla.migrations import run_env


        def drop_empty(context, revision, directives):
            if directives and directives[0].upgrade_ops.is_empty():
                directives[:] = []


        run_env(context, process_revision_directives=drop_empty)
        """
    )
    config = project.config()
    new(config, "initial")
    upgrade(config)
    assert check(config).ok
    with pytest.raises(EmptyMigrationError):
        new(config, "nothing")
    project.write_models(MODELS_WITH_BODY)
    assert [d.operation for d in check(config).differences] == ["add_column"]


@pytest.mark.backends("postgresql", "mysql")
async def test_a_percent_in_the_password_reaches_the_driver(
    project: Project, backend: str, database_url: str, run_admin: object
) -> None:
    # configparser reads "%4" as the start of an interpolation: a URL-encoded
    # password put into alembic.ini or Config's main options breaks.
    password = "p%4@ss%"
    url = make_url(database_url)
    if backend == "mysql":
        admin = Database(database_url)
        try:
            async with admin.engine.begin() as connection:
                await connection.execute(text("DROP USER IF EXISTS 'asqla_pct'@'%'"))
                await connection.execute(
                    text("CREATE USER 'asqla_pct'@'%' IDENTIFIED BY :password"),
                    {"password": password},
                )
                await connection.execute(
                    text(f"GRANT ALL ON `{url.database}`.* TO 'asqla_pct'@'%'")
                )
        finally:
            await admin.dispose()
        url = url.set(username="asqla_pct")
    rendered = url.render_as_string(hide_password=False).replace(
        "://" + (url.username or ""), f"://{url.username}:{quote_plus(password)}", 1
    )
    assert "%25" in rendered
    project.write_revision("r1", None, CREATE_T)
    config = load_config(project.root, database=rendered)
    try:
        assert upgrade(config).after == ("r1",)
        assert all(password not in value for value in config.file_config.defaults().values())
        assert upgrade(load_config(project.root, database=rendered), sql=True).sql
    finally:
        if backend == "mysql":
            admin = Database(database_url)
            try:
                async with admin.engine.begin() as connection:
                    await connection.execute(text("DROP USER 'asqla_pct'@'%'"))
            finally:
                await admin.dispose()


async def test_a_failed_revision_leaves_the_ones_before_it_applied(project: Project) -> None:
    project.write_revision("r1", None, CREATE_T)
    project.write_revision("r2", "r1", "op.execute('SELECT * FROM no_such_table')")
    config = project.config()
    with pytest.raises(
        MigrationError, match=r"failed on the database after 1 revision\(s\) were applied"
    ) as failed:
        upgrade(config)
    assert "no_such_table" in str(failed.value)
    assert [info.revision for info in current(config)] == ["r1"]


@pytest.mark.backends("postgresql", "mysql")
async def test_migrations_run_with_their_timeouts_and_leave_the_pool_as_it_was(
    project: Project, make_db: MakeDatabase, backend: str
) -> None:
    project.set_tool(migration_lock_timeout=2, migration_statement_timeout=120)
    setting = "lock_timeout" if backend == "postgresql" else "@@session.lock_wait_timeout"
    read = (
        f"SELECT current_setting('{setting}')" if backend == "postgresql" else f"SELECT {setting}"
    )
    project.write_revision(
        "r1",
        None,
        f"""
        op.create_table('t', sa.Column('value', sa.String(40)))
        op.execute("INSERT INTO t (value) {read}")
        """,
    )
    db = make_db(pool_size=1, max_overflow=0)
    before = await _scalar(db, read)
    await upgrade_async(db, config=project.config())
    assert await _scalar(db, "SELECT value FROM t") == ("2s" if backend == "postgresql" else "2")
    assert await _scalar(db, read) == before


@pytest.mark.backends("postgresql", "mysql")
async def test_a_ddl_statement_waits_lock_timeout_then_fails(
    project: Project, db: Database
) -> None:
    # A long transaction holds a lock on the table: the ALTER must give up
    # after lock_timeout, not queue (and block every query behind it) for ever.
    project.set_tool(migration_lock_timeout=1)
    project.write_revision("r1", None, CREATE_T)
    project.write_revision("r2", "r1", "op.add_column('t', sa.Column('x', sa.Integer))")
    config = project.config()
    upgrade(config, "r1")
    async with db.engine.connect() as holder:
        await holder.execute(text("SELECT * FROM t"))  # holds a shared lock until rollback
        with pytest.raises(MigrationError, match=r"(?i)lock.*timeout|timeout.*lock") as failed:
            await upgrade_async(db, config=config)
        await holder.rollback()
    assert "migration_lock_timeout" in str(failed.value)
    assert [info.revision for info in current(config)] == ["r1"]


@pytest.mark.backends("sqlite")
async def test_sqlite_table_rebuilds_do_not_cascade_to_referencing_rows(
    project: Project, db: Database
) -> None:
    # Batch mode rebuilds a table: create a copy, DROP the original, rename.
    # With foreign keys on, the DROP deletes every row that refers to it
    # (ON DELETE CASCADE), so migrations run with them off.
    project.write_revision(
        "r1",
        None,
        """
        op.create_table('parent', sa.Column('id', sa.Integer, primary_key=True),
                        sa.Column('name', sa.String(10)))
        op.create_table('child', sa.Column('id', sa.Integer, primary_key=True),
                        sa.Column('parent_id', sa.Integer,
                                  sa.ForeignKey('parent.id', ondelete='CASCADE')))
        op.execute("INSERT INTO parent (id, name) VALUES (1, 'a')")
        op.execute("INSERT INTO child (id, parent_id) VALUES (1, 1)")
        """,
    )
    project.write_revision(
        "r2",
        "r1",
        """
        with op.batch_alter_table('parent', recreate='always') as batch:
            batch.alter_column('name', type_=sa.String(50))
        """,
    )
    await upgrade_async(db, config=project.config())
    assert await _scalar(db, "SELECT COUNT(*) FROM child") == 1
    assert await _scalar(db, "PRAGMA foreign_keys") == 1


@pytest.mark.backends("sqlite")
async def test_sqlite_rows_left_pointing_nowhere_fail_the_upgrade(
    project: Project, db: Database
) -> None:
    project.write_revision(
        "r1",
        None,
        """
        op.create_table('parent', sa.Column('id', sa.Integer, primary_key=True))
        op.create_table('child', sa.Column('id', sa.Integer, primary_key=True),
                        sa.Column('parent_id', sa.Integer, sa.ForeignKey('parent.id')))
        op.execute("INSERT INTO child (id, parent_id) VALUES (1, 42)")
        """,
    )
    with pytest.raises(
        MigrationError, match=r"1 row\(s\) whose foreign key points to no row.*'child'"
    ):
        await upgrade_async(db, config=project.config())


@pytest.mark.backends("postgresql")
async def test_a_statement_past_the_statement_timeout_fails_with_the_setting_named(
    project: Project, db: Database
) -> None:
    project.set_tool(migration_statement_timeout=0.2)
    project.write_revision("r1", None, "op.execute('SELECT pg_sleep(5)')")
    with pytest.raises(MigrationError, match=r"longer than migration_statement_timeout"):
        await upgrade_async(db, config=project.config())
