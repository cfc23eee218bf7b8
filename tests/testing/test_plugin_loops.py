"""The fixtures work whichever plugin runs the test, and in whichever event loop.

The failures this guards against are "attached to a different loop" (a
connection opened in one loop, used in another) and "Event loop is closed"
(one closed after its loop ended). Both show with asyncpg and asyncmy; the
projects run with ``filterwarnings = error``, so that a connection left to
the garbage collector fails the run as well.
"""

from __future__ import annotations

from typing import Any

import pytest

TESTS = """
import pytest
from sqlalchemy import func, select

from app.models import Article

{mark}


async def count(session):
    return await session.scalar(select(func.count()).select_from(Article))


async def test_1_writes_through_the_app(asqla_client, asqla_session):
    assert (await asqla_client.post("/articles", json={{"title": "a"}})).status_code == 201
    asqla_session.add(Article(title="b"))
    await asqla_session.commit()
    assert (await asqla_client.get("/articles")).json() == ["a", "b"]


async def test_2_starts_empty_in_its_own_loop(asqla_client, asqla_session):
    assert await count(asqla_session) == 0
    assert (await asqla_client.get("/articles")).json() == []


async def test_3_again(asqla_client, asqla_database):
    async with asqla_database.session() as session:
        session.add(Article(title="c"))
    assert (await asqla_client.get("/articles")).json() == ["c"]
"""

AUTO = 'asyncio_mode = "auto"\nasyncio_default_fixture_loop_scope = "function"'
STRICT = 'asyncio_mode = "strict"\nasyncio_default_fixture_loop_scope = "function"'
WARNINGS = '\nfilterwarnings = ["error"]'

CONFIGURATIONS = [
    pytest.param(AUTO, "", id="pytest-asyncio-auto"),
    pytest.param(STRICT, "pytestmark = pytest.mark.asyncio", id="pytest-asyncio-strict"),
    pytest.param(
        # Tests share one loop for the session while fixtures default to a
        # loop per test: the plugin follows the test's loop.
        AUTO + '\nasyncio_default_test_loop_scope = "session"',
        "",
        id="pytest-asyncio-session-loop",
    ),
    pytest.param(
        STRICT,
        'pytestmark = pytest.mark.asyncio(loop_scope="module")',
        id="pytest-asyncio-module-loop",
    ),
    pytest.param(STRICT, "pytestmark = pytest.mark.anyio", id="anyio"),
    pytest.param(
        # pytest-asyncio's auto mode takes anyio tests over; anyio's fixture
        # hook would still run async fixtures in its own loop.
        AUTO,
        "pytestmark = pytest.mark.anyio",
        id="anyio-under-pytest-asyncio-auto",
    ),
]


@pytest.mark.parametrize(("ini", "mark"), CONFIGURATIONS)
def test_fixtures_run_in_the_tests_loop(make_project: Any, ini: str, mark: str) -> None:
    project = make_project(ini=ini + WARNINGS)
    project.write_tests(TESTS.format(mark=mark))
    result = project.run("-v")
    output = result.stdout.str()
    assert "different loop" not in output
    assert "Event loop is closed" not in output
    result.assert_outcomes(passed=3)


@pytest.mark.backends("sqlite")
def test_a_test_on_trio_is_skipped_with_the_reason(make_project: Any) -> None:
    project = make_project(ini=STRICT + WARNINGS)
    project.write_tests(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"

        @pytest.mark.anyio
        async def test_needs_asyncio(asqla_session):
            pass
        """
    )
    result = project.run("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs asyncio*this test runs on anyio's 'trio' backend*"])
