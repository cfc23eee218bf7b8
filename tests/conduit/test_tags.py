"""Tags: those in use, most used first."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Conduit

pytestmark = pytest.mark.usefixtures("backend")


async def test_tags_are_those_in_use_most_used_first(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    assert (await client.get("/api/tags")).json() == {"tags": []}
    await api.article(ada, "a", tags=["zeta", "alpha"])
    await api.article(ada, "b", tags=["zeta", "beta"])
    await api.article(ada, "c", tags=["zeta", "beta", "gamma"])
    await api.article(ada, "d", tags=["gone"])
    await client.delete("/api/articles/d", headers=ada.headers)

    response = await client.get("/api/tags")

    assert response.status_code == 200
    assert response.json() == {"tags": ["zeta", "beta", "alpha", "gamma"]}
