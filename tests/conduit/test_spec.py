"""The app serves the spec's operations, and every response is checked against the spec.

``conftest.SpecValidator`` checks each response of every test; these tests
check the checker, the app's routes and its OpenAPI document, and walk every
operation of the spec once.
"""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from .conftest import Conduit, SpecValidator

pytestmark = pytest.mark.usefixtures("backend")


def _operations(spec: SpecValidator) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), "/api" + path): operation["operationId"]
        for path, operations in spec.spec["paths"].items()
        for method, operation in operations.items()
    }


@pytest.mark.backends("sqlite")
async def test_the_app_routes_exactly_the_spec_operations(
    app: FastAPI, spec: SpecValidator
) -> None:
    document = app.openapi()
    served = {
        (method.upper(), path): operation["operationId"]
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
    }

    assert served == _operations(spec)
    assert document["components"]["securitySchemes"]["Token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token <jwt>`, the token of a user response (register, login, "
        "current user).",
    }


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("method", "path", "status", "body", "message"),
    [
        pytest.param(
            "GET",
            "/api/profiles/ada",
            200,
            {"profile": {"username": "ada", "bio": "", "image": ""}},
            "'following' is a required property",
            id="missing-field",
        ),
        pytest.param(
            "GET",
            "/api/articles",
            200,
            {"articles": [], "articlesCount": "0"},
            "'0' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(
            "GET", "/api/tags", 201, {"tags": []}, "the spec gives no 201", id="undeclared-status"
        ),
        pytest.param(
            "GET", "/api/user", 401, {"detail": "no"}, "'errors' is a required", id="error-shape"
        ),
        pytest.param(
            "PATCH", "/api/user", 200, {}, "not an operation of the spec", id="undeclared-route"
        ),
        pytest.param(
            "GET",
            "/api/articles/x/comments",
            200,
            {
                "comments": [
                    {
                        "id": 1,
                        "body": "b",
                        "createdAt": "yesterday",
                        "updatedAt": "2024-01-01T00:00:00Z",
                        "author": {"username": "a", "bio": "", "image": "", "following": False},
                    }
                ]
            },
            "'yesterday' is not a 'date-time'",
            id="date-time",
        ),
        pytest.param(
            "DELETE",
            "/api/articles/x",
            204,
            {"deleted": True},
            "the spec gives no body",
            id="body-on-204",
        ),
    ],
)
def test_the_spec_validator_refuses_what_the_spec_does_not_allow(
    spec: SpecValidator, method: str, path: str, status: int, body: object, message: str
) -> None:
    content = json.dumps(body).encode() if status != 204 else b'{"deleted": true}'

    with pytest.raises(AssertionError, match=message):
        spec.check(method, path, status, content)


async def test_a_tour_of_every_operation(
    api: Conduit, client: httpx.AsyncClient, spec: SpecValidator
) -> None:
    """Call each operation of the spec once, as a client of the API would."""
    calls: list[tuple[str, str]] = []

    async def call(method: str, path: str, expected: int, **kwargs: object) -> httpx.Response:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == expected, (method, path, response.text)
        calls.append((method, path))
        return response

    registered = await call(
        "POST", "/api/users", 201,
        json={"user": {"username": "jake", "email": "jake@jake.jake", "password": "jakejake"}},
    )  # fmt: skip
    await api.register("jane")
    login = await call(
        "POST", "/api/users/login", 200,
        json={"user": {"email": "jake@jake.jake", "password": "jakejake"}},
    )  # fmt: skip
    jake = {"Authorization": f"Token {login.json()['user']['token']}"}
    assert registered.json()["user"]["username"] == login.json()["user"]["username"]
    await call("GET", "/api/user", 200, headers=jake)
    await call(
        "PUT", "/api/user", 200, headers=jake, json={"user": {"bio": "I like to skateboard"}}
    )
    await call("GET", "/api/profiles/jane", 200, headers=jake)
    await call("POST", "/api/profiles/jane/follow", 200, headers=jake)
    await call("DELETE", "/api/profiles/jane/follow", 200, headers=jake)
    new = {"title": "How to train your dragon", "description": "Ever wonder how?",
           "body": "Very carefully.", "tagList": ["training", "dragons"]}  # fmt: skip
    slug = (await call("POST", "/api/articles", 201, headers=jake, json={"article": new})).json()[
        "article"
    ]["slug"]
    await call("GET", "/api/articles", 200)
    await call("GET", "/api/articles/feed", 200, headers=jake)
    await call("GET", f"/api/articles/{slug}", 200)
    await call("PUT", f"/api/articles/{slug}", 200, headers=jake,
               json={"article": {"body": "With two hands."}})  # fmt: skip
    await call("POST", f"/api/articles/{slug}/favorite", 200, headers=jake)
    await call("DELETE", f"/api/articles/{slug}/favorite", 200, headers=jake)
    comment = await call("POST", f"/api/articles/{slug}/comments", 200, headers=jake,
                         json={"comment": {"body": "Thank you so much!"}})  # fmt: skip
    await call("GET", f"/api/articles/{slug}/comments", 200)
    comment_id = comment.json()["comment"]["id"]
    await call("DELETE", f"/api/articles/{slug}/comments/{comment_id}", 204, headers=jake)
    await call("GET", "/api/tags", 200)
    await call("DELETE", f"/api/articles/{slug}", 204, headers=jake)

    operations = {spec.operation(method, path)[0] + " " + method for method, path in calls}
    every = {path + " " + method.upper()
             for path, ops in spec.spec["paths"].items() for method in ops}  # fmt: skip
    assert operations == every
