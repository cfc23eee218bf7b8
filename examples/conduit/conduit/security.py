"""Passwords (argon2id), tokens (JWT) and the ``Authorization: Token <jwt>`` dependencies."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import argon2
import jwt
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from .settings import PasswordProfile

__all__ = [
    "CurrentUserId",
    "OptionalUserId",
    "Passwords",
    "PasswordsDep",
    "Tokens",
    "TokensDep",
    "unauthorized",
]

_ALGORITHM = "HS256"


class Passwords:
    """Hash and check passwords with argon2id, off the event loop.

    A hash takes tens of milliseconds of CPU on purpose: run in a thread, it
    does not stall the other requests of the worker.
    """

    def __init__(self, profile: PasswordProfile) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(getattr(argon2.profiles, profile))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Issue and read the JWTs that identify a user: ``{"sub": user id, "exp": ...}``."""

    secret: str
    lifetime: timedelta

    def issue(self, user_id: uuid.UUID) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self.lifetime}
        return jwt.encode(claims, self.secret, algorithm=_ALGORITHM)

    def read(self, token: str) -> uuid.UUID:
        """Return the user id of a valid token.

        Raises:
            HTTPException: 401, the token is malformed, forged or expired.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
            return uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired: log in again.") from None
        except (jwt.InvalidTokenError, ValueError):
            raise unauthorized("The token is not valid: log in again.") from None


def unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Token"})


# async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread
# hop per request for what takes microseconds.
async def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


async def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


TokensDep = Annotated[Tokens, Depends(_tokens)]
PasswordsDep = Annotated[Passwords, Depends(_passwords)]

_authorization = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="`Token <jwt>`, the token of a user response (register, login, current user).",
    auto_error=False,
)


async def _optional_user_id(
    tokens: TokensDep, authorization: Annotated[str | None, Security(_authorization)]
) -> uuid.UUID | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme != "Token" or not token:
        raise unauthorized("Send the token as `Authorization: Token <jwt>`.")
    return tokens.read(token.strip())


async def _current_user_id(
    user_id: Annotated[uuid.UUID | None, Depends(_optional_user_id)],
) -> uuid.UUID:
    if user_id is None:
        raise unauthorized("This needs a logged-in user: send `Authorization: Token <jwt>`.")
    return user_id


OptionalUserId = Annotated[uuid.UUID | None, Depends(_optional_user_id)]
"""The id of the user the token names, or ``None`` without a token (401 for a bad one)."""

CurrentUserId = Annotated[uuid.UUID, Depends(_current_user_id)]
"""The id of the user the token names; 401 without a valid token."""
