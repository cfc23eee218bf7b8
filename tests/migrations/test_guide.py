"""The zero-downtime recipes of docs/migrations.md run on PostgreSQL, and lint clean.

Each recipe is split into revisions at ``# --- next migration`` and applied,
after a first revision that creates the tables they alter and fills them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asqla import Database
from asqla.migrations import upgrade_async
from asqla.migrations.lint import lint_migrations

from ..test_docs import ROOT, Block, extract_blocks
from .conftest import Project

GUIDE = ROOT / "docs" / "migrations.md"
RECIPES = [
    block
    for block in extract_blocks(GUIDE.read_text())
    if block.no_run is not None and "test_guide.py" in block.no_run
]

SCHEMA = """
op.execute("CREATE TYPE user_status AS ENUM ('active')")
op.create_table("organizations", sa.Column("id", sa.BigInteger, primary_key=True))
op.create_table(
    "users",
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("email", sa.String(100), nullable=True),
    sa.Column("organization_id", sa.BigInteger, nullable=True),
    sa.Column("status", postgresql.ENUM(name="user_status", create_type=False)),
)
op.execute("INSERT INTO organizations (id) VALUES (1)")
op.execute(
    "INSERT INTO users (id, email, organization_id, status) "
    "SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'user' || g || '@example.com' END, 1, "
    "'active' FROM generate_series(1, 12000) AS g"
)
"""


def test_the_guide_has_recipes() -> None:
    assert len(RECIPES) >= 8


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize(
    "recipe", [pytest.param(block, id=f"line-{block.line}") for block in RECIPES]
)
async def test_a_recipe_runs_and_lints_clean(recipe: Block, project: Project, db: Database) -> None:
    project.write_revision("r0", None, SCHEMA, imports="from sqlalchemy.dialects import postgresql")
    parts = re.split(r"^# --- next migration.*$", recipe.code, flags=re.MULTILINE)
    written: list[Path] = []
    previous = "r0"
    for index, part in enumerate(parts, start=1):
        revision = f"r{index}"
        written.append(project.write_revision(revision, previous, part))
        previous = revision

    report = lint_migrations(written, dialect="postgresql", server_version="15")
    errors = [f for f in report.findings if f.severity == "error"]
    assert [f"{f.rule} line {f.line}: {f.message}" for f in errors] == []

    run = await upgrade_async(db, config=project.config())
    assert run.after == (previous,)
    async with db.engine.connect() as connection:
        count = await connection.exec_driver_sql("SELECT COUNT(*) FROM users")
        assert count.scalar() == 12000
