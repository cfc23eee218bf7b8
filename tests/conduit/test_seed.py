"""The demo's data set: written in bulk, and served by the API as any other data."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conduit.models import Base
from conduit.security import Passwords
from conduit.seed import PASSWORD, SeedPlan, is_seeded, main, seed
from sqlalchemy import func, select

from asqla import Database

pytestmark = pytest.mark.usefixtures("backend")

SMALL = {"users": 8, "articles": 30, "tags": 6, "comments": 60}


async def test_seed_writes_every_table_and_the_api_serves_it(
    client: httpx.AsyncClient, conduit_db: Database
) -> None:

    plan = SeedPlan(**SMALL, follows_per_user=3, favorites_per_user=4)
    assert not await is_seeded(conduit_db)
    password_hash = await Passwords("CHEAPEST").hash(PASSWORD)

    written = await seed(conduit_db, plan, password_hash=password_hash)

    expected = {"users": 8, "tags": 6, "follows": 24, "articles": 30, "favorites": 32}
    assert {table: written[table] for table in expected} == expected
    assert written["comments"] == 60
    async with conduit_db.session() as session:
        for name, count in written.items():
            table = Base.metadata.tables[name]
            assert await session.scalar(select(func.count()).select_from(table)) == count
    assert await is_seeded(conduit_db)
    articles = (await client.get("/api/articles?limit=5")).json()
    assert articles["articlesCount"] == 30
    assert all(article["tagList"] for article in articles["articles"])
    author = articles["articles"][0]["author"]["username"]
    login = await client.post(
        "/api/users/login",
        json={"user": {"email": f"{author}@conduit.example", "password": PASSWORD}},
    )
    assert login.status_code == 200


@pytest.mark.backends("sqlite", "postgresql")
async def test_the_seed_command_seeds_once(
    conduit_db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.setenv("DATABASE_URL", conduit_db.settings.url.get_secret_value())
    monkeypatch.setenv("CONDUIT_PASSWORD_PROFILE", "CHEAPEST")
    argv = [f"--{name}={count}" for name, count in SMALL.items()]

    await asyncio.to_thread(main, argv)
    first = capsys.readouterr().out
    await asyncio.to_thread(main, argv)
    second = capsys.readouterr().out

    assert "Seeded " in first
    assert "password password" in " ".join(first.split())
    assert "has users already: not seeding" in " ".join(second.split())
