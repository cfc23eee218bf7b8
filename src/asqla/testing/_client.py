"""An httpx client that calls an ASGI app in-process, with the app's lifespan run around it.

``httpx.ASGITransport`` sends requests only: it never runs the lifespan, so
an app whose lifespan opens resources (asqla's pings the database, and
disposes the engine at shutdown) would be tested without them. Here the
lifespan protocol runs as a server runs it: ``lifespan.startup`` before the
first request, ``lifespan.shutdown`` after the last; the state the lifespan
yields is copied into every request's scope, as Starlette expects
(``request.state``). An app that does not speak the lifespan protocol is
called without it, as uvicorn's ``--lifespan auto`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["LifespanError", "app_client"]

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LifespanError(RuntimeError):
    """The app's lifespan failed to start or to shut down."""


@contextlib.asynccontextmanager
async def app_client(
    app: ASGIApp,
    *,
    base_url: str = "http://testserver",
    lifespan: bool = True,
    raise_app_exceptions: bool = True,
    **options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Open an ``httpx.AsyncClient`` on ``app``, its lifespan started first and stopped after.

    Args:
        app: The ASGI app (a FastAPI app).
        base_url: The URL requests are relative to.
        lifespan: Run the app's lifespan around the client.
        raise_app_exceptions: Raise an exception that escapes the app in the
            test (the default), rather than answer 500 as a server would.
        **options: More ``httpx.AsyncClient`` options (``headers``, ``cookies``...).

    Raises:
        LifespanError: The lifespan reported a failed startup or shutdown.

    Example:
        >>> async with app_client(app) as client:  # doctest: +SKIP
        ...     response = await client.get("/articles")
    """
    import httpx  # a test dependency: imported when a client is asked for

    async with contextlib.AsyncExitStack() as stack:
        state: dict[str, Any] = {}
        if lifespan:
            state = await stack.enter_async_context(_lifespan(app))
        transport = httpx.ASGITransport(
            app=_with_state(app, state), raise_app_exceptions=raise_app_exceptions
        )
        client = httpx.AsyncClient(transport=transport, base_url=base_url, **options)
        yield await stack.enter_async_context(client)


@contextlib.asynccontextmanager
async def _lifespan(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def run() -> None:
        await app(scope, to_app.get, from_app.put)

    task = asyncio.create_task(run(), name="asqla: app lifespan")
    try:
        await to_app.put({"type": "lifespan.startup"})
        started = await _reply(task, from_app)
        if started is None:
            # The app raised before answering: per the ASGI spec it does not
            # support the lifespan protocol, and serving goes on without it.
            yield state
            return
        if started["type"] == "lifespan.startup.failed":
            error = await _error(task)
            raise LifespanError(
                f"The app's lifespan failed to start: {_describe(error, started)}"
            ) from error
        yield state
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await _reply(task, from_app)
        if stopped is not None and stopped["type"] == "lifespan.shutdown.failed":
            error = await _error(task)
            raise LifespanError(
                f"The app's lifespan failed to shut down: {_describe(error, stopped)}"
            ) from error
    finally:
        if not task.done():
            task.cancel()
        await _error(task)


async def _reply(task: asyncio.Task[None], from_app: asyncio.Queue[Message]) -> Message | None:
    """The app's next lifespan message, or ``None`` if the app ended without sending one."""
    getter = asyncio.ensure_future(from_app.get())
    try:
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None


async def _error(task: asyncio.Task[None]) -> BaseException | None:
    """Wait for ``task`` to end; return the exception it raised, if any."""
    await asyncio.wait({task})
    return None if task.cancelled() else task.exception()


def _describe(error: BaseException | None, message: Message) -> str:
    if error is not None:
        return f"{type(error).__name__}: {error}"
    # Starlette sends the whole traceback as the message: its last line says it.
    lines = str(message.get("message") or "(no message)").strip().splitlines()
    return lines[-1] if lines else "(no message)"


def _with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    if not state:
        return app

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}  # a shallow copy per request, as Starlette
        await app(scope, receive, send)

    return with_state
