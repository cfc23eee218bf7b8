"""Registration, login, the current user and its update."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from conduit.models import User
from conduit.security import Tokens
from sqlalchemy import select

from asqla import Database

from .conftest import SECRET, Conduit

pytestmark = pytest.mark.usefixtures("backend")


async def test_register_returns_the_user_with_a_token_that_authenticates(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/users",
        json={"user": {"username": "ada", "email": "Ada@Example.org", "password": "engine"}},
    )

    assert response.status_code == 201
    user = response.json()["user"]
    assert (user["username"], user["email"], user["bio"], user["image"]) == (
        "ada",
        "ada@example.org",  # emails are compared and stored in lower case
        "",
        "",
    )
    current = await client.get("/api/user", headers={"Authorization": f"Token {user['token']}"})
    assert current.json()["user"]["username"] == "ada"


async def test_register_stores_an_argon2_hash_never_the_password(
    api: Conduit, conduit_db: Database
) -> None:

    await api.register("ada")

    async with conduit_db.session() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "pw-ada" not in stored


@pytest.mark.parametrize(
    ("user", "taken"),
    [
        pytest.param({"username": "ada", "email": "other@example.org"}, "username", id="username"),
        pytest.param({"username": "other", "email": "ADA@example.org"}, "email", id="email"),
    ],
)
async def test_register_refuses_a_taken_username_or_email(
    api: Conduit, client: httpx.AsyncClient, user: dict[str, str], taken: str
) -> None:
    await api.register("ada")

    response = await client.post("/api/users", json={"user": {**user, "password": "x"}})

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": [f"{taken} has already been taken"]}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({}, "user: Field required", id="no-envelope"),
        pytest.param(
            {"user": {"username": "ada", "password": "x"}}, "user.email: Field required", id="email"
        ),
        pytest.param(
            {"user": {"username": "", "email": "a@b.c", "password": "x"}},
            "user.username: String should have at least 1 character",
            id="empty-username",
        ),
        pytest.param(
            {"user": {"username": "ada", "email": "not-an-email", "password": "x"}},
            "user.email: String should match pattern",
            id="bad-email",
        ),
    ],
)
@pytest.mark.backends("sqlite")  # refused before any database work
async def test_register_validates_the_body(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    response = await client.post("/api/users", json=body)

    assert response.status_code == 422
    assert response.json()["errors"]["body"][0].startswith(message)


async def test_login_with_the_right_password_returns_a_fresh_token(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    response = await client.post(
        "/api/users/login", json={"user": {"email": "ADA@example.org", "password": ada.password}}
    )

    assert response.status_code == 200
    user = response.json()["user"]
    assert user["username"] == "ada"
    assert jwt.decode(user["token"], SECRET, algorithms=["HS256"])["sub"]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("ada@example.org", "wrong", id="wrong-password"),
        pytest.param("nobody@example.org", "pw-ada", id="unknown-email"),
    ],
)
async def test_login_refuses_wrong_credentials_with_401(
    api: Conduit, client: httpx.AsyncClient, email: str, password: str
) -> None:
    await api.register("ada")

    response = await client.post(
        "/api/users/login", json={"user": {"email": email, "password": password}}
    )

    assert response.status_code == 401
    assert response.json() == {"errors": {"body": ["Wrong email or password."]}}


async def test_login_rehashes_a_password_hashed_with_older_parameters(
    api: Conduit, client: httpx.AsyncClient, conduit_db: Database
) -> None:
    from conduit.models import User

    ada = await api.register("ada")
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(ada.password)
    async with conduit_db.session() as session:
        (await session.scalars(select(User))).one().password_hash = old

    response = await client.post(
        "/api/users/login", json={"user": {"email": ada.email, "password": ada.password}}
    )

    assert response.status_code == 200
    async with conduit_db.session() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored != old
    assert stored is not None and stored.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        pytest.param(None, "This needs a logged-in user", id="missing"),
        pytest.param("Bearer abc", "Send the token as `Authorization: Token <jwt>`", id="scheme"),
        pytest.param("Token not.a.jwt", "The token is not valid", id="garbage"),
        pytest.param("forged", "The token is not valid", id="forged"),
        pytest.param("expired", "The token has expired", id="expired"),
    ],
)
@pytest.mark.backends("sqlite")  # refused before any database work
async def test_current_user_needs_a_valid_token(
    api: Conduit, client: httpx.AsyncClient, authorization: str | None, message: str
) -> None:

    ada = await api.register("ada")
    user_id = jwt.decode(ada.token, SECRET, algorithms=["HS256"])["sub"]
    if authorization == "forged":
        forged = Tokens("another-secret-that-is-long-enough-for-hs256", timedelta(days=1))
        authorization = f"Token {forged.issue(user_id)}"
    elif authorization == "expired":
        expired = Tokens(SECRET, timedelta(seconds=-1))
        authorization = f"Token {expired.issue(user_id)}"
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get("/api/user", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json()["errors"]["body"][0].startswith(message)


async def test_update_user_changes_only_the_fields_given(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    response = await client.put(
        "/api/user",
        headers=ada.headers,
        json={"user": {"bio": "Analyst", "image": "https://example.org/ada.png"}},
    )

    assert response.status_code == 200
    user = response.json()["user"]
    assert (user["username"], user["email"], user["bio"], user["image"]) == (
        "ada",
        "ada@example.org",
        "Analyst",
        "https://example.org/ada.png",
    )


async def test_update_user_password_and_email_then_log_in_with_them(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    response = await client.put(
        "/api/user",
        headers=ada.headers,
        json={"user": {"email": "countess@example.org", "password": "new-password"}},
    )
    assert response.status_code == 200

    old = await client.post(
        "/api/users/login", json={"user": {"email": ada.email, "password": ada.password}}
    )
    new = await client.post(
        "/api/users/login",
        json={"user": {"email": "countess@example.org", "password": "new-password"}},
    )
    assert (old.status_code, new.status_code) == (401, 200)


async def test_update_user_refuses_another_users_name_but_not_its_own(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")
    await api.register("grace")

    taken = await client.put("/api/user", headers=ada.headers, json={"user": {"username": "grace"}})
    own = await client.put("/api/user", headers=ada.headers, json={"user": {"username": "ada"}})

    assert taken.status_code == 422
    assert taken.json() == {"errors": {"body": ["username has already been taken"]}}
    assert own.status_code == 200


async def test_update_user_needs_a_field_and_a_token(
    api: Conduit, client: httpx.AsyncClient
) -> None:
    ada = await api.register("ada")

    empty = await client.put("/api/user", headers=ada.headers, json={"user": {}})
    anonymous = await client.put("/api/user", json={"user": {"bio": "x"}})

    assert empty.status_code == 422
    assert "give at least one of" in empty.json()["errors"]["body"][0]
    assert anonymous.status_code == 401
