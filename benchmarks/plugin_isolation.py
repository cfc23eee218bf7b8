"""What a test costs under asqla's pytest plugin, next to create_all per test and truncate per test.

Run from the repository root::

    .venv/bin/python benchmarks/plugin_isolation.py [--tests N] [--rounds R]
        [--backends sqlite,postgresql,mysql] [--loop-scope function|session]

The script writes a small project into a temporary directory: ``app/models.py`` (``Parent``
and ``Child``, a foreign key between them), ``app/db.py`` (``db = Database()``, an asqla
``Database`` that reads ``DATABASE_URL``), a ``pyproject.toml`` with ``[tool.asqla]``
(``database = "app.db:db"``, ``models = "app.models:Base"``) and pytest-asyncio in auto mode
with a loop per test, as docs/testing.md sets it up. Then ``--tests`` generated tests (200) in
three variants that do the same work: insert a parent and 3 children through an
``AsyncSession``, commit, count both tables and assert exactly 1 and 3, which fails as soon as
a test sees rows another test left. The variants differ in how each test gets a clean database:

- ``asqla``: the plugin's ``asqla_session``: one database per run, schema from the models,
  each test in an outer transaction rolled back at its end (the commit releases a savepoint);
- ``create_all``: the tutorial fixture: ``metadata.create_all`` before each test and
  ``drop_all`` after it, on a database the script created;
- ``truncate``: the schema created once per run (a session-scoped fixture), and after each
  test ``TRUNCATE child, parent RESTART IDENTITY CASCADE`` on PostgreSQL, ``DELETE FROM`` each
  table (children first) on SQLite and MariaDB.

The two alternatives take their sessions from the same ``Database`` (``db.sessionmaker()``,
asqla's ``AsyncSession``) and dispose its engine after each test, as they must when each test
has its own event loop; they run with ``-p no:asqla``, as in a project without the plugin.
``--loop-scope session`` runs every test and fixture in one event loop instead: the
alternatives then keep their pool from test to test (the plugin opens a connection per test
whatever the loop scope).

Each variant runs as ``pytest -q -p no:cacheprovider`` in a subprocess of the repository's
venv. A conftest of the project records pytest's own duration of each test's setup, call and
teardown to a JSON file, so interpreter start-up and collection are not counted. Per run: the
median test (setup + call + teardown), and the mean (the total over the tests / N, which also
carries what runs once per run: the plugin's CREATE DATABASE and schema, the truncate
variant's create_all). Every run must pass all N tests; a failure aborts the benchmark with
pytest's output. Before timing, each backend checks that the assertion catches a leak: two
tests without any cleanup must fail the second.

Per backend, an untimed warm-up of each variant (5 tests), then ``--rounds`` rounds in which
the variants take turns, in an order that reverses every other round. The table shows the
median of the rounds and, against asqla, the median and range of the per-round ratios.

Backends: SQLite (files in a temporary directory) always; PostgreSQL and MariaDB/MySQL at
``--postgresql`` / ``--mysql`` if they answer (a skipped server is said so), each in a
database ``asqla_bench_<random>`` (the plugin creates its own ``test_asqla_bench_...``
beside it) that is dropped at the end, also on an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

VARIANTS = ("asqla", "create_all", "truncate")
BACKENDS = ("sqlite", "postgresql", "mysql")
SERVERS = {
    "postgresql": os.environ.get(
        "ASQLA_BENCH_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("ASQLA_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/"),
}
DISTRIBUTIONS = ("pytest", "pytest-asyncio", "sqlalchemy", "asyncpg", "asyncmy", "aiosqlite")
WARM_UP_TESTS = 5
PYTEST = Path(sys.executable).with_name("pytest")
console = Console(highlight=False, width=140, soft_wrap=True)


# -- the throwaway project -----------------------------------------------------------------

PYPROJECT = """
[tool.asqla]
database = "app.db:db"
models = "app.models:Base"

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["--import-mode=importlib"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "{loop_scope}"
asyncio_default_test_loop_scope = "{loop_scope}"
"""

MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    children: Mapped[list["Child"]] = relationship(back_populates="parent")


class Child(Base):
    __tablename__ = "child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    parent: Mapped[Parent] = relationship(back_populates="children")
"""

DB = """
from asqla import Database

db = Database()  # DATABASE_URL
"""

# pytest's own durations of each phase, so that start-up and collection are not counted.
TIMING_CONFTEST = """
import json
import os

phases = {}


def pytest_runtest_logreport(report):
    phases.setdefault(report.nodeid, {})[report.when] = [report.duration, report.outcome]


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["BENCH_TIMINGS"], "w") as file:
        json.dump(phases, file)
"""

CREATE_ALL_CONFTEST = """
import pytest

from app.db import db
from app.models import Base


@pytest.fixture
async def session():
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        async with db.sessionmaker() as session:
            yield session
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
        {dispose}
"""

SCHEMA_ONCE = """
import pytest
import pytest_asyncio
from sqlalchemy import text

from app.db import db
from app.models import Base

if db.engine.dialect.name == "postgresql":
    CLEANUP = ["TRUNCATE child, parent RESTART IDENTITY CASCADE"]
else:
    # MariaDB refuses to TRUNCATE a table that a foreign key references, and
    # SQLite has no TRUNCATE.
    CLEANUP = ["DELETE FROM child", "DELETE FROM parent"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def schema():
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await db.dispose()
    yield
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
    await db.dispose()
"""

TRUNCATE_CONFTEST = (
    SCHEMA_ONCE
    + """

@pytest.fixture
async def session(schema):
    try:
        async with db.sessionmaker() as session:
            yield session
    finally:
        async with db.engine.begin() as connection:
            for statement in CLEANUP:
                await connection.execute(text(statement))
        {dispose}
"""
)

# The check that the assertion catches a leak: the same tests, nothing cleaned up.
NO_ISOLATION_CONFTEST = (
    SCHEMA_ONCE
    + """

@pytest.fixture
async def session(schema):
    async with db.sessionmaker() as session:
        yield session
    {dispose}
"""
)

TESTS_HEADER = """
from sqlalchemy import func, select

from app.models import Child, Parent


async def insert_and_count(session, number):
    children = [Child(name=f"child {number}.{index}") for index in range(3)]
    session.add(Parent(name=f"parent {number}", children=children))
    await session.commit()
    parents = await session.scalar(select(func.count()).select_from(Parent))
    children = await session.scalar(select(func.count()).select_from(Child))
    # Exactly what this test inserted: a row that another test left makes these larger.
    assert (parents, children) == (1, 3)
"""

TEST = """

async def test_{number:04d}({fixture}):
    await insert_and_count({fixture}, {number})
"""

CONFTESTS = {
    "asqla": None,
    "create_all": CREATE_ALL_CONFTEST,
    "truncate": TRUNCATE_CONFTEST,
    "no_isolation": NO_ISOLATION_CONFTEST,
}


def write_project(root: Path, tests: int, loop_scope: str) -> None:
    # With a loop per test, a connection cannot outlive its test: the pool is emptied.
    dispose = "await db.dispose()  # the next test runs in another event loop"
    if loop_scope != "function":
        dispose = "pass  # one event loop for the run: the pool is kept from test to test"
    files = {
        "pyproject.toml": PYPROJECT.format(loop_scope=loop_scope),
        "conftest.py": TIMING_CONFTEST,
        "app/__init__.py": "",
        "app/models.py": MODELS,
        "app/db.py": DB,
    }
    for variant, conftest in CONFTESTS.items():
        fixture = "asqla_session" if variant == "asqla" else "session"
        body = "".join(TEST.format(number=n, fixture=fixture) for n in range(1, tests + 1))
        files[f"tests_{variant}/test_{variant}.py"] = TESTS_HEADER + body
        if conftest is not None:
            files[f"tests_{variant}/conftest.py"] = conftest.format(dispose=dispose)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip(), encoding="utf-8")


# -- one pytest run ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One pytest run: pytest's durations of each test, in seconds, and the run's wall time."""

    setup: list[float]
    call: list[float]
    teardown: list[float]
    wall: float

    @property
    def totals(self) -> list[float]:
        return [sum(phases) for phases in zip(self.setup, self.call, self.teardown, strict=True)]

    @property
    def median(self) -> float:
        return statistics.median(self.totals)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.totals)


class Failed(Exception):
    """A pytest run did not end as expected; the message carries its output."""


def run_pytest(
    project: Path, variant: str, url: str, tests: list[int]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], float]:
    """Run ``tests`` (numbers) of ``variant``; return the process, the durations and the wall."""
    module = f"tests_{variant}/test_{variant}.py"
    targets = [f"{module}::test_{number:04d}" for number in tests]
    timings = project / "timings.json"
    timings.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ASQLA_"))}
    env |= {"DATABASE_URL": url, "BENCH_TIMINGS": str(timings)}
    command = [str(PYTEST), "-q", "-p", "no:cacheprovider"]
    if variant != "asqla":
        command += ["-p", "no:asqla"]  # as in a project without the plugin
    started = time.perf_counter()
    process = subprocess.run(
        [*command, *targets], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    phases = json.loads(timings.read_text()) if timings.exists() else {}
    return process, phases, wall


def timed_run(project: Path, variant: str, url: str, tests: int) -> Run:
    """Run ``tests`` tests of ``variant``; raise Failed unless every one of them passed."""
    process, phases, wall = run_pytest(project, variant, url, list(range(1, tests + 1)))
    passed = [
        node
        for node, by_phase in phases.items()
        if set(by_phase) == {"setup", "call", "teardown"}
        and all(outcome == "passed" for _, outcome in by_phase.values())
    ]
    if process.returncode != 0 or len(passed) != tests:
        raise Failed(
            f"{variant}: {len(passed)} of {tests} tests passed (pytest exit code "
            f"{process.returncode}):\n{process.stdout}{process.stderr}"
        )
    durations = {when: [phases[node][when][0] for node in passed] for when in phases[passed[0]]}
    return Run(durations["setup"], durations["call"], durations["teardown"], wall)


def check_leak_detected(project: Path, url: str) -> None:
    """Two tests without any cleanup: the second must fail, or the check could never fail."""
    process, phases, _ = run_pytest(project, "no_isolation", url, [1, 2])
    outcomes = [
        phases.get(f"tests_no_isolation/test_no_isolation.py::test_{n:04d}", {}) for n in (1, 2)
    ]
    first, second = (by_phase.get("call", [0, "missing"])[1] for by_phase in outcomes)
    if (first, second) != ("passed", "failed") or "assert (2, 6) == (1, 3)" not in process.stdout:
        raise Failed(
            "without any cleanup the second test should fail on (2, 6) == (1, 3), but the "
            f"calls ended {first!r} and {second!r}:\n{process.stdout}{process.stderr}"
        )


# -- servers -------------------------------------------------------------------------------


def on_server(url: str, statements: list[str]) -> list[Any]:
    """Run ``statements`` with AUTOCOMMIT; return the rows of the last one."""

    async def run() -> list[Any]:
        engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                rows: list[Any] = []
                for statement in statements:
                    result = await connection.execute(text(statement))
                    rows = list(result.all()) if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(run())


@contextmanager
def bench_database(backend: str, server: str) -> Iterator[str | None]:
    """Create ``asqla_bench_<random>`` on ``server`` and yield its URL; None if unreachable."""
    name = f"asqla_bench_{secrets.token_hex(4)}"
    masked = make_url(server).render_as_string(hide_password=True)
    quote = '"' if backend == "postgresql" else "`"
    try:
        version = "SHOW server_version" if backend == "postgresql" else "SELECT version()"
        rows = on_server(server, [f"CREATE DATABASE {quote}{name}{quote}", version])
    except Exception as exc:  # unreachable: skip, and say so
        console.print(
            f"{backend}: skipped, {escape(masked)} did not answer ({type(exc).__name__}: {exc})"
        )
        yield None
        return
    where = make_url(server)
    console.print(f"{backend}: database {name} on {where.host}:{where.port}, server {rows[0][0]}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        # The plugin drops its own test database at the end of a run; one that a killed
        # run left behind goes too.
        if backend == "postgresql":
            listed = "SELECT datname FROM pg_database WHERE datname LIKE 'test_asqla_bench_%'"
            force = " WITH (FORCE)"
        else:
            listed = "SHOW DATABASES LIKE 'test\\_asqla\\_bench\\_%'"
            force = ""
        leftovers = [row[0] for row in on_server(server, [listed]) if name in row[0]]
        on_server(
            server,
            [f"DROP DATABASE IF EXISTS {quote}{db}{quote}{force}" for db in [name, *leftovers]],
        )
        console.print(
            f"{backend}: dropped database {name}" + "".join(f", {db}" for db in leftovers)
        )


# -- measuring and reporting ---------------------------------------------------------------


def measure(
    project: Path, backend: str, url: str, args: argparse.Namespace
) -> dict[str, list[Run]]:
    check_leak_detected(project, url)
    console.print(
        f"{backend}: without cleanup the 2nd test fails, (2, 6) == (1, 3): the check works"
    )
    for variant in VARIANTS:  # untimed: bytecode compiled, server caches warm
        timed_run(project, variant, url, WARM_UP_TESTS)
    runs: dict[str, list[Run]] = {variant: [] for variant in VARIANTS}
    started = time.perf_counter()
    for number in range(args.rounds):
        order = VARIANTS if number % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            runs[variant].append(timed_run(project, variant, url, args.tests))
        console.print(
            f"{backend}: round {number + 1}/{args.rounds} done "
            f"({time.perf_counter() - started:.0f} s)"
        )
    return runs


def ms(values: list[float]) -> str:
    """The median of ``values`` (seconds), in milliseconds."""
    return f"{statistics.median(values) * 1000:.2f} ms"


def report(backend: str, runs: dict[str, list[Run]], tests: int) -> None:
    rounds = len(runs["asqla"])
    table = Table(
        title=f"{backend}: {tests} tests per run, median of {rounds} interleaved rounds",
        title_justify="left",
    )
    for column in (
        "variant",
        "per test",
        "setup",
        "call",
        "teardown",
        "mean per test",
        "x asqla",
        "x asqla, range",
        "per test by round",
        "pytest wall",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right")
    base = [run.median for run in runs["asqla"]]
    for variant in VARIANTS:
        mine = runs[variant]
        ratios = [run.median / asqla for run, asqla in zip(mine, base, strict=True)]
        table.add_row(
            variant,
            ms([run.median for run in mine]),
            ms([statistics.median(run.setup) for run in mine]),
            ms([statistics.median(run.call) for run in mine]),
            ms([statistics.median(run.teardown) for run in mine]),
            ms([run.mean for run in mine]),
            f"{statistics.median(ratios):.2f}",
            f"{min(ratios):.2f}-{max(ratios):.2f}",
            " ".join(f"{run.median * 1000:.1f}" for run in mine) + " ms",
            f"{statistics.median(run.wall for run in mine):.1f} s",
        )
    console.print(table)


def run(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, list[Run]]] = {}
    with tempfile.TemporaryDirectory(prefix="asqla_bench_") as directory:
        project = Path(directory) / "project"
        write_project(project, args.tests, args.loop_scope)
        console.print(
            f"project with {args.tests} tests per variant in {project}, "
            f"pytest-asyncio loop scope {args.loop_scope!r}"
        )
        for backend in args.backends:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
                console.print(f"sqlite: {url}")
                results[backend] = measure(project, backend, url, args)
                continue
            with bench_database(backend, getattr(args, backend)) as url:
                if url is not None:
                    results[backend] = measure(project, backend, url, args)
    for backend, runs in results.items():
        report(backend, runs, args.tests)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tests", type=int, default=200, help="tests per run (200)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        type=lambda value: [part.strip() for part in value.split(",") if part.strip()],
        help="comma-separated, from sqlite,postgresql,mysql (all three)",
    )
    parser.add_argument(
        "--loop-scope",
        choices=("function", "session"),
        default="function",
        help="pytest-asyncio's loop scope for tests and fixtures (function, as in the guide)",
    )
    parser.add_argument("--postgresql", default=SERVERS["postgresql"], help="server URL")
    parser.add_argument("--mysql", default=SERVERS["mysql"], help="server URL")
    args = parser.parse_args(argv)
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {list(BACKENDS)}")
    if args.tests < WARM_UP_TESTS or args.rounds < 1:
        parser.error(f"--tests must be at least {WARM_UP_TESTS} and --rounds positive")
    return args


def terminate(signum: int, frame: object) -> NoReturn:
    # SystemExit unwinds through subprocess.run (which kills its pytest) and the
    # finally blocks that drop the databases.
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    console.print(
        f"Python {platform.python_version()}, "
        + ", ".join(f"{d} {importlib.metadata.version(d)}" for d in DISTRIBUTIONS)
        + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    console.print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    try:
        run(args)
    except Failed as exc:
        console.print(f"benchmark aborted: {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    console.print(
        f"total runtime {time.perf_counter() - started:.0f} s, "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
