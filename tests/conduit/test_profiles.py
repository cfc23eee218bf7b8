"""Profiles, and following: idempotent, per viewer, only for a logged-in user."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Conduit

pytestmark = pytest.mark.usefixtures("backend")


async def test_profile_shows_following_as_the_viewer_sees_it(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada, grace, alan = await api.register("ada"), await api.register("grace"), await api.register()
    await api.follow(grace, ada)

    anonymous = await client.get("/api/profiles/ada")
    follower = await client.get("/api/profiles/ada", headers=grace.headers)
    other = await client.get("/api/profiles/ada", headers=alan.headers)

    assert anonymous.json() == {
        "profile": {"username": "ada", "bio": "", "image": "", "following": False}
    }
    assert follower.json()["profile"]["following"] is True
    assert other.json()["profile"]["following"] is False


async def test_unknown_profile_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/profiles/nobody")

    assert response.status_code == 404
    assert response.json() == {"errors": {"body": ["Profile 'nobody' not found."]}}


async def test_follow_and_unfollow_are_idempotent(api: Conduit, client: httpx.AsyncClient) -> None:
    await api.register("ada")
    grace = await api.register("grace")
    url = "/api/profiles/ada/follow"

    followed = [await client.post(url, headers=grace.headers) for _ in range(2)]
    after_follow = await client.get("/api/profiles/ada", headers=grace.headers)
    unfollowed = [await client.delete(url, headers=grace.headers) for _ in range(2)]
    after_unfollow = await client.get("/api/profiles/ada", headers=grace.headers)

    assert [r.status_code for r in followed + unfollowed] == [200, 200, 200, 200]
    assert [r.json()["profile"]["following"] for r in followed] == [True, True]
    assert [r.json()["profile"]["following"] for r in unfollowed] == [False, False]
    assert after_follow.json()["profile"]["following"] is True
    assert after_unfollow.json()["profile"]["following"] is False


async def test_follow_needs_a_user_an_existing_profile_and_another_person(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    anonymous = await client.post("/api/profiles/ada/follow")
    unknown = await client.post("/api/profiles/nobody/follow", headers=ada.headers)
    unfollow_unknown = await client.delete("/api/profiles/nobody/follow", headers=ada.headers)
    yourself = await client.post("/api/profiles/ada/follow", headers=ada.headers)

    assert anonymous.status_code == 401
    assert (unknown.status_code, unfollow_unknown.status_code) == (404, 404)
    assert yourself.status_code == 422
    assert yourself.json() == {"errors": {"body": ["you cannot follow yourself"]}}
