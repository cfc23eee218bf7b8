"""``upgrade --lock``: several processes start at once, and exactly one migrates."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
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


async def _race(
    project: Project, database_url: str, holder: Database, tmp_path: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Start the racers while ``holder`` holds the lock; let go once every one waits.

    Without this, a loaded machine can start the processes so slowly that
    each finds the work done and no race happens at all.
    """
    environment = {**os.environ, "DATABASE_URL": database_url}
    command = [ASQLA, "migrations", "upgrade", "--lock", "--format", "json"]
    errors = [tmp_path / f"racer{index}.err" for index in range(RACERS)]
    async with holder.engine.connect() as connection, migration_lock(connection, wait=5):
        racers = []
        for path in errors:
            with path.open("w") as stderr:
                racers.append(
                    subprocess.Popen(
                        command,
                        cwd=project.root,
                        env=environment,
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                    )
                )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            waiting = [p for p in errors if "another process is migrating" in p.read_text()]
            if len(waiting) == RACERS or any(r.poll() is not None for r in racers):
                break
            await asyncio.sleep(0.1)
    finished = []
    for racer, path in zip(racers, errors, strict=True):
        stdout, _ = await asyncio.to_thread(racer.communicate, timeout=120)
        stderr = path.read_text()
        finished.append(subprocess.CompletedProcess(racer.args, racer.returncode, stdout, stderr))
    return finished


async def test_replicas_booting_at_once_migrate_exactly_once(
    project: Project, db: Database, make_db: MakeDatabase, database_url: str, tmp_path: Path
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
    finished = await _race(project, database_url, make_db(), tmp_path)
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
