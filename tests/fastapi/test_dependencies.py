"""``Session`` and ``ReadSession`` as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.fastapi import ReadSession, Session

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "dep_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


async def saved_names(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(Item.name).order_by(Item.name))).all())


@pytest.fixture
async def app(db: Database, make_app: MakeApp) -> FastAPI:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add_all([Item(name="ada"), Item(name="bob")])
    app = make_app(db)

    @app.get("/items")
    async def list_items(session: ReadSession) -> list[str]:
        return list((await session.scalars(select(Item.name).order_by(Item.name))).all())

    @app.post("/items/{name}/flush-through-read-session")
    async def write_and_flush(name: str, session: ReadSession) -> dict[str, str]:
        session.add(Item(name=name))
        await session.flush()
        return {"name": name}

    @app.post("/items/{name}/add-to-read-session")
    async def write_without_flush(name: str, session: ReadSession) -> dict[str, str]:
        # Nothing raises here: only a commit (which would flush) could save it.
        session.add(Item(name=name))
        return {"name": name}

    @app.post("/items/{name}/both", status_code=201)
    async def read_then_write(name: str, reads: ReadSession, writes: Session) -> list[str]:
        writes.add(Item(name=name))
        await writes.flush()
        return list((await reads.scalars(select(Item.name).order_by(Item.name))).all())

    return app


@pytest.fixture
def client(app: FastAPI, make_client: MakeClient) -> httpx.AsyncClient:
    return make_client(app)


async def test_read_session_reads(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.get("/items")

    assert response.status_code == 200
    assert response.json() == ["ada", "bob"]
    assert db.status().checked_out == 0


async def test_flushing_a_write_through_read_session_gives_500_and_saves_nothing(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post("/items/eve/flush-through-read-session")

    assert response.status_code == 500
    assert response.json()["error"] == "session_usage"
    assert await saved_names(db) == ["ada", "bob"]
    assert db.status().checked_out == 0


async def test_read_session_is_never_committed(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/items/eve/add-to-read-session")

    # Committing would have flushed the pending row: it would be saved, or the
    # read-only guard would have turned the response into a 500.
    assert response.status_code == 200
    assert await saved_names(db) == ["ada", "bob"]
    assert db.status().checked_out == 0


async def test_read_session_and_session_in_one_request(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post("/items/eve/both")

    assert response.status_code == 201
    # The read session has its own connection: it does not see the write
    # session's uncommitted row.
    assert response.json() == ["ada", "bob"]
    assert await saved_names(db) == ["ada", "bob", "eve"]
    assert db.status().checked_out == 0


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("path", ["/session", "/read-session"])
async def test_session_without_the_middleware_names_the_fix(
    db: Database, make_app: MakeApp, make_client: MakeClient, path: str
) -> None:
    app = make_app(db, installed=False)

    @app.get("/session")
    async def use_session(session: Session) -> None:
        await session.execute(text("SELECT 1"))

    @app.get("/read-session")
    async def use_read_session(session: ReadSession) -> None:
        await session.execute(text("SELECT 1"))

    with pytest.raises(
        RuntimeError,
        match=r"need the unit-of-work middleware.*`asqla\.fastapi\.install\(app, db\)`",
    ):
        await make_client(app).get(path)


async def test_raw_sql_write_through_read_session_is_not_saved(
    db: Database, client: httpx.AsyncClient, app: FastAPI
) -> None:
    # ReadSession runs each statement on its own (autocommit) on PostgreSQL and
    # SQLite, so a text() INSERT would be saved as it runs: the guard reads the
    # statement's leading keyword and refuses it before it reaches the server.

    @app.post("/items/{name}/raw-insert")
    async def raw_insert(name: str, session: ReadSession) -> dict[str, str]:
        await session.execute(text("INSERT INTO dep_item (name) VALUES (:name)"), {"name": name})
        return {"name": name}

    response = await client.post("/items/eve/raw-insert")

    assert response.status_code == 500
    assert await saved_names(db) == ["ada", "bob"]
    assert db.status().checked_out == 0
