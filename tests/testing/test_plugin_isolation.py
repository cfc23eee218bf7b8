"""Every test starts from the same state, whatever the code under test committed."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import DEVELOPMENT_DATABASE

ISOLATION = """
from sqlalchemy import func, select

from app.db import db
from app.models import Article


async def count(session):
    return await session.scalar(select(func.count()).select_from(Article))


async def test_1_commit_in_the_test_session(asqla_session):
    asqla_session.add(Article(title="committed"))
    await asqla_session.commit()
    assert await count(asqla_session) == 1


async def test_2_is_gone(asqla_session):
    assert await count(asqla_session) == 0


async def test_3_commit_through_the_application_database(asqla_session, asqla_database):
    async with db.session() as session:  # the app's own Database object, bound to the test
        session.add(Article(title="through db.session()"))
    assert await count(asqla_session) == 1


async def test_4_is_gone(asqla_session):
    assert await count(asqla_session) == 0


async def test_5_code_under_test_rolls_back(asqla_session, asqla_database):
    asqla_session.add(Article(title="kept"))
    await asqla_session.commit()
    async with db.session() as session:
        session.add(Article(title="undone"))
        await session.flush()
        await session.rollback()
        session.add(Article(title="after the rollback"))
    async with db.read_session() as reader:
        assert await count(reader) == 2
    assert await count(asqla_session) == 2


async def test_6_is_gone(asqla_database):
    async with asqla_database.session() as session:
        assert await count(session) == 0
"""

CLIENT = """
from sqlalchemy import func, select

from app.models import Article


async def count(session):
    return await session.scalar(select(func.count()).select_from(Article))


async def test_1_requests_commit_like_in_production(asqla_client, asqla_session):
    created = await asqla_client.post("/articles", json={"title": "a"})
    assert created.status_code == 201, created.text
    assert await count(asqla_session) == 1
    duplicate = await asqla_client.post("/articles", json={"title": "a"})
    assert duplicate.status_code == 409, duplicate.text
    missing = await asqla_client.get("/articles/999")  # ReadSession, HTTPException
    assert missing.status_code == 404
    failed = await asqla_client.post("/articles/fail", json={"title": "b"})
    assert failed.status_code == 422
    assert (await asqla_client.get("/articles")).json() == ["a"]
    both = await asqla_client.post("/articles/both", json={"title": "c"})
    assert both.json() == {"before": 1, "after": 2}, both.text
    assert (await asqla_client.get("/articles")).json() == ["a", "c"]
    assert await count(asqla_session) == 2


async def test_2_data_set_up_in_the_test_reaches_the_app(asqla_client, asqla_session):
    asqla_session.add(Article(title="from the test"))
    await asqla_session.commit()
    # A ReadSession that ends with an error must not roll back the test's data.
    assert (await asqla_client.get("/articles/999")).status_code == 404
    assert (await asqla_client.get("/articles")).json() == ["from the test"]


async def test_3_is_gone(asqla_client):
    assert (await asqla_client.get("/articles")).json() == []


async def test_4_lifespan_ran_with_its_state(asqla_client):
    assert (await asqla_client.get("/greeting")).json() == "hello"


def test_5_lifespan_ran_once_per_client():
    from app.main import started

    assert started == [True, True, True, True]


def test_6_database_url_names_the_test_database(asqla_database_url):
    import os

    from sqlalchemy.engine import make_url

    from app.db import db

    assert os.environ["DATABASE_URL"] == asqla_database_url
    test_database = make_url(asqla_database_url).database
    assert make_url(db.settings.url.get_secret_value()).database == test_database
"""


def test_a_row_committed_in_one_test_is_absent_in_the_next(make_project: Any) -> None:
    project = make_project()
    project.write_tests(ISOLATION)
    result = project.run("-v")
    result.assert_outcomes(passed=6)


def test_the_app_commits_through_its_dependencies_and_is_rolled_back(
    make_project: Any,
) -> None:
    project = make_project()
    project.write_tests(CLIENT)
    result = project.run("-v")
    result.assert_outcomes(passed=6)
    # The developer's database was never opened: the tests ran on theirs.
    assert not (project.pytester.path / DEVELOPMENT_DATABASE).exists()


@pytest.mark.backends("postgresql")
def test_tests_that_use_no_asqla_fixture_never_connect(make_project: Any) -> None:
    project = make_project()
    project.write_tests("def test_plain():\n    assert True\n")
    # Nothing listens on port 1: a connection attempt would fail the run.
    result = project.run("-v", url="postgresql://postgres:s3cret@127.0.0.1:1/app")
    result.assert_outcomes(passed=1)
    header = "asqla: tests that use asqla_* fixtures run on new databases on "
    assert header + "postgresql://postgres:***@127.0.0.1:1/app" in result.stdout.str()
    assert "s3cret" not in result.stdout.str()
