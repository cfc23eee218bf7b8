"""With pytest-xdist, each worker gets its own database, and every one is dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

pytest.importorskip("xdist")

TESTS = """
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.models import Article


@pytest.mark.parametrize("n", range(12))
async def test_commit_then_count(n, asqla_session, asqla_database_url):
    name = make_url(asqla_database_url).database
    worker = os.environ["PYTEST_XDIST_WORKER"]
    (Path({seen!r}) / uuid.uuid4().hex).write_text(f"{{worker}} {{name}}")
    asqla_session.add(Article(title=f"article {{n}}"))
    await asqla_session.commit()
    assert await asqla_session.scalar(select(func.count()).select_from(Article)) == 1
"""


async def _exists(server_url: str, backend: str, name: str) -> bool:
    if backend == "sqlite":
        return Path(name).exists()
    if backend == "postgresql":
        query, url = "SELECT count(*) FROM pg_database WHERE datname = :name", server_url
    else:
        query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :name"
        url = server_url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return bool(await connection.scalar(text(query), {"name": name}))
    finally:
        await engine.dispose()


async def test_two_workers_two_databases_both_dropped(
    make_project: Any, backend: str, database_url: str, tmp_path: Path
) -> None:
    project = make_project()
    seen = tmp_path / "seen"
    seen.mkdir()
    project.write_tests(TESTS.format(seen=str(seen)))
    result = project.run("-n", "2")
    result.assert_outcomes(passed=12)
    runs = {tuple(path.read_text().split(" ", 1)) for path in seen.iterdir()}
    workers = {worker for worker, _ in runs}
    names = {name for _, name in runs}
    assert workers == {"gw0", "gw1"}
    assert len(names) == 2
    # SQLite: a file in each worker's temporary directory.
    stems = {(worker, Path(name).stem) for worker, name in runs}
    assert all(stem.endswith(f"_{worker}") for worker, stem in stems)
    # One run id for both workers: the names differ only in the worker id.
    assert len({stem.rsplit("_", 1)[0] for _, stem in stems}) == 1
    server = make_url(database_url)
    if backend == "postgresql":
        server = server.set(database="postgres")
    for name in names:
        assert not await _exists(server.render_as_string(hide_password=False), backend, name)
