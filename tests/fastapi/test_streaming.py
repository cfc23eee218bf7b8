"""Streaming responses: the connection lives as long as the stream, and no longer.

These tests drive the ASGI app directly instead of through httpx, whose
``ASGITransport`` collects the whole body before it returns: only a raw
``send`` sees what happens between chunks, and only a raw ``receive`` can
say that the client went away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.requests import ClientDisconnect
from starlette.types import Message

from asqla import Database
from asqla.fastapi import Session

MakeApp = Callable[..., FastAPI]

BEFORE = "written before the response started"


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "stream_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture
async def app(db: Database, make_app: MakeApp) -> FastAPI:
    await db.create_all(Base.metadata)
    app = make_app(db)

    @app.post("/stream")
    async def stream(session: Session, rows: int) -> StreamingResponse:
        session.add(Item(name=BEFORE))
        await session.flush()

        async def body() -> AsyncIterator[str]:
            for number in range(rows):
                # One query per chunk, through the request's session.
                name = await session.scalar(select(Item.name).order_by(Item.id).limit(1))
                yield f"{number}: {name}\n"

        return StreamingResponse(body(), media_type="text/plain")

    return app


class Exchange:
    """One request driven by hand: what the app sent, and the pool at each chunk."""

    def __init__(self, db: Database, *, client_leaves: str | None = None) -> None:
        self.db = db
        self.client_leaves = client_leaves
        self.messages: list[Message] = []
        self.checked_out_at_chunks: list[int] = []
        self._asked = False
        self._first_chunk = asyncio.Event()
        self._complete = asyncio.Event()

    async def run(self, app: FastAPI, path: str, query: str, *, spec_version: str) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec_version},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        async with asyncio.timeout(10):
            await app(scope, self.receive, self.send)

    async def receive(self) -> Message:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        leaves = self.client_leaves == "disconnect"
        await (self._first_chunk if leaves else self._complete).wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.client_leaves == "send-fails" and self._first_chunk.is_set():
            # What a server does for ASGI spec 2.4: sending to a gone client raises.
            raise OSError("the client closed the connection")
        self.messages.append(message)
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                self.checked_out_at_chunks.append(self.db.status().checked_out)
            if message.get("body"):
                self._first_chunk.set()
            if not message.get("more_body", False):
                self._complete.set()

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def body(self) -> str:
        return b"".join(m.get("body", b"") for m in self.messages[1:]).decode()


async def saved_names(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(Item.name))).all())


async def test_stream_keeps_its_connection_until_it_ends(db: Database, app: FastAPI) -> None:
    exchange = Exchange(db)

    await exchange.run(app, "/stream", "rows=3", spec_version="2.3")

    assert exchange.status == 200
    assert exchange.body == "".join(f"{n}: {BEFORE}\n" for n in range(3))
    assert exchange.checked_out_at_chunks == [1, 1, 1]
    assert db.status().checked_out == 0
    assert await saved_names(db) == [BEFORE]  # committed before the first byte


@pytest.mark.parametrize(
    ("spec_version", "client_leaves", "raised"),
    [
        # Starlette cancels the body while it awaits its next query.
        pytest.param("2.3", "disconnect", None, id="disconnect-message"),
        # Sending fails, between two queries.
        pytest.param("2.4", "send-fails", ClientDisconnect, id="send-fails"),
    ],
)
async def test_client_leaving_mid_stream_releases_the_connection(
    db: Database,
    app: FastAPI,
    spec_version: str,
    client_leaves: str,
    raised: type[BaseException] | None,
) -> None:
    exchange = Exchange(db, client_leaves=client_leaves)

    if raised is None:
        await exchange.run(app, "/stream", "rows=100000", spec_version=spec_version)
    else:
        with pytest.raises(raised):
            await exchange.run(app, "/stream", "rows=100000", spec_version=spec_version)

    assert exchange.status == 200
    assert 1 <= len(exchange.checked_out_at_chunks) < 100  # the stream was cut short
    assert db.status().checked_out == 0
    assert await saved_names(db) == [BEFORE]
    assert db.status().checked_out == 0


# Statements that pass one by one but break a deferred constraint at COMMIT.
DEFERRED_VIOLATION = {
    "postgresql": [
        "CREATE TABLE stream_tag (name VARCHAR(50),"
        " CONSTRAINT stream_tag_name_key UNIQUE (name) DEFERRABLE INITIALLY DEFERRED)",
        "INSERT INTO stream_tag (name) VALUES ('x'), ('x')",
    ],
    "sqlite": [
        "CREATE TABLE stream_tag (id INTEGER PRIMARY KEY)",
        "CREATE TABLE stream_tagged (tag_id INTEGER"
        " REFERENCES stream_tag (id) DEFERRABLE INITIALLY DEFERRED)",
        "INSERT INTO stream_tagged (tag_id) VALUES (999)",
    ],
}


@pytest.mark.backends("postgresql", "sqlite")
async def test_stream_whose_commit_failed_still_releases_its_connection(
    backend: str, db: Database, app: FastAPI
) -> None:
    @app.post("/stream-unsaved")
    async def stream_unsaved(session: Session) -> StreamingResponse:
        for statement in DEFERRED_VIOLATION[backend]:
            await session.execute(text(statement))

        async def body() -> AsyncIterator[str]:
            for _ in range(3):
                # Runs although the client was already told 500: the session
                # opens a new transaction, which must be released too.
                yield f"{await session.scalar(text('SELECT 1'))}\n"

        return StreamingResponse(body(), media_type="text/plain")

    exchange = Exchange(db)

    # With ASGI spec 2.4 Starlette does not watch for the client leaving, so
    # the body runs to its end although the middleware drops what it sends.
    await exchange.run(app, "/stream-unsaved", "", spec_version="2.4")

    assert exchange.status == 500
    assert json.loads(exchange.body)["error"] == "commit_failed"
    assert db.status().checked_out == 0
