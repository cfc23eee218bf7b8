"""Comments: add, list (newest first, per viewer), delete by their author only."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Conduit

pytestmark = pytest.mark.usefixtures("backend")


async def test_add_comment_answers_200_with_the_comment(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    await api.article(ada, "Talk")

    response = await client.post(
        "/api/articles/talk/comments",
        headers=grace.headers,
        json={"comment": {"body": "  Thank you!  "}},
    )

    assert response.status_code == 200
    comment = response.json()["comment"]
    assert isinstance(comment["id"], int)
    assert comment["body"] == "Thank you!"
    assert comment["author"] == {"username": "grace", "bio": "", "image": "", "following": False}
    assert comment["createdAt"] == comment["updatedAt"]


async def test_list_comments_newest_first_with_following_for_the_viewer(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace, alan = await api.register("ada"), await api.register("grace"), await api.register()
    await api.article(ada, "Talk")
    await api.article(ada, "Elsewhere")
    first = await api.comment(grace, "talk", "first")
    second = await api.comment(alan, "talk", "second")
    await api.comment(alan, "elsewhere", "not here")
    await api.follow(ada, grace)

    anonymous = (await client.get("/api/articles/talk/comments")).json()["comments"]
    viewer = (await client.get("/api/articles/talk/comments", headers=ada.headers)).json()

    assert [c["id"] for c in anonymous] == [second["id"], first["id"]]
    assert [c["author"]["following"] for c in anonymous] == [False, False]
    assert [(c["body"], c["author"]["following"]) for c in viewer["comments"]] == [
        ("second", False),
        ("first", True),
    ]


async def test_only_the_comment_author_may_delete_it(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    await api.article(ada, "Talk")
    comment = await api.comment(grace, "talk")
    url = f"/api/articles/talk/comments/{comment['id']}"

    by_article_author = await client.delete(url, headers=ada.headers)
    anonymous = await client.delete(url)
    by_comment_author = await client.delete(url, headers=grace.headers)
    again = await client.delete(url, headers=grace.headers)

    assert (by_article_author.status_code, anonymous.status_code) == (403, 401)
    assert by_article_author.json() == {
        "errors": {"body": ["only the author of a comment may delete it"]}
    }
    assert (by_comment_author.status_code, by_comment_author.content) == (204, b"")
    assert again.status_code == 404
    assert (await client.get("/api/articles/talk/comments")).json() == {"comments": []}


async def test_comment_routes_answer_404_for_unknown_or_mismatched_ids(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    await api.article(ada, "Talk")
    await api.article(ada, "Other")
    comment = await api.comment(ada, "talk")

    elsewhere = await client.delete(
        f"/api/articles/other/comments/{comment['id']}", headers=ada.headers
    )
    unknown_id = await client.delete("/api/articles/talk/comments/999999", headers=ada.headers)
    unknown_article = await client.get("/api/articles/nope/comments")
    add_to_unknown = await client.post(
        "/api/articles/nope/comments", headers=ada.headers, json={"comment": {"body": "x"}}
    )

    assert [r.status_code for r in (elsewhere, unknown_id, unknown_article, add_to_unknown)] == [
        404
    ] * 4
    assert elsewhere.json() == {"errors": {"body": ["comment not found"]}}


@pytest.mark.backends("sqlite")  # refused before any database work
async def test_comment_routes_validate_body_id_and_token(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    await api.article(ada, "Talk")

    empty = await client.post(
        "/api/articles/talk/comments", headers=ada.headers, json={"comment": {"body": " "}}
    )
    anonymous = await client.post("/api/articles/talk/comments", json={"comment": {"body": "x"}})
    bad_id = await client.delete("/api/articles/talk/comments/first", headers=ada.headers)

    assert (empty.status_code, anonymous.status_code, bad_id.status_code) == (422, 401, 422)
    assert empty.json()["errors"]["body"] == [
        "comment.body: String should have at least 1 character"
    ]
