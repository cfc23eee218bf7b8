"""Async fixtures that run in the test's own event loop, under pytest-asyncio or anyio.

A connection belongs to the event loop that opened it: used from another
loop it fails with "attached to a different loop", and closed after its loop
has gone with "Event loop is closed". So each async fixture of the plugin
must run in the very loop its test runs in, whichever plugin runs the test:

- a test with pytest-asyncio's ``asyncio`` marker (which its auto mode adds
  to every coroutine test, those marked ``anyio`` included) runs under
  pytest-asyncio, as below;
- a test marked ``@pytest.mark.anyio`` (``anyio_backend`` among its
  fixtures) otherwise runs in anyio's test runner: the fixture is run by the
  same runner, held open until the fixture's teardown, so the test shares
  it (anyio keeps one runner while any fixture or test holds it);
- any other test runs under pytest-asyncio, in the loop of its loop scope
  (its ``asyncio`` marker's ``loop_scope``, else
  ``asyncio_default_test_loop_scope``): the fixture runs in pytest-asyncio's
  runner for that scope. The user's ``asyncio_default_fixture_loop_scope``
  does not matter, so a suite whose tests share a session loop works as well
  as one with a loop per test.

Each async fixture of the plugin is a plain (sync) fixture that drives its
async generator itself, in the runner it picked: an async fixture would be
taken over by whichever plugin's fixture hook comes first (anyio's takes
every async fixture of an ``anyio`` test, even one pytest-asyncio runs).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, TypeVar

import pytest

__all__ = ["run_async_fixture", "shared_loop_scope"]

T = TypeVar("T")


def run_async_fixture(
    request: pytest.FixtureRequest,
    name: str,
    func: Callable[..., AsyncGenerator[T, None]],
    kwargs: dict[str, Any],
) -> Iterator[T]:
    """Set up and tear down the async fixture ``name`` in the loop its test runs in."""
    # pytest-asyncio runs every test that carries its marker, anyio's included:
    # in auto mode it marks each coroutine test at collection.
    asyncio_test = request.node.get_closest_marker("asyncio") is not None
    if not asyncio_test and "anyio_backend" in request.fixturenames:
        yield from _under_anyio(request, name, func, kwargs)
        return
    if not request.config.pluginmanager.has_plugin("asyncio"):
        pytest.fail(
            f"asqla's fixture {name!r} is async, and neither pytest-asyncio nor anyio runs "
            f'{request.node.name!r}. Install pytest-asyncio (and set asyncio_mode = "auto" '
            "or mark the test @pytest.mark.asyncio), or mark the test @pytest.mark.anyio.",
            pytrace=False,
        )
    scope = _loop_scope(request)
    try:
        runner: Any = request.getfixturevalue(f"_{scope}_scoped_runner")
    except pytest.FixtureLookupError:
        pytest.fail(
            f"asqla's fixture {name!r} needs pytest-asyncio 1.0 or later (its event loop "
            f"runners), or the test marked @pytest.mark.anyio. Upgrade pytest-asyncio.",
            pytrace=False,
        )
    yield from _under_runner(runner, func, kwargs)


def _under_runner(
    runner: Any, func: Callable[..., AsyncGenerator[T, None]], kwargs: dict[str, Any]
) -> Iterator[T]:
    """Run the fixture in pytest-asyncio's ``asyncio.Runner`` for the test's loop scope.

    Driven from here rather than declared as a pytest-asyncio fixture: when a
    test is marked ``anyio`` but run by pytest-asyncio (auto mode), anyio's
    fixture hook would take an async fixture over and run it in its own loop.
    """
    generator = func(**kwargs)
    value = runner.run(anext(generator))
    yield value
    runner.run(_finish(generator))


async def _finish(generator: AsyncGenerator[Any, None]) -> None:
    try:
        await anext(generator)
    except StopAsyncIteration:
        return
    raise RuntimeError(f"async fixture {generator!r} yielded twice")


def _under_anyio(
    request: pytest.FixtureRequest,
    name: str,
    func: Callable[..., AsyncGenerator[T, None]],
    kwargs: dict[str, Any],
) -> Iterator[T]:
    from anyio.pytest_plugin import extract_backend_and_options, get_runner

    backend, options = extract_backend_and_options(request.getfixturevalue("anyio_backend"))
    if backend != "asyncio":
        pytest.skip(
            f"asqla's fixture {name!r} needs asyncio (SQLAlchemy's async drivers do); "
            f"this test runs on anyio's {backend!r} backend."
        )
    with get_runner(backend, options) as runner:
        yield from runner.run_asyncgen_fixture(func, kwargs)


def shared_loop_scope(request: pytest.FixtureRequest) -> str | None:
    """The scope of the loop the test runs in, if pytest-asyncio keeps it beyond the test.

    ``None`` for a loop per test, and for a test that anyio runs.
    """
    asyncio_test = request.node.get_closest_marker("asyncio") is not None
    if not asyncio_test and "anyio_backend" in request.fixturenames:
        return None
    if not request.config.pluginmanager.has_plugin("asyncio"):
        return None
    scope = _loop_scope(request)
    return None if scope == "function" else scope


def _loop_scope(request: pytest.FixtureRequest) -> str:
    """The loop scope pytest-asyncio runs the requesting test in."""
    marker = request.node.get_closest_marker("asyncio")
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope:
            return str(scope)
    try:
        default = request.config.getini("asyncio_default_test_loop_scope")
    except ValueError:  # pytest-asyncio before 0.24 has no such option
        default = None
    return str(default or "function")
