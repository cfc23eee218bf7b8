"""No N+1 anywhere: every endpoint runs the same statements for 2 rows or 200.

Each read is run against a small and a large world (more articles per page,
tags per article, favorites, follows and comments per article) and must run
exactly its budget of statements in both, on every backend, counted by
asqla's ``assert_max_queries`` (transaction control is not counted). Lists
ask for a page shorter than what matches, so that the total is counted too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conduit.models import Article, Comment, Favorite, Follow, Tag, User, article_tags
from conduit.security import Tokens
from sqlalchemy import select

from asqla import Database
from asqla.doctor import assert_max_queries
from asqla.model import uuid7
from asqla.repository import bulk_insert

from .conftest import SECRET, Conduit

pytestmark = pytest.mark.usefixtures("backend")


@dataclass(frozen=True)
class World:
    """``size`` authors with ``size`` articles each, ``size`` tags and comments per article;
    the viewer follows every author and favorites every article."""

    size: int
    viewer: dict[str, str]
    slug: str
    author: str
    tag: str

    @property
    def page(self) -> int:
        return self.size - 1  # shorter than any list: the total needs a COUNT


async def build_world(db: Database, size: int) -> World:

    def user(name: str) -> dict[str, object]:
        return {"id": uuid7(), "username": name, "email": f"{name}@x.org", "password_hash": "-"}

    viewer = user("viewer")
    authors = [user(f"author{n}") for n in range(size)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    articles = [
        {
            "id": uuid7(),
            "slug": f"article-{n}",
            "title": f"Article {n}",
            "description": "d",
            "body": "b",
            "author_id": authors[n % size]["id"],
            "created_at": start + timedelta(minutes=n),
            "updated_at": start + timedelta(minutes=n),
        }
        for n in range(size * size)
    ]
    async with db.session() as session:
        await bulk_insert(session, User, [viewer, *authors])
        await bulk_insert(session, Tag, [{"name": f"tag{n}"} for n in range(size)])
        await bulk_insert(session, Article, articles)
        tag_ids = list((await session.scalars(select(Tag.id))).all())
        links = [{"article_id": a["id"], "tag_id": t} for a in articles for t in tag_ids]
        await bulk_insert(session, article_tags, links)
        await bulk_insert(
            session,
            Follow,
            [{"follower_id": viewer["id"], "followee_id": a["id"]} for a in authors],
        )
        favorites = [{"article_id": a["id"], "user_id": viewer["id"]} for a in articles]
        await bulk_insert(session, Favorite, favorites)
        comments = [
            {"body": "c", "article_id": a["id"], "author_id": authors[n]["id"]}
            for a in articles
            for n in range(size)
        ]
        await bulk_insert(session, Comment, comments)
    token = Tokens(SECRET, timedelta(hours=1)).issue(uuid.UUID(str(viewer["id"])))
    return World(
        size=size,
        viewer={"Authorization": f"Token {token}"},
        slug="article-0",
        author="author0",
        tag="tag0",
    )


READS = [
    # (id, path template, as the viewer, statements)
    ("articles-anonymous", "/api/articles?limit={page}", False, 2),
    ("articles", "/api/articles?limit={page}", True, 2),
    ("articles-by-tag", "/api/articles?tag={tag}&limit={page}", True, 2),
    ("articles-by-author", "/api/articles?author={author}&limit={page}", True, 2),
    ("articles-favorited", "/api/articles?favorited=viewer&limit={page}", True, 2),
    ("articles-offset", "/api/articles?limit={page}&offset=1", True, 2),
    ("feed", "/api/articles/feed?limit={page}", True, 2),
    ("article-anonymous", "/api/articles/{slug}", False, 2),
    ("article", "/api/articles/{slug}", True, 2),
    ("comments-anonymous", "/api/articles/{slug}/comments", False, 2),
    ("comments", "/api/articles/{slug}/comments", True, 2),
    ("profile", "/api/profiles/{author}", True, 1),
    ("tags", "/api/tags", False, 1),
    ("current-user", "/api/user", True, 1),
]


@pytest.mark.parametrize("size", [pytest.param(2, id="small"), pytest.param(6, id="large")])
async def test_every_read_runs_its_budget_whatever_the_rows(
    client: httpx.AsyncClient, conduit_db: Database, size: int
) -> None:
    world = await build_world(conduit_db, size)
    counts = {}
    for name, template, as_viewer, _ in READS:
        path = template.format(page=world.page, tag=world.tag, author=world.author, slug=world.slug)
        with assert_max_queries(10) as report:
            response = await client.get(path, headers=world.viewer if as_viewer else {})
        assert response.status_code == 200, (name, response.text)
        counts[name] = report.query_count

    assert counts == {name: budget for name, _, _, budget in READS}


async def test_lists_show_what_the_budget_loaded(
    client: httpx.AsyncClient, conduit_db: Database
) -> None:
    world = await build_world(conduit_db, 3)

    body = (await client.get("/api/articles?limit=2", headers=world.viewer)).json()
    comments = (await client.get("/api/articles/article-0/comments", headers=world.viewer)).json()

    assert body["articlesCount"] == 9
    assert [a["slug"] for a in body["articles"]] == ["article-8", "article-7"]
    for article in body["articles"]:
        assert article["tagList"] == ["tag0", "tag1", "tag2"]
        assert (article["favorited"], article["favoritesCount"]) == (True, 1)
        assert article["author"]["following"] is True
    assert len(comments["comments"]) == 3
    assert all(c["author"]["following"] for c in comments["comments"])


WRITES = [
    # (id, method, path, body, statements)
    ("create-article", "POST", "/api/articles",
     {"article": {"title": "New", "description": "d", "body": "b", "tagList": ["tag0", "x"]}}, 5),
    ("update-article", "PUT", "/api/articles/article-0", {"article": {"body": "New."}}, 4),
    ("favorite", "POST", "/api/articles/article-0/favorite", None, 4),
    ("unfavorite", "DELETE", "/api/articles/article-0/favorite", None, 4),
    ("comment", "POST", "/api/articles/article-0/comments", {"comment": {"body": "b"}}, 3),
    ("delete-comment", "DELETE", "/api/articles/article-0/comments/{comment}", None, 3),
    ("follow", "POST", "/api/profiles/author0/follow", None, 2),
    ("unfollow", "DELETE", "/api/profiles/author0/follow", None, 2),
    ("update-user", "PUT", "/api/user", {"user": {"bio": "b"}}, 1),
    ("delete-article", "DELETE", "/api/articles/article-0", None, 2),
]  # fmt: skip
# MariaDB has INSERT ... RETURNING but no UPDATE ... RETURNING: an updated row's
# new updated_at is read back with one more SELECT.
READ_BACK_ON_MARIADB = {"update-article", "update-user"}


async def test_every_write_runs_its_budget(
    api: Conduit, client: httpx.AsyncClient, backend: str
) -> None:
    writer = await api.register("writer")
    await api.register("author0")
    await api.article(writer, "Article 0", tags=["tag0"])
    counts, comment = {}, None
    for name, method, path, body, _ in WRITES:
        with assert_max_queries(10) as report:
            response = await client.request(
                method, path.format(comment=comment), headers=writer.headers, json=body
            )
        assert response.status_code < 300, (name, response.text)
        counts[name] = report.query_count
        if name == "comment":
            comment = response.json()["comment"]["id"]

    extra = {name: int(backend == "mysql" and name in READ_BACK_ON_MARIADB) for name in counts}
    assert counts == {name: budget + extra[name] for name, *_, budget in WRITES}
