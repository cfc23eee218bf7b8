"""The query budget fixture, and the plugin's messages when the project is not described."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import DEVELOPMENT_DATABASE

NO_ASQLA_TABLE = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["error"]
"""

BUDGET = """
async def test_within_budget(asqla_client, asqla_max_queries):
    # SAVEPOINT and RELEASE around the request's unit of work are not counted.
    with asqla_max_queries(1):
        assert (await asqla_client.post("/articles", json={"title": "a"})).status_code == 201
    with asqla_max_queries(1):
        assert (await asqla_client.get("/articles")).json() == ["a"]


async def test_over_budget(asqla_client, asqla_max_queries):
    await asqla_client.post("/articles", json={"title": "a"})
    with asqla_max_queries(1):
        await asqla_client.get("/articles")
        await asqla_client.get("/articles/1")
"""


def test_the_budget_fails_with_the_statements(make_project: Any) -> None:
    project = make_project()
    project.write_tests(BUDGET)
    result = project.run("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_over_budget FAILED*",
            "*2 statements ran, over the budget of 1 (transaction control not counted):",
            "*1. *SELECT article.title*FROM article*",
            "*2. *SELECT article.id, article.title*FROM article*",
        ]
    )


@pytest.mark.backends("sqlite")
def test_a_missing_app_is_explained(make_project: Any) -> None:
    project = make_project(pyproject=NO_ASQLA_TABLE)
    project.write_tests("async def test_client(asqla_client):\n    pass\n")
    result = project.run()
    result.assert_outcomes(errors=1)
    assert (
        'asqla_client needs the app: set app = "package.module:app" under [tool.asqla] in '
        "pyproject.toml, or override the asqla_app fixture in conftest.py."
    ) in result.stdout.str()


@pytest.mark.backends("sqlite")
def test_fixtures_can_be_overridden_for_an_app_factory(make_project: Any) -> None:
    project = make_project(pyproject=NO_ASQLA_TABLE)
    project.pytester.makeconftest(
        """
        import pytest

        from app.main import app
        from app.models import Base


        @pytest.fixture(scope="session")
        def asqla_metadata():
            return Base.metadata


        @pytest.fixture
        def asqla_app():
            return app
        """
    )
    project.write_tests(
        """
        async def test_client(asqla_client):
            assert (await asqla_client.post("/articles", json={"title": "a"})).status_code == 201
            assert (await asqla_client.get("/articles")).json() == ["a"]
        """
    )
    project.run().assert_outcomes(passed=1)
    # Found through the app's unit-of-work middleware, the app's Database was bound.
    assert not (project.pytester.path / DEVELOPMENT_DATABASE).exists()


REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "article",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False, unique=True),
    )
    op.create_table("only_in_the_migrations", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("only_in_the_migrations")
    op.drop_table("article")
"""

MIGRATED = """
from sqlalchemy import inspect


async def test_the_schema_is_the_migrations(asqla_session, asqla_client):
    connection = await asqla_session.connection()
    tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"article", "only_in_the_migrations", "alembic_version"} <= tables
    assert (await asqla_client.post("/articles", json={"title": "a"})).status_code == 201
"""


def test_the_schema_comes_from_the_migrations_when_there_are_some(make_project: Any) -> None:
    pytest.importorskip("alembic")
    from asqla.migrations import init

    project = make_project()
    init("migrations", project=project.pytester.path)
    versions = project.pytester.path / "migrations" / "versions"
    (versions / "0001_first.py").write_text(REVISION.lstrip())
    project.write_tests(MIGRATED)
    project.run("-v").assert_outcomes(passed=1)
