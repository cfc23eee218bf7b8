"""The request's unit of work: what is saved, what is not, and what the client is told.

Every test checks the database from a fresh session afterwards: a status code
alone does not prove that the data was (or was not) saved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import CommitFailedError, ConflictError, Database
from asqla.fastapi import Session

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]
RunAdmin = Callable[[str, str], Awaitable[None]]


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "uow_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


async def saved_names(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(Item.name).order_by(Item.name))).all())


@pytest.fixture
async def app(db: Database, make_app: MakeApp) -> FastAPI:
    await db.create_all(Base.metadata)
    app = make_app(db)

    @app.post("/items/{name}", status_code=201)
    async def create(name: str, session: Session) -> dict[str, str]:
        session.add(Item(name=name))
        await session.flush()
        return {"name": name}

    @app.post("/items/{name}/http-error")
    async def create_then_http_error(name: str, session: Session) -> None:
        session.add(Item(name=name))
        await session.flush()  # the row is in the transaction: only a rollback removes it
        raise HTTPException(status_code=418, detail="teapot")

    @app.post("/items/{name}/crash")
    async def create_then_crash(name: str, session: Session) -> None:
        session.add(Item(name=name))
        await session.flush()
        raise RuntimeError("internal detail: the ledger is at /srv/secret")

    @app.post("/items/{name}/unflushed", status_code=201)
    async def create_without_flush(name: str, session: Session) -> dict[str, str]:
        session.add(Item(name=name))  # flushed by the unit of work, just before COMMIT
        return {"name": name}

    @app.post("/items/{name}/rejected")
    async def create_then_return_422(name: str, session: Session) -> JSONResponse:
        session.add(Item(name=name))
        await session.flush()
        return JSONResponse({"detail": "rejected, but not raised"}, status_code=422)

    return app


@pytest.fixture
def client(app: FastAPI, make_client: MakeClient) -> httpx.AsyncClient:
    return make_client(app, raise_app_exceptions=False)


async def test_success_commits(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/items/ada")

    assert response.status_code == 201
    assert await saved_names(db) == ["ada"]
    assert db.status().checked_out == 0


async def test_http_exception_rolls_back(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/items/ada/http-error")

    assert response.status_code == 418
    assert response.json() == {"detail": "teapot"}
    assert await saved_names(db) == []
    assert db.status().checked_out == 0


async def test_unexpected_exception_rolls_back_and_gives_500(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post("/items/ada/crash")

    assert response.status_code == 500
    assert "ledger" not in response.text
    assert "/srv/secret" not in response.text
    assert await saved_names(db) == []
    assert db.status().checked_out == 0


async def test_returned_error_response_without_exception_still_commits(
    db: Database, client: httpx.AsyncClient
) -> None:
    # A choice, pinned here: only an exception rolls back. An endpoint that
    # returns a 4xx response object has finished normally and its changes are
    # saved; raise HTTPException instead to have them rolled back.
    response = await client.post("/items/ada/rejected")

    assert response.status_code == 422
    assert await saved_names(db) == ["ada"]
    assert db.status().checked_out == 0


async def test_a_failed_request_does_not_taint_the_next_one(
    db: Database, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/items/ada/crash")).status_code == 500
    assert (await client.post("/items/ada/http-error")).status_code == 418

    assert (await client.post("/items/ada")).status_code == 201
    assert await saved_names(db) == ["ada"]
    assert db.status().checked_out == 0


# Deferrable constraints are checked at COMMIT, after the endpoint returned:
# the only way to see a failure of COMMIT itself. MariaDB has none.
DEFERRED_SCHEMA = {
    "postgresql": [
        "CREATE TABLE deferred_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE deferred_child (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL,"
        " CONSTRAINT deferred_child_name_key UNIQUE (name) DEFERRABLE INITIALLY DEFERRED)",
    ],
    "sqlite": [
        "CREATE TABLE deferred_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE deferred_child (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL,"
        " parent_id INTEGER REFERENCES deferred_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    ],
}
# Statements that each succeed, but break the deferred constraint together.
DEFERRED_VIOLATION = {
    "postgresql": [
        "INSERT INTO deferred_parent (id) VALUES (1)",
        "INSERT INTO deferred_child (id, name) VALUES (2, 'ada')",  # 'ada' is taken
    ],
    "sqlite": [
        "INSERT INTO deferred_parent (id) VALUES (1)",
        "INSERT INTO deferred_child (id, name, parent_id) VALUES (2, 'bob', 999)",
    ],
}


async def deferred_violation_app(backend: str, db: Database, make_app: MakeApp) -> FastAPI:
    """An app whose POST /violate passes every statement and fails at COMMIT."""
    async with db.session() as session:
        for statement in DEFERRED_SCHEMA[backend]:
            await session.execute(text(statement))
        await session.execute(text("INSERT INTO deferred_child (id, name) VALUES (1, 'ada')"))
    app = make_app(db)

    @app.post("/violate", status_code=201)
    async def violate(session: Session) -> dict[str, bool]:
        for statement in DEFERRED_VIOLATION[backend]:
            await session.execute(text(statement))
        await session.flush()
        return {"saved": True}

    return app


@pytest.mark.backends("postgresql", "sqlite")
async def test_constraint_failing_at_commit_gives_500_and_saves_nothing(
    backend: str, db: Database, make_app: MakeApp, make_client: MakeClient
) -> None:
    app = await deferred_violation_app(backend, db, make_app)

    response = await make_client(app).post("/violate")

    assert response.status_code == 500
    assert response.json()["error"] == "commit_failed"
    assert "deferred_child" not in response.text  # the constraint's name stays in the log
    async with db.session() as session:
        assert (await session.scalar(text("SELECT COUNT(*) FROM deferred_parent"))) == 0
        assert (await session.scalar(text("SELECT COUNT(*) FROM deferred_child"))) == 1
    assert db.status().checked_out == 0


KILL = {
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({}, 5000)"),
    "mysql": ("SELECT CONNECTION_ID()", "KILL {}"),
}


@pytest.mark.backends("postgresql", "mysql")
async def test_connection_killed_before_commit_gives_503_and_saves_nothing(
    backend: str, db: Database, make_app: MakeApp, make_client: MakeClient, run_admin: RunAdmin
) -> None:
    await db.create_all(Base.metadata)
    whoami, kill = KILL[backend]
    app = make_app(db)

    @app.post("/items/{name}", status_code=201)
    async def create_then_lose_the_connection(name: str, session: Session) -> dict[str, str]:
        session.add(Item(name=name))
        await session.flush()
        connection_id = await session.scalar(text(whoami))
        # From another connection, as an operator or a failover would.
        await run_admin(backend, kill.format(int(connection_id)))
        return {"name": name}

    response = await make_client(app).post("/items/ada")

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "commit_failed"
    assert await saved_names(db) == []
    assert db.status().checked_out == 0


async def test_conflict_in_the_final_flush_is_a_409_and_nothing_is_saved(
    db: Database, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/items/ada/unflushed")).status_code == 201
    response = await client.post("/items/ada/unflushed")
    assert response.status_code == 409
    assert response.json()["error"] == "unique_violation"
    assert await saved_names(db) == ["ada"]
    assert db.status().checked_out == 0


# -- the app's own exception handlers answer a failed commit ---------------------------------


def api_error(request: Request, exc: Exception) -> JSONResponse:
    """The API's own error format, such as the RealWorld spec's."""
    return JSONResponse({"errors": {"body": [type(exc).__name__]}}, status_code=500)


async def async_api_error(request: Request, exc: Exception) -> JSONResponse:
    return api_error(request, exc)


@pytest.mark.backends("postgresql", "sqlite")
@pytest.mark.parametrize("handler", [async_api_error, api_error], ids=["async", "sync"])
async def test_the_apps_commit_failed_handler_gives_the_answer(
    backend: str,
    db: Database,
    make_app: MakeApp,
    make_client: MakeClient,
    handler: Callable[[Request, Exception], object],
) -> None:
    app = await deferred_violation_app(backend, db, make_app)
    app.add_exception_handler(CommitFailedError, handler)  # type: ignore[arg-type]

    response = await make_client(app).post("/violate")

    assert response.status_code == 500
    assert response.json() == {"errors": {"body": ["CommitFailedError"]}}
    async with db.session() as session:  # and still nothing was saved
        assert (await session.scalar(text("SELECT COUNT(*) FROM deferred_parent"))) == 0
    assert db.status().checked_out == 0


@pytest.mark.backends("postgresql", "sqlite")
async def test_a_failing_handler_falls_back_to_asqlas_answer(
    backend: str,
    db: Database,
    make_app: MakeApp,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await deferred_violation_app(backend, db, make_app)

    @app.exception_handler(CommitFailedError)
    async def broken(request: Request, exc: CommitFailedError) -> JSONResponse:
        raise RuntimeError("the handler has a bug")

    response = await make_client(app).post("/violate")

    assert response.status_code == 500
    assert response.json()["error"] == "commit_failed"
    assert any("the exception handler" in r.getMessage() for r in caplog.records)
    assert db.status().checked_out == 0


async def test_the_apps_conflict_handler_answers_the_final_flush(
    db: Database, app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"errors": {"name": ["has already been taken"]}}, status_code=422)

    assert (await client.post("/items/ada/unflushed")).status_code == 201
    response = await client.post("/items/ada/unflushed")

    assert response.status_code == 422
    assert response.json() == {"errors": {"name": ["has already been taken"]}}
    assert await saved_names(db) == ["ada"]
    assert db.status().checked_out == 0
