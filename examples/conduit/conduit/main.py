"""``create_app()``: the Conduit service, assembled.

Run it with uvicorn's factory mode, after migrating the database::

    uvicorn --factory conduit.main:create_app
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from asqla import Database
from asqla.fastapi import health_router, install, lifespan

from .errors import add_error_handlers
from .routes import api
from .security import Passwords, Tokens
from .settings import ConduitSettings

__all__ = ["create_app"]

DESCRIPTION = """\
The [RealWorld](https://realworld-docs.netlify.app/) "Conduit" API, built on
asqla: a Medium-like blogging backend with users, profiles, follows,
articles, tags, favorites and comments.

Authenticate with the token of a user response: `Authorization: Token <jwt>`.
"""


def create_app(settings: ConduitSettings | None = None) -> FastAPI:
    """Build the app on the database of ``settings`` (default: from the environment)."""
    settings = settings or ConduitSettings()
    db = Database(settings.database)
    app = FastAPI(
        title="Conduit",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan(db),
        openapi_url="/api/openapi.json",
    )
    install(app, db)  # a unit of work per request, and asqla's error handlers
    add_error_handlers(app)  # the spec's error body for 401, 403, 404, 422
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip
    app.state.tokens = Tokens(settings.signing_key(), settings.token_lifetime)
    app.state.passwords = Passwords(settings.password_profile)
    app.include_router(api, prefix="/api")
    app.include_router(health_router(db))  # GET /health/db
    return app
