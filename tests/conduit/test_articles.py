"""Articles: create, read, update, delete, lists with filters and pages, and the feed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from conduit.models import Article, Comment, Favorite, Tag, User, article_tags
from sqlalchemy import func, select

from asqla import Database
from asqla.repository import bulk_insert

from .conftest import Account, Conduit

pytestmark = pytest.mark.usefixtures("backend")

NEW = {"title": "How to train your dragon", "description": "Ever wonder how?", "body": "Very."}


async def test_create_article_answers_201_with_the_article(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    response = await client.post(
        "/api/articles",
        headers=ada.headers,
        json={"article": {**NEW, "tagList": ["training", "dragons", "dragons"]}},
    )

    assert response.status_code == 201
    article = response.json()["article"]
    assert article["slug"] == "how-to-train-your-dragon"
    assert (article["title"], article["description"], article["body"]) == tuple(NEW.values())
    assert article["tagList"] == ["dragons", "training"]
    assert (article["favorited"], article["favoritesCount"]) == (False, 0)
    assert article["author"] == {"username": "ada", "bio": "", "image": "", "following": False}
    assert article["createdAt"] == article["updatedAt"]


async def test_slugs_keep_letters_of_any_script_and_drop_punctuation(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    first = await api.article(ada, "Ça marche, déjà?  Ja!")
    second = await api.article(ada, "  ?!  ")

    assert first["slug"] == "ça-marche-déjà-ja"
    assert second["slug"] == "article"
    response = await client.get(f"/api/articles/{first['slug']}")
    assert response.json()["article"]["title"] == "Ça marche, déjà?  Ja!"


async def test_a_title_already_taken_gets_a_suffixed_slug(api: Conduit) -> None:
    ada = await api.register("ada")

    first = await api.article(ada, "Same title")
    second = await api.article(ada, "Same title")

    assert first["slug"] == "same-title"
    assert re.fullmatch(r"same-title-[0-9a-f]{6}", second["slug"])


async def test_concurrent_articles_with_one_title_all_get_distinct_slugs(
    api: Conduit, client: httpx.AsyncClient, conduit_db: Database
) -> None:

    authors = [await api.register() for _ in range(6)]

    async def create(author: Account) -> httpx.Response:
        return await client.post(
            "/api/articles",
            headers=author.headers,
            json={"article": {**NEW, "tagList": ["dragons", "training"]}},
        )

    responses = await asyncio.gather(*(create(author) for author in authors))

    assert [r.status_code for r in responses] == [201] * len(authors)
    slugs = sorted(r.json()["article"]["slug"] for r in responses)
    assert len(set(slugs)) == len(authors)
    assert slugs[0] == "how-to-train-your-dragon"
    async with conduit_db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Article)) == len(authors)
        tagged = select(func.count()).select_from(article_tags)
        assert await session.scalar(tagged) == 2 * len(authors)


@pytest.mark.backends("sqlite")  # refused before any database work
@pytest.mark.parametrize(
    ("article", "message"),
    [
        pytest.param(
            {"description": "d", "body": "b"}, "article.title: Field required", id="title"
        ),
        pytest.param(
            {**NEW, "title": "   "}, "article.title: String should have at least 1", id="blank"
        ),
        pytest.param(
            {**NEW, "tagList": "dragons"},
            "article.tagList: Input should be a valid list",
            id="tags",
        ),
        pytest.param(
            {**NEW, "title": "x" * 256}, "article.title: String should have at most 255", id="long"
        ),
    ],
)
async def test_create_article_validates_the_body(
    api: Conduit, client: httpx.AsyncClient, article: dict[str, Any], message: str
) -> None:
    ada = await api.register("ada")

    response = await client.post("/api/articles", headers=ada.headers, json={"article": article})

    assert response.status_code == 422
    assert response.json()["errors"]["body"][0].startswith(message)


async def test_create_article_needs_a_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/articles", json={"article": NEW})

    assert response.status_code == 401


async def test_get_article_shows_favorited_and_following_for_the_viewer(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    slug = (await api.article(ada, "Notes", tags=["engines"]))["slug"]
    await api.favorite(grace, slug)
    await api.follow(grace, ada)

    anonymous = (await client.get(f"/api/articles/{slug}")).json()["article"]
    viewer = (await client.get(f"/api/articles/{slug}", headers=grace.headers)).json()["article"]

    assert (anonymous["favorited"], anonymous["favoritesCount"]) == (False, 1)
    assert anonymous["author"]["following"] is False
    assert (viewer["favorited"], viewer["favoritesCount"]) == (True, 1)
    assert viewer["author"]["following"] is True
    assert viewer["tagList"] == ["engines"]


async def test_unknown_article_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/articles/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"errors": {"body": ["Article 'nothing-here' not found."]}}


async def test_author_updates_an_article_and_a_new_title_moves_the_slug(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    old = await api.article(ada, "First draft", tags=["drafts"])

    kept = await client.put(
        "/api/articles/first-draft", headers=ada.headers, json={"article": {"body": "Better."}}
    )
    moved = await client.put(
        "/api/articles/first-draft", headers=ada.headers, json={"article": {"title": "Final"}}
    )

    assert kept.status_code == 200
    assert kept.json()["article"]["slug"] == "first-draft"
    article = moved.json()["article"]
    assert (article["slug"], article["title"], article["body"]) == ("final", "Final", "Better.")
    assert article["tagList"] == ["drafts"]
    assert article["createdAt"] == old["createdAt"]
    assert article["updatedAt"] > old["updatedAt"]
    assert (await client.get("/api/articles/first-draft")).status_code == 404
    assert (await client.get("/api/articles/final")).status_code == 200


async def test_a_new_title_taken_by_another_article_gets_a_suffixed_slug(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    await api.article(ada, "Taken")
    await api.article(ada, "Draft")

    response = await client.put(
        "/api/articles/draft", headers=ada.headers, json={"article": {"title": "Taken"}}
    )

    assert response.status_code == 200
    assert re.fullmatch(r"taken-[0-9a-f]{6}", response.json()["article"]["slug"])
    assert (await client.get("/api/articles/taken")).json()["article"]["title"] == "Taken"


async def test_only_the_author_may_update_or_delete_an_article(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    await api.article(ada, "Mine")

    update = await client.put(
        "/api/articles/mine", headers=grace.headers, json={"article": {"title": "Hers"}}
    )
    delete = await client.delete("/api/articles/mine", headers=grace.headers)
    anonymous = await client.delete("/api/articles/mine")

    assert (update.status_code, delete.status_code, anonymous.status_code) == (403, 403, 401)
    assert update.json() == {
        "errors": {"body": ["only the author of an article may change or delete it"]}
    }
    article = (await client.get("/api/articles/mine")).json()["article"]
    assert article["title"] == "Mine"


async def test_update_or_delete_of_an_unknown_article_is_404(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    update = await client.put("/api/articles/nope", headers=ada.headers, json={"article": {}})
    delete = await client.delete("/api/articles/nope", headers=ada.headers)

    assert (update.status_code, delete.status_code) == (404, 404)


async def test_delete_article_removes_its_comments_favorites_and_tag_links(
    api: Conduit, client: httpx.AsyncClient, conduit_db: Database
) -> None:

    ada, grace = await api.register("ada"), await api.register("grace")
    slug = (await api.article(ada, "Doomed", tags=["gone"]))["slug"]
    await api.comment(grace, slug)
    await api.favorite(grace, slug)

    response = await client.delete(f"/api/articles/{slug}", headers=ada.headers)

    assert response.status_code == 204
    assert (await client.get(f"/api/articles/{slug}")).status_code == 404
    async with conduit_db.session() as session:
        for table in (Article, Comment, Favorite, article_tags):
            assert await session.scalar(select(func.count()).select_from(table)) == 0
        assert await session.scalar(select(func.count()).select_from(Tag)) == 1


async def _slugs(client: httpx.AsyncClient, url: str, account: Account | None = None) -> Any:
    response = await client.get(url, headers=account.headers if account else {})
    assert response.status_code == 200, response.text
    body = response.json()
    return [article["slug"] for article in body["articles"]], body["articlesCount"]


async def test_list_articles_newest_first_without_bodies(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    for title in ("one", "two", "three"):
        await api.article(ada, title)

    response = await client.get("/api/articles")

    assert [a["slug"] for a in response.json()["articles"]] == ["three", "two", "one"]
    assert response.json()["articlesCount"] == 3
    assert all("body" not in article for article in response.json()["articles"])


async def test_list_articles_filters_by_tag_author_and_favorited(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    await api.article(ada, "a1", tags=["engines", "math"])
    await api.article(ada, "a2", tags=["math"])
    await api.article(grace, "g1", tags=["ships", "math"])
    await api.favorite(grace, "a1")
    await api.favorite(ada, "g1")

    assert await _slugs(client, "/api/articles?tag=math") == (["g1", "a2", "a1"], 3)
    assert await _slugs(client, "/api/articles?tag=engines") == (["a1"], 1)
    assert await _slugs(client, "/api/articles?author=ada") == (["a2", "a1"], 2)
    assert await _slugs(client, "/api/articles?favorited=grace") == (["a1"], 1)
    assert await _slugs(client, "/api/articles?tag=math&author=grace") == (["g1"], 1)
    assert await _slugs(client, "/api/articles?favorited=ada&tag=engines") == ([], 0)
    assert await _slugs(client, "/api/articles?author=nobody") == ([], 0)
    assert await _slugs(client, "/api/articles?tag=nothing") == ([], 0)


async def test_list_articles_pages_with_limit_and_offset(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    for number in range(5):
        await api.article(ada, f"n{number}")

    assert await _slugs(client, "/api/articles?limit=2") == (["n4", "n3"], 5)
    assert await _slugs(client, "/api/articles?limit=2&offset=2") == (["n2", "n1"], 5)
    assert await _slugs(client, "/api/articles?limit=2&offset=4") == (["n0"], 5)
    assert await _slugs(client, "/api/articles?offset=7") == ([], 5)
    assert await _slugs(client, "/api/articles?offset=1") == (["n3", "n2", "n1", "n0"], 5)


async def test_list_articles_shows_twenty_by_default(
    api: Conduit, client: httpx.AsyncClient, conduit_db: Database
) -> None:

    ada = await api.register("ada")
    async with conduit_db.session() as session:
        author = await session.scalar(select(User.id))
        rows = [
            {"slug": f"s{n}", "title": "t", "description": "d", "body": "b", "author_id": author}
            for n in range(25)
        ]
        await bulk_insert(session, Article, rows)

    slugs, count = await _slugs(client, "/api/articles", ada)

    assert (len(slugs), count) == (20, 25)


@pytest.mark.backends("sqlite")  # refused before any database work
@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("limit=0", "limit: Input should be greater than or equal to 1", id="limit-0"),
        pytest.param(
            "limit=101", "limit: Input should be less than or equal to 100", id="limit-101"
        ),
        pytest.param(
            "offset=-1", "offset: Input should be greater than or equal to 0", id="offset"
        ),
        pytest.param("limit=ten", "limit: Input should be a valid integer", id="not-a-number"),
        pytest.param("tag=a%00b", "Invalid value 'a\\x00b' for filter 'tags.name'", id="nul"),
    ],
)
async def test_list_articles_validates_the_query(
    client: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await client.get(f"/api/articles?{query}")

    assert response.status_code == 422
    assert response.json()["errors"]["body"][0].startswith(message)


async def test_feed_lists_the_articles_of_followed_authors_only(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace, alan = await api.register("ada"), await api.register("grace"), await api.register()
    await api.article(ada, "ada-1")
    await api.article(grace, "grace-1")
    await api.article(alan, "alan-1")
    await api.article(ada, "ada-2")
    await api.follow(alan, ada)
    await api.follow(alan, grace)

    feed = (await client.get("/api/articles/feed", headers=alan.headers)).json()
    page = await _slugs(client, "/api/articles/feed?limit=1&offset=1", alan)
    empty = await _slugs(client, "/api/articles/feed", ada)

    assert [a["slug"] for a in feed["articles"]] == ["ada-2", "grace-1", "ada-1"]
    assert feed["articlesCount"] == 3
    assert all(a["author"]["following"] for a in feed["articles"])
    assert page == (["grace-1"], 3)
    assert empty == ([], 0)


async def test_feed_needs_a_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/articles/feed")

    assert response.status_code == 401
