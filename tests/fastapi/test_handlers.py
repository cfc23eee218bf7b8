"""asqla's exception handlers: each error the database reports gets its status and code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import ForeignKey, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from asqla import Database, InvalidQueryError, NotFoundError
from asqla.fastapi import Session

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]
MakeDatabase = Callable[..., Database]


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "handler_author"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)


class Post(Base):
    __tablename__ = "handler_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey(Author.id))
    title: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API


class PostUpdate(BaseModel):
    title: str
    version: int


async def count(db: Database, model: type[Base]) -> int:
    async with db.session() as session:
        return len((await session.scalars(select(model))).all())


def add_routes(app: FastAPI) -> None:
    @app.get("/authors/{author_id}")
    async def get_author(author_id: int, session: Session) -> dict[str, str]:
        author = await session.get(Author, author_id)
        if author is None:
            raise NotFoundError(f"No author with id {author_id!r}.")
        return {"email": author.email}

    @app.post("/authors/{email}", status_code=201)
    async def create_author(email: str, session: Session) -> dict[str, str]:
        session.add(Author(email=email))
        await session.flush()
        return {"email": email}

    @app.post("/authors/{email}/posts", status_code=201)
    async def create_author_and_post(email: str, author_id: int, session: Session) -> None:
        session.add(Author(email=email))
        await session.flush()
        session.add(Post(author_id=author_id, title="hello"))
        await session.flush()

    @app.put("/posts/{post_id}")
    async def update_post(post_id: int, change: PostUpdate, session: Session) -> dict[str, int]:
        post = await session.get(Post, post_id)
        if post is None:
            raise NotFoundError(f"No post with id {post_id!r}.")
        # Optimistic locking against the version the client read: the UPDATE's
        # WHERE clause checks this version, not the one just loaded.
        set_committed_value(post, "version", change.version)
        post.title = change.title
        await session.flush()
        return {"version": post.version}

    @app.get("/authors")
    async def list_authors(session: Session, sort: str = "email") -> list[str]:
        if sort not in ("email", "-email"):
            raise InvalidQueryError(
                f"Cannot sort by {sort!r}.", allowed={"sort": ["email", "-email"]}
            )
        order = Author.email.desc() if sort.startswith("-") else Author.email
        return list((await session.scalars(select(Author.email).order_by(order))).all())

    @app.get("/broken")
    async def broken_query(session: Session) -> None:
        await session.execute(text("SELECT secret_column FROM no_such_table_here"))


@pytest.fixture
async def app(db: Database, make_app: MakeApp) -> FastAPI:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        ada = Author(email="ada@example.com")
        session.add(ada)
        await session.flush()
        session.add(Post(author_id=ada.id, title="first"))
    # Generated ids, so that no later insert collides with a seeded key.
    assert (ada.id, await count(db, Post)) == (1, 1)
    app = make_app(db)
    add_routes(app)
    return app


@pytest.fixture
def client(app: FastAPI, make_client: MakeClient) -> httpx.AsyncClient:
    return make_client(app)


async def test_not_found_gives_404(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.get("/authors/42")

    assert response.status_code == 404
    assert response.json() == {"detail": "No author with id 42.", "error": "not_found"}
    assert db.status().checked_out == 0


async def test_invalid_query_gives_400_with_what_is_allowed(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.get("/authors", params={"sort": "password"})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Cannot sort by 'password'.",
        "error": "invalid_query",
        "allowed": {"sort": ["email", "-email"]},
    }
    assert db.status().checked_out == 0


async def test_unique_violation_gives_409_and_saves_nothing(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post("/authors/ada@example.com")

    assert response.status_code == 409
    assert response.json()["error"] == "unique_violation"
    assert await count(db, Author) == 1
    assert db.status().checked_out == 0


async def test_foreign_key_violation_gives_409_and_saves_nothing(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post("/authors/bob@example.com/posts", params={"author_id": 999})

    assert response.status_code == 409
    assert response.json()["error"] == "foreign_key_violation"
    assert await count(db, Author) == 1  # bob, flushed before the post, was rolled back
    assert await count(db, Post) == 1
    assert db.status().checked_out == 0


async def test_stale_version_from_a_second_request_gives_409(
    db: Database, client: httpx.AsyncClient
) -> None:
    first = await client.put("/posts/1", json={"title": "from alice", "version": 1})
    second = await client.put("/posts/1", json={"title": "from bob", "version": 1})

    assert first.status_code == 200
    assert first.json() == {"version": 2}
    assert second.status_code == 409
    assert second.json()["error"] == "version_conflict"
    async with db.session() as session:
        post = await session.get_one(Post, 1)
        assert (post.title, post.version) == ("from alice", 2)
    assert db.status().checked_out == 0


# SQLite is left out: its writers take the lock at BEGIN (BEGIN IMMEDIATE), so
# the second session would wait for the request's transaction to end.
@pytest.mark.backends("postgresql", "mysql")
async def test_row_changed_by_another_session_mid_request_gives_409(
    db: Database, app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.patch("/posts/{post_id}")
    async def rename_post(post_id: int, session: Session) -> dict[str, int]:
        post = await session.get_one(Post, post_id)
        async with db.session() as other:  # another request, committing first
            (await other.get_one(Post, post_id)).title = "from the other session"
        post.title = "from this request"
        await session.flush()
        return {"version": post.version}

    response = await client.patch("/posts/1")

    assert response.status_code == 409
    assert response.json()["error"] == "version_conflict"
    async with db.session() as session:
        post = await session.get_one(Post, 1)
        assert (post.title, post.version) == ("from the other session", 2)
    assert db.status().checked_out == 0


async def test_pool_exhaustion_gives_503_within_the_pool_timeout(
    make_db: MakeDatabase, make_app: MakeApp, make_client: MakeClient
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=0.5)
    await db.create_all(Base.metadata)
    app = make_app(db)
    add_routes(app)
    client = make_client(app)

    async with db.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")  # the pool's only connection, busy
        async with asyncio.timeout(5):  # generous: the pool gives up after 0.5 s
            response = await client.get("/authors/1")

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "pool_timeout"
    assert db.status().checked_out == 0
    assert (await client.get("/authors/42")).status_code == 404  # and the pool recovered


async def test_database_error_gives_500_without_internals(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.get("/broken")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal database error.", "error": "database"}
    assert "no_such_table_here" not in response.text
    assert "secret_column" not in response.text
    assert db.status().checked_out == 0
