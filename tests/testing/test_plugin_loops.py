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


REUSE = """
import pytest

{mark}

SEEN = []


async def driver_connection(session):
    return (await session.connection()).sync_connection.connection.driver_connection


@pytest.mark.parametrize("number", range(3))
async def test_connection(asqla_session, number):
    SEEN.append(await driver_connection(asqla_session))  # kept alive: ids stay unique
    assert len({{id(connection) for connection in SEEN}}) == {expected}, SEEN
"""


@pytest.mark.parametrize(
    ("ini", "mark", "expected"),
    [
        pytest.param(AUTO + '\nasyncio_default_test_loop_scope = "session"', "", 1, id="session"),
        pytest.param(
            STRICT, 'pytestmark = pytest.mark.asyncio(loop_scope="module")', 1, id="module"
        ),
        # A loop per test: a connection per test.
        pytest.param(AUTO, "", "len(SEEN)", id="function"),
    ],
)
def test_a_shared_loop_keeps_the_connection_from_test_to_test(
    make_project: Any, ini: str, mark: str, expected: object
) -> None:
    project = make_project(ini=ini + WARNINGS)
    project.write_tests(REUSE.format(mark=mark, expected=expected))

    result = project.run("-v")

    result.assert_outcomes(passed=3)


MIXED_MODULE = """
import pytest
from sqlalchemy import func, select

from app.models import Article

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_module_loop_writes(asqla_session):
    asqla_session.add(Article(title="m"))
    await asqla_session.commit()


async def test_module_loop_starts_empty(asqla_session):
    assert await asqla_session.scalar(select(func.count()).select_from(Article)) == 0
"""

MIXED_FUNCTION = """
import pytest
from sqlalchemy import func, select

from app.models import Article

pytestmark = pytest.mark.asyncio


async def test_function_loop_after_a_module_loop(asqla_session):
    assert await asqla_session.scalar(select(func.count()).select_from(Article)) == 0
"""


def test_module_loops_and_test_loops_mix(make_project: Any) -> None:
    # Each loop gets its own pool: a connection never crosses from one loop to another.
    project = make_project(ini=STRICT + WARNINGS)
    project.write_tests(MIXED_MODULE, name="test_a_module")
    project.write_tests(MIXED_FUNCTION, name="test_b_function")

    result = project.run("-v")

    output = result.stdout.str()
    assert "different loop" not in output
    assert "Event loop is closed" not in output
    result.assert_outcomes(passed=3)
