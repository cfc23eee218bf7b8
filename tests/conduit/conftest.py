"""Conduit end to end: the app on a migrated database of each backend, driven over HTTP.

Every response any test receives is checked against the RealWorld spec
(``openapi.yml``, read from the shared folder beside the checkout) by
``SpecValidator``, an httpx response
hook: a body that does not match the spec's schema, or a status code the
spec does not give (beyond the 401/403/404/422 of the RealWorld docs), fails
the test that got it.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import referencing
import yaml
from fastapi import FastAPI
from referencing.jsonschema import DRAFT202012

from asqla import Database, DatabaseSettings

CONDUIT = Path(__file__).resolve().parents[2] / "examples" / "conduit"
sys.path.append(str(CONDUIT))  # last: the example shadows nothing

from conduit.main import create_app  # noqa: E402
from conduit.settings import ConduitSettings  # noqa: E402

from asqla.migrations import load_config, upgrade_async  # noqa: E402

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
SPEC_URI = "urn:conduit:openapi"
# The RealWorld spec is not copied into this repository: it is read from the
# project's shared folder, which sits beside the checkout (also in CI).
REALWORLD_SPEC = Path(
    os.environ.get(
        "ASQLA_REALWORLD_SPEC", CONDUIT.parents[2] / "shared" / "realworld" / "openapi.yml"
    )
)
if not REALWORLD_SPEC.is_file():
    raise pytest.UsageError(
        f"The RealWorld spec is not at {REALWORLD_SPEC}: the Conduit tests check every "
        "response against it. Set ASQLA_REALWORLD_SPEC to the path of openapi.yml."
    )
# Answers the RealWorld docs give to every endpoint, with the spec's error body.
ERROR_STATUSES = {"401", "403", "404", "422"}


class SpecValidator:
    """Check a response against the operation of ``openapi.yml`` that its request names."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = referencing.Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            SPEC_URI, resource
        )
        routes = []
        for path, operations in spec["paths"].items():
            pattern = re.compile("^/api" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for method, operation in operations.items():
                routes.append((path.count("{"), method.upper(), pattern, path, operation))
        # "/articles/feed" before "/articles/{slug}": fixed segments win.
        self.routes = sorted(routes, key=lambda route: route[0])
        self.seen: set[tuple[str, str, str]] = set()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for _, verb, pattern, template, operation in self.routes:
            if verb == method and pattern.match(path):
                return template, operation
        raise AssertionError(f"{method} {path} is not an operation of the spec")

    def check(self, method: str, path: str, status: int, body: bytes) -> None:
        template, operation = self.operation(method, path)
        code = str(status)
        self.seen.add((method, template, code))
        where = f"{method} {path} -> {status}"
        if code in ERROR_STATUSES:
            self._validate(body, "#/components/schemas/GenericErrorModel", where)
            return
        response = operation["responses"].get(code)
        assert response is not None, f"{where}: the spec gives no {status} for this operation"
        ref = response["$ref"]
        content = self._resolve(ref).get("content") or {}
        if "application/json" not in content:
            assert body == b"", f"{where}: the spec gives no body, got {body!r}"
            return
        pointer = ref + "/content/application~1json/schema"
        self._validate(body, pointer, where)

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/")]
        return dict(node)

    def _validate(self, body: bytes, pointer: str, where: str) -> None:
        validator = jsonschema.Draft202012Validator(
            {"$ref": SPEC_URI + pointer}, registry=self.registry, format_checker=FORMATS
        )
        errors = sorted(validator.iter_errors(_json(body, where)), key=str)
        assert not errors, f"{where}: the body does not match the spec: {errors[0].message}"


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # RFC 3339: a date, "T", a time and an offset (jsonschema checks date-time
    # only with an optional package; this is the part that matters here).
    if not isinstance(value, str):
        return True
    return "T" in value and datetime.fromisoformat(value).tzinfo is not None


def _json(body: bytes, where: str) -> Any:
    try:
        return httpx.Response(200, content=body).json()
    except ValueError as exc:
        raise AssertionError(f"{where}: the body is not JSON: {body[:200]!r}") from exc


@pytest.fixture(scope="session")
def spec() -> SpecValidator:
    return SpecValidator(yaml.safe_load(REALWORLD_SPEC.read_text(encoding="utf-8")))


@pytest.fixture
async def conduit_db(database_url: str) -> AsyncIterator[Database]:
    """The test database, migrated to head by asqla's Alembic integration."""
    db = Database(DatabaseSettings(url=database_url))
    await upgrade_async(db, config=load_config(CONDUIT))
    yield db
    await db.dispose()


@pytest.fixture
def settings(conduit_db: Database) -> ConduitSettings:
    return ConduitSettings(
        database=conduit_db.settings, jwt_secret=SECRET, password_profile="CHEAPEST"
    )


@pytest.fixture
async def app(settings: ConduitSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI, spec: SpecValidator) -> AsyncIterator[httpx.AsyncClient]:
    async def validate(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        spec.check(request.method, request.url.path, response.status_code, response.content)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://conduit.test", event_hooks={"response": [validate]}
    ) as client:
        yield client


@dataclass(frozen=True)
class Account:
    """A registered user: what tests send as ``Authorization``."""

    username: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


@dataclass
class Conduit:
    """Short-hands over the HTTP API, for the setup of a test (not for what it checks)."""

    client: httpx.AsyncClient
    _names: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    async def register(self, username: str | None = None) -> Account:
        username = username or f"user{next(self._names)}"
        email, password = f"{username}@example.org", f"pw-{username}"
        response = await self.client.post(
            "/api/users",
            json={"user": {"username": username, "email": email, "password": password}},
        )
        assert response.status_code == 201, response.text
        return Account(username, email, password, response.json()["user"]["token"])

    async def article(
        self, author: Account, title: str | None = None, *, tags: list[str] | None = None
    ) -> dict[str, Any]:
        title = title or f"Article {uuid.uuid4().hex[:8]}"
        body = {"title": title, "description": f"About {title}", "body": f"All of {title}"}
        response = await self.client.post(
            "/api/articles",
            headers=author.headers,
            json={"article": {**body, "tagList": tags or []}},
        )
        assert response.status_code == 201, response.text
        article: dict[str, Any] = response.json()["article"]
        return article

    async def comment(self, author: Account, slug: str, body: str = "Nice.") -> dict[str, Any]:
        response = await self.client.post(
            f"/api/articles/{slug}/comments",
            headers=author.headers,
            json={"comment": {"body": body}},
        )
        assert response.status_code == 200, response.text
        comment: dict[str, Any] = response.json()["comment"]
        return comment

    async def follow(self, follower: Account, followee: Account) -> None:
        url = f"/api/profiles/{followee.username}/follow"
        response = await self.client.post(url, headers=follower.headers)
        assert response.status_code == 200, response.text

    async def favorite(self, user: Account, slug: str) -> None:
        url = f"/api/articles/{slug}/favorite"
        response = await self.client.post(url, headers=user.headers)
        assert response.status_code == 200, response.text


@pytest.fixture
def api(client: httpx.AsyncClient) -> Conduit:
    return Conduit(client)
