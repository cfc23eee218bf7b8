"""DoctorMiddleware: a doctor scope per request, Server-Timing, findings logged per request."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from asqla import Database
from asqla.doctor import _capture
from asqla.doctor._middleware import DoctorMiddleware
from asqla.fastapi import Session, install

from .conftest import USERS, User

TIMING = re.compile(r'^db;dur=(\d+\.\d);desc="(\d+) statements?"$')


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class UserWithPosts(UserOut):
    posts: list[PostOut]


def make_app(db: Database, **options: Any) -> FastAPI:
    app = FastAPI()
    install(app, db)
    app.add_middleware(DoctorMiddleware, **options)  # last: the outermost, it sees the COMMIT

    @app.get("/one")
    async def one(session: Session) -> dict[str, str]:
        user = await session.scalar(select(User).where(User.id == 1))
        assert user is not None
        return {"name": user.name}

    @app.get("/loop")
    async def loop(session: Session) -> dict[str, int]:
        count = 0
        for user in (await session.scalars(select(User).order_by(User.id))).all():
            count += len(await user.awaitable_attrs.posts)
        return {"posts": count}

    @app.get("/with-posts", response_model=list[UserWithPosts])
    async def with_posts(session: Session) -> Any:
        statement = select(User).options(selectinload(User.posts)).order_by(User.id)
        return (await session.scalars(statement)).all()  # the serialiser reads .posts

    @app.get("/without-posts", response_model=list[UserOut])
    async def without_posts(session: Session) -> Any:
        statement = select(User).options(selectinload(User.posts)).order_by(User.id)
        return (await session.scalars(statement)).all()

    @app.get("/lazy")
    async def lazy(session: Session) -> dict[str, int]:
        user = await session.get(User, 1)
        assert user is not None
        return {"posts": len(user.posts)}  # no await: MissingGreenlet

    return app


@pytest.fixture
async def client(seeded: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(seeded))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asqla.doctor"]


async def test_the_response_carries_the_database_time_and_statement_count(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/one")

    assert response.status_code == 200
    match = TIMING.match(response.headers["server-timing"])
    assert match is not None, response.headers["server-timing"]
    assert match[2] == "1" and response.headers["server-timing"].endswith('desc="1 statement"')
    assert float(match[1]) > 0


async def test_findings_are_logged_with_their_request(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asqla.doctor"):
        response = await client.get("/loop")

    assert response.status_code == 200
    (message,) = logged(caplog)
    assert message.startswith("asqla doctor: GET /loop: n_plus_one: N+1: User.posts was loaded")
    assert "selectinload(User.posts)" in message
    assert [r.levelno for r in caplog.records if r.name == "asqla.doctor"] == [logging.WARNING]
    match = TIMING.match(response.headers["server-timing"])
    assert match is not None and int(match[2]) == 1 + USERS


async def test_concurrent_requests_are_watched_apart(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asqla.doctor"):
        looping, single = await asyncio.gather(client.get("/loop"), client.get("/one"))

    assert [m.split(": ")[1] for m in logged(caplog)] == ["GET /loop"]
    assert single.headers["server-timing"].endswith('desc="1 statement"')
    assert looping.headers["server-timing"].endswith(f'desc="{1 + USERS} statements"')


async def test_reads_while_the_response_is_serialised_count_as_reads(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asqla.doctor"):
        read = await client.get("/with-posts")
        unread = await client.get("/without-posts")

    assert len(read.json()[0]["posts"]) == 3 and "posts" not in unread.json()[0]
    (message,) = logged(caplog)
    assert message.startswith("asqla doctor: GET /without-posts: unused_eager_load: User.posts")


async def test_a_lazy_load_without_await_is_explained(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asqla.doctor"):
        response = await client.get("/lazy")

    assert response.status_code == 500  # asqla's handler: a SessionUsageError
    (message,) = logged(caplog)
    assert "GET /lazy: async_implicit_io: User.posts was loaded without await" in message


async def test_server_timing_can_be_left_out(seeded: Database) -> None:
    transport = httpx.ASGITransport(app=make_app(seeded, server_timing=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/one")
    assert response.status_code == 200
    assert "server-timing" not in response.headers


async def test_no_listener_is_left_after_the_requests(client: httpx.AsyncClient) -> None:
    await asyncio.gather(client.get("/loop"), client.get("/one"), client.get("/lazy"))
    assert not _capture.installed()


async def test_other_scopes_pass_through_unwatched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert _capture.installed() is False

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        pass

    await DoctorMiddleware(app)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]
