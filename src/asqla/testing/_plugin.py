"""asqla's pytest plugin: isolated tests on a real database (the ``pytest11`` entry point).

Fixtures, all prefixed ``asqla_`` so that they never clash with a project's own:

===========================  =========  =============================================
``asqla_database_url``       session    a fresh database for this run and xdist worker,
                                        its schema built; dropped at the end
``asqla_database``           function   an :class:`asqla.Database` whose sessions join the
                                        test's transaction (so does the app's ``Database``)
``asqla_session``            function   an ``AsyncSession`` in the test's transaction
``asqla_client``             function   an ``httpx.AsyncClient`` on the app, lifespan run,
                                        its ``Session`` / ``ReadSession`` in the transaction
``asqla_max_queries``        function   ``with asqla_max_queries(3): ...`` query budget
``asqla_transaction``        function   the :class:`OuterTransaction` under all of them
===========================  =========  =============================================

And three to override in a ``conftest.py`` when ``[tool.asqla]`` does not
say it: ``asqla_app`` (the ASGI app), ``asqla_app_database`` (the app's
``Database``) and ``asqla_metadata`` (the ``MetaData`` to create the schema
from, when there are no migrations).

When ``[tool.asqla]`` names the app or its database, ``DATABASE_URL`` names
the test database for the whole run (restored at the end), so that a
``Database()`` built at import time never reaches the one the environment
named. ``docs/testing.md`` is the guide.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from .._session import AsyncSession
from .._url import mask_url
from ..database import Database
from ..doctor.budget import assert_max_queries
from ..engine import create_engine
from ..exceptions import ConfigurationError
from ..settings import DatabaseSettings
from ._databases import create_database, drop_database, worker_database_url
from ._isolation import OuterTransaction
from ._loops import run_async_fixture, shared_loop_scope
from ._schema import build_schema, load_metadata
from ._settings import PluginSettings, import_object

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

_RUN_ID = pytest.StashKey[str]()
_SETTINGS = pytest.StashKey[PluginSettings]()
_SAVED_ENVIRONMENT = pytest.StashKey[dict[str, str | None]]()
# ASQLA_DATABASE_URL, when set, wins over DATABASE_URL in DatabaseSettings.
_URL_VARIABLES = ("DATABASE_URL", "ASQLA_DATABASE_URL")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asqla", "asqla test databases")
    group.addoption(
        "--asqla-url",
        dest="asqla_url",
        default=None,
        metavar="URL",
        help="Server on which to create the test databases (default: ASQLA_DATABASE_URL, "
        "then DATABASE_URL, else a temporary SQLite file). Its own database is never used.",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Point ``DATABASE_URL`` at the test database before the application is imported.

    Only for a project whose ``[tool.asqla]`` names its app or its database:
    a ``Database()`` built at import time (the usual ``db = Database()``)
    then reaches the test database, never the one the environment named.
    Not in xdist's controller, which runs no test (its workers inherit the
    environment and point it at their own databases).
    """
    try:
        settings = _read_settings(early_config)
    except ConfigurationError:
        return  # said in the header, and again by the first fixture that needs it
    controller = getattr(early_config.known_args_namespace, "numprocesses", None) and (
        "PYTEST_XDIST_WORKER" not in os.environ
    )
    if not (settings.database or settings.app) or controller:
        return
    url = _test_database_url(early_config, settings).render_as_string(hide_password=False)
    names = [name for name in _URL_VARIABLES if name == "DATABASE_URL" or name in os.environ]
    early_config.stash[_SAVED_ENVIRONMENT] = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, url))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in config.stash.get(_SAVED_ENVIRONMENT, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        settings = _read_settings(config)
    except ConfigurationError as exc:
        return [f"asqla: {exc}"]
    if settings.url is None:
        where = "a temporary SQLite file"
    else:
        where = f"new databases on {mask_url(settings.url)}"
    return [f"asqla: tests that use asqla_* fixtures run on {where}"]


# -- session: the database ---------------------------------------------------------------


@pytest.fixture(scope="session")
def asqla_settings(pytestconfig: pytest.Config) -> PluginSettings:
    """What the plugin read from ``--asqla-url``, the environment and ``[tool.asqla]``."""
    with _explained():
        return _read_settings(pytestconfig)


@pytest.fixture(scope="session")
def asqla_metadata(asqla_settings: PluginSettings) -> Sequence[MetaData]:
    """The metadata the schema is created from without migrations: ``[tool.asqla] models``.

    Override it to return a ``MetaData`` (or several) when the project does
    not name its models in ``pyproject.toml``.
    """
    with _explained():
        return load_metadata(asqla_settings.models, project_dir=asqla_settings.project_dir)


@pytest.fixture(scope="session")
def asqla_app_database(asqla_settings: PluginSettings) -> Database | None:
    """The application's own :class:`asqla.Database` (``[tool.asqla] database``), if named.

    While a test uses ``asqla_database``, ``asqla_session`` or ``asqla_client``,
    its sessions join the test's transaction and its engine is the test
    database's. Its settings (preset, timeouts) are the test engine's too.
    """
    if asqla_settings.database is None:
        return None
    with _explained():
        database = import_object(
            asqla_settings.database, project_dir=asqla_settings.project_dir, key="database"
        )
    if not isinstance(database, Database):
        pytest.fail(
            f"[tool.asqla] database = {asqla_settings.database!r} is a "
            f"{type(database).__name__}, not an asqla.Database. Name the Database the "
            'application uses, such as database = "app.db:db".',
            pytrace=False,
        )
    return database


@pytest.fixture(scope="session")
def asqla_database_url(
    request: pytest.FixtureRequest,
    asqla_settings: PluginSettings,
    asqla_metadata: Sequence[MetaData] | MetaData,
) -> Iterator[str]:
    """The URL of this run's test database (one per xdist worker), schema built.

    Created on first use and dropped when the session ends. The schema comes
    from the project's migrations when it has some, else from
    ``asqla_metadata``. The URL carries the password: do not print it.
    """
    url = _test_database_url(request.config, asqla_settings)
    metadata = [asqla_metadata] if isinstance(asqla_metadata, MetaData) else list(asqla_metadata)

    _run_in_thread(lambda: create_database(url))
    try:
        _run_in_thread(
            lambda: build_schema(url, metadata=metadata, migrations=asqla_settings.migrations)
        )
        yield url.render_as_string(hide_password=False)
    finally:
        _run_in_thread(lambda: drop_database(url))
        with contextlib.suppress(OSError):  # another worker's file may still be there
            _sqlite_directory(request.config).rmdir()


# -- per test: the transaction and what joins it -------------------------------------------


@pytest.fixture(scope="session")
def _asqla_engines(
    asqla_database_url: str, asqla_app_database: Database | None
) -> tuple[Database, AsyncEngine]:
    """The test database's Database and side engine, with the application's settings.

    Made once, without connecting: an engine belongs to no event loop until
    it connects. Each test disposes both at its end, in its own loop, so that
    the next test, maybe in another loop, opens new connections, while the
    dialect's first-connect set-up (a few queries) is done once per run.
    """
    if asqla_app_database is not None:
        options = asqla_app_database.settings.model_dump(exclude={"url"})
        settings = DatabaseSettings(url=asqla_database_url, **options)
    else:
        settings = DatabaseSettings(url=asqla_database_url)
    return Database(settings), create_engine(settings)


async def _outer_transaction(
    engines: tuple[Database, AsyncEngine], *, keep_pool: bool
) -> AsyncGenerator[OuterTransaction, None]:
    database, side = engines
    try:
        async with OuterTransaction(database, engine=side) as outer:
            yield outer
    finally:
        if not keep_pool:
            await database.dispose()


@pytest.fixture
def asqla_transaction(
    request: pytest.FixtureRequest, _asqla_engines: tuple[Database, AsyncEngine]
) -> Iterator[OuterTransaction]:
    """The test's connection and outer transaction, rolled back when the test ends.

    With a loop per test, the connection is closed at the test's end: the
    next test runs in another loop. When the loop outlives the test
    (pytest-asyncio's ``loop_scope`` module, class, package or session), the
    pool is kept for the tests of that scope and disposed at its end, in its
    loop, so that each test does not pay for a new connection.
    """
    scope = shared_loop_scope(request)
    if scope is None:
        engines, keep_pool = _asqla_engines, False
    else:
        engines, keep_pool = _engines_for_loop(request, scope, _asqla_engines[0].settings), True
    kwargs = {"engines": engines, "keep_pool": keep_pool}
    yield from run_async_fixture(request, "asqla_transaction", _outer_transaction, kwargs)


_SCOPE_NODES: dict[str, type[pytest.Item] | type[pytest.Collector] | None] = {
    "class": pytest.Class,
    "module": pytest.Module,
    "package": pytest.Package,
    "session": None,
}
_LOOP_ENGINES = pytest.StashKey[dict[str, tuple[Database, AsyncEngine]]]()


def _engines_for_loop(
    request: pytest.FixtureRequest, scope: str, settings: DatabaseSettings
) -> tuple[Database, AsyncEngine]:
    """One Database and side engine per shared loop, disposed when the loop's scope ends."""
    kind = _SCOPE_NODES[scope]
    node = request.session if kind is None else request.node.getparent(kind)
    if node is None:  # no such parent (a class scope outside a class): as pytest-asyncio does
        node = request.node
    engines = request.config.stash.setdefault(_LOOP_ENGINES, {})
    key = f"{scope}:{node.nodeid}"
    if key not in engines:
        made = engines[key] = (Database(settings), create_engine(settings))
        # The scope's runner was set up before this finalizer is added, so
        # the finalizer runs first, while the loop is still open.
        runner: Any = request.getfixturevalue(f"_{scope}_scoped_runner")

        def dispose() -> None:
            engines.pop(key, None)
            runner.run(made[0].dispose())
            runner.run(made[1].dispose())

        node.addfinalizer(dispose)
    return engines[key]


@pytest.fixture
def asqla_database(
    asqla_transaction: OuterTransaction, asqla_app_database: Database | None
) -> Iterator[Database]:
    """A :class:`asqla.Database` on the test database whose sessions join the test's transaction.

    ``db.session()`` commits a savepoint; the test's end rolls everything
    back. The application's ``Database`` (``asqla_app_database``) is bound
    the same way meanwhile.
    """
    with ExitStack() as stack:
        stack.enter_context(asqla_transaction.bind(asqla_transaction.database))
        if asqla_app_database is not None:
            stack.enter_context(asqla_transaction.bind(asqla_app_database))
        yield asqla_transaction.database


@pytest.fixture
def asqla_session(asqla_transaction: OuterTransaction, asqla_database: Database) -> AsyncSession:
    """An ``AsyncSession`` in the test's transaction: commit and roll back freely."""
    return asqla_transaction.session()


@pytest.fixture
def asqla_app(asqla_settings: PluginSettings) -> Any:
    """The ASGI app under test: ``[tool.asqla] app``. Override it for an app factory."""
    if asqla_settings.app is None:
        pytest.fail(
            'asqla_client needs the app: set app = "package.module:app" under [tool.asqla] '
            "in pyproject.toml, or override the asqla_app fixture in conftest.py.",
            pytrace=False,
        )
    with _explained():
        return import_object(asqla_settings.app, project_dir=asqla_settings.project_dir, key="app")


async def _client(
    asqla_app: Any, asqla_transaction: OuterTransaction
) -> AsyncGenerator[httpx.AsyncClient, None]:
    from ._client import app_client  # httpx is needed only with the client

    with ExitStack() as stack:
        for database in _databases_of(asqla_app):
            stack.enter_context(asqla_transaction.bind(database))
        async with app_client(asqla_app) as client:
            yield client


@pytest.fixture
def asqla_client(
    request: pytest.FixtureRequest,
    asqla_app: Any,
    asqla_transaction: OuterTransaction,
    asqla_database: Database,
) -> Iterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the app, lifespan started, sessions in the test's transaction.

    Requests commit before their response as in production; what they
    commit is visible to ``asqla_session`` and rolled back after the test.
    """
    kwargs = {"asqla_app": asqla_app, "asqla_transaction": asqla_transaction}
    yield from run_async_fixture(request, "asqla_client", _client, kwargs)


@pytest.fixture
def asqla_max_queries() -> type[assert_max_queries]:
    """``with asqla_max_queries(n):`` fails the test when the block runs more than ``n`` statements.

    The failure lists each statement with the line that ran it, and the N+1
    patterns the query doctor found. BEGIN, COMMIT, ROLLBACK and savepoints
    are not counted.
    """
    return assert_max_queries


# -- helpers ------------------------------------------------------------------------------


@contextmanager
def _explained() -> Iterator[None]:
    """Fail the test with the configuration error's own message, without a traceback."""
    try:
        yield
    except ConfigurationError as exc:
        pytest.fail(str(exc), pytrace=False)


def _read_settings(config: pytest.Config) -> PluginSettings:
    """The settings, read once: before the plugin points ``DATABASE_URL`` elsewhere."""
    if _SETTINGS not in config.stash:
        option = getattr(config.known_args_namespace, "asqla_url", None)
        config.stash[_SETTINGS] = PluginSettings.read(
            option=option or config.getoption("asqla_url", None),
            rootpath=config.rootpath,
            inipath=config.inipath,
        )
    return config.stash[_SETTINGS]


def _test_database_url(config: pytest.Config, settings: PluginSettings) -> URL:
    """This process's test database: the same URL whenever it is asked for."""
    return worker_database_url(
        settings.url,
        worker=os.environ.get("PYTEST_XDIST_WORKER", "main"),
        run_id=_run_id(config),
        directory=_sqlite_directory(config),
    )


def _run_id(config: pytest.Config) -> str:
    """An id shared by every xdist worker of one run, unique to the run.

    Read from the environment, which xdist sets in each worker before its
    configuration exists (``config.workerinput`` comes later).
    """
    if _RUN_ID not in config.stash:
        shared = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
        config.stash[_RUN_ID] = shared or uuid.uuid4().hex[:8]
    return config.stash[_RUN_ID]


def _sqlite_directory(config: pytest.Config) -> Path:
    """Where this run's SQLite test databases go: one directory for all its workers."""
    return Path(tempfile.gettempdir()) / f"asqla-tests-{_run_id(config)}"


def _run_in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a new event loop, on a thread of its own.

    The session's database setup runs outside every test's event loop: a
    loop of pytest-asyncio's or anyio's may be current in this thread, and
    ``asyncio.run`` here would replace it, then leave no loop set.
    """

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="asqla") as executor:
        return executor.submit(asyncio.run, main()).result()


def _databases_of(app: Any) -> list[Database]:
    """The Databases whose unit-of-work middleware ``app`` has (``asqla.fastapi.install``)."""
    from ..fastapi import UnitOfWorkMiddleware

    found: list[Database] = []
    for middleware in getattr(app, "user_middleware", ()):
        database = getattr(middleware, "kwargs", {}).get("database")
        if getattr(middleware, "cls", None) is UnitOfWorkMiddleware and isinstance(
            database, Database
        ):
            found.append(database)
    return found
