"""``app_client``: requests in-process, with the app's lifespan run around them."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI, Request

from asqla.testing import LifespanError, app_client


def _app(events: list[str], *, fail: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        if fail == "startup":
            raise RuntimeError("cannot reach the database")
        yield {"greeting": "hello"}
        events.append("shutdown")
        if fail == "shutdown":
            raise RuntimeError("cannot close")

    app = FastAPI(lifespan=lifespan)

    @app.get("/greeting")
    async def greeting(request: Request) -> str:
        events.append("request")
        return str(request.state.greeting)

    return app


async def test_the_lifespan_runs_around_the_requests_and_shares_its_state() -> None:
    events: list[str] = []
    async with app_client(_app(events)) as client:
        assert events == ["startup"]
        response = await client.get("/greeting")
        assert response.json() == "hello"
        assert str(response.request.url) == "http://testserver/greeting"
    assert events == ["startup", "request", "shutdown"]


async def test_lifespan_false_sends_requests_only() -> None:
    events: list[str] = []
    async with app_client(_app(events), lifespan=False) as client:
        assert (await client.get("/docs")).status_code == 200
    assert events == []


async def test_a_failed_startup_raises_with_the_apps_error() -> None:
    events: list[str] = []
    with pytest.raises(LifespanError, match=r"failed to start: .*cannot reach") as caught:
        async with app_client(_app(events, fail="startup")):
            pytest.fail("the client must not open")  # pragma: no cover
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert events == ["startup"]


async def test_a_failed_shutdown_raises_after_the_requests() -> None:
    events: list[str] = []
    with pytest.raises(LifespanError, match=r"failed to shut down: .*cannot close"):
        async with app_client(_app(events, fail="shutdown")) as client:
            await client.get("/greeting")
    assert events == ["startup", "request", "shutdown"]


async def test_an_app_without_lifespan_support_is_called_without_it() -> None:
    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']!r}")  # as the ASGI spec allows
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with app_client(app) as client:
        assert (await client.get("/")).status_code == 204
