"""Favorites: idempotent, counted, per viewer, only for a logged-in user."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Conduit

pytestmark = pytest.mark.usefixtures("backend")


async def test_favorite_and_unfavorite_are_idempotent_and_counted(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace, alan = await api.register("ada"), await api.register("grace"), await api.register()
    slug = (await api.article(ada, "Popular"))["slug"]
    url = f"/api/articles/{slug}/favorite"

    twice = [await client.post(url, headers=grace.headers) for _ in range(2)]
    other = await client.post(url, headers=alan.headers)
    removed = [await client.delete(url, headers=grace.headers) for _ in range(2)]

    assert [r.status_code for r in [*twice, other, *removed]] == [200] * 5
    state = [
        (r.json()["article"]["favorited"], r.json()["article"]["favoritesCount"]) for r in twice
    ]
    assert state == [(True, 1), (True, 1)]
    assert other.json()["article"]["favoritesCount"] == 2
    state = [
        (r.json()["article"]["favorited"], r.json()["article"]["favoritesCount"]) for r in removed
    ]
    assert state == [(False, 1), (False, 1)]
    seen_by_alan = (await client.get(f"/api/articles/{slug}", headers=alan.headers)).json()
    assert (seen_by_alan["article"]["favorited"], seen_by_alan["article"]["favoritesCount"]) == (
        True,
        1,
    )


async def test_favorites_show_in_lists_for_the_viewer(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace = await api.register("ada"), await api.register("grace")
    await api.article(ada, "liked")
    await api.article(ada, "ignored")
    await api.favorite(grace, "liked")

    articles = (await client.get("/api/articles", headers=grace.headers)).json()["articles"]

    assert [(a["slug"], a["favorited"], a["favoritesCount"]) for a in articles] == [
        ("ignored", False, 0),
        ("liked", True, 1),
    ]


async def test_favorite_needs_a_user_and_an_existing_article(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    await api.article(ada, "There")

    anonymous = await client.post("/api/articles/there/favorite")
    unknown = await client.post("/api/articles/nope/favorite", headers=ada.headers)
    unknown_delete = await client.delete("/api/articles/nope/favorite", headers=ada.headers)

    assert anonymous.status_code == 401
    assert (unknown.status_code, unknown_delete.status_code) == (404, 404)
