"""``upgrade --lock``: several processes start at once, and exactly one migrates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from asqla import Database
from asqla.migrations import MigrationLockError, upgrade_async
from asqla.migrations._lock import migration_lock

from ..conftest import MakeDatabase
from .conftest import Project

RACERS = 5
ASQLA = str(Path(sys.executable).with_name("asqla"))


async def test_upgrade_waits_for_the_lock_and_gives_up_after_lock_wait(
    project: Project, make_db: MakeDatabase, backend: str
) -> None:
    project.set_tool(migration_lock_wait=0.3)
    project.write_revision("r1", None, "op.create_table('t', sa.Column('id', sa.Integer))")
    config = project.config()
    holder, waiter = make_db(), make_db()
    async with holder.engine.connect() as connection, migration_lock(connection, wait=1):
        with pytest.raises(MigrationLockError, match=r"held the migration lock for 0.3s") as late:
            await upgrade_async(waiter, config=config, lock=True)
    if backend == "postgresql":
        assert "backend pid" in str(late.value)
    elif backend == "mysql":
        assert "connection id" in str(late.value)
    run = await upgrade_async(waiter, config=config, lock=True)
    assert run.after == ("r1",)


def _race(project: Project, database_url: str) -> list[subprocess.CompletedProcess[str]]:
    environment = {**os.environ, "DATABASE_URL": database_url}
    command = [ASQLA, "migrations", "upgrade", "--lock", "--format", "json"]
    racers = [
        subprocess.Popen(
            command,
            cwd=project.root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    finished = []
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=120)
        finished.append(subprocess.CompletedProcess(racer.args, racer.returncode, stdout, stderr))
    return finished


async def test_replicas_booting_at_once_migrate_exactly_once(
    project: Project, db: Database, database_url: str
) -> None:
    # The revision takes long enough for every other process to start and
    # find the lock taken; each records its pid, so a second run would show.
    project.write_revision(
        "r1",
        None,
        """
        op.create_table('boot', sa.Column('pid', sa.Integer, nullable=False))
        op.execute(f"INSERT INTO boot (pid) VALUES ({os.getpid()})")
        time.sleep(1.0)
        """,
        imports="import os\nimport time",
    )
    finished = _race(project, database_url)
    for racer in finished:
        assert racer.returncode == 0, racer.stderr
    documents = [json.loads(racer.stdout) for racer in finished]
    assert sorted(len(document["applied"]) for document in documents) == [0] * (RACERS - 1) + [1]
    assert {tuple(document["after"]) for document in documents} == {("r1",)}
    # The race did happen: some process found the lock taken and waited.
    assert any("another process is migrating" in racer.stderr for racer in finished)
    async with db.engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        boots = (await connection.execute(text("SELECT pid FROM boot"))).all()
    assert [tuple(row) for row in versions] == [("r1",)]
    assert len(boots) == 1
