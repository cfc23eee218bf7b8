"""How the service is configured: the JWT secret and a browser front end's origin."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from conduit.main import create_app
from conduit.settings import ConduitSettings

from asqla import DatabaseSettings


def _settings(tmp_path: Path, **options: str) -> ConduitSettings:
    database = DatabaseSettings(url=f"sqlite:///{tmp_path / 'app.db'}")
    return ConduitSettings(database=database, **options)  # type: ignore[arg-type]


def test_without_a_jwt_secret_a_random_one_is_generated_and_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)

    with caplog.at_level(logging.WARNING, logger="conduit"):
        first, second = settings.signing_key(), settings.signing_key()

    assert first != second
    assert len(first) >= 32
    assert "CONDUIT_JWT_SECRET is not set" in caplog.text
    assert first not in caplog.text


def test_a_configured_jwt_secret_is_used_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDUIT_JWT_SECRET", "from-the-environment-and-long-enough")
    settings = _settings(tmp_path)

    with caplog.at_level(logging.WARNING, logger="conduit"):
        key = settings.signing_key()

    assert key == "from-the-environment-and-long-enough"
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("origins", "allowed"),
    [
        pytest.param('["http://localhost:4200"]', "http://localhost:4200", id="configured"),
        pytest.param(None, None, id="none-by-default"),
    ],
)
async def test_cors_answers_the_configured_origins_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origins: str | None, allowed: str | None
) -> None:

    if origins is not None:
        monkeypatch.setenv("CONDUIT_CORS_ORIGINS", origins)
    app = create_app(_settings(tmp_path, jwt_secret="x" * 32))
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
        response = await client.options(
            "/api/articles",
            headers={
                "Origin": "http://localhost:4200",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    assert response.headers.get("access-control-allow-origin") == allowed
