"""``/users``, ``/users/login`` and ``/user``: registration, login and the current user."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from asqla import UniqueViolationError
from asqla.fastapi import ReadSession, Session

from .. import schemas
from ..errors import unprocessable
from ..models import User
from ..repositories import UserRepository
from ..security import CurrentUserId, PasswordsDep, TokensDep, unauthorized

router = APIRouter(tags=["User and Authentication"])


@router.post("/users/login", operation_id="Login", summary="Existing user login")
async def login(
    request: schemas.LoginUserRequest,
    read_session: ReadSession,
    session: Session,
    passwords: PasswordsDep,
    tokens: TokensDep,
) -> schemas.UserResponse:
    credentials = request.user
    user = await UserRepository(read_session).by_email(credentials.email)
    if user is None or not await passwords.verify(user.password_hash, credentials.password):
        raise unauthorized("Wrong email or password.")
    if passwords.needs_rehash(user.password_hash):
        # The write session opens a transaction only now, after the slow check.
        new_hash = await passwords.hash(credentials.password)
        await UserRepository(session).update(user.id, {"password_hash": new_hash})
    return _user_response(user, tokens.issue(user.id))


@router.post("/users", status_code=201, operation_id="CreateUser", summary="Register a new user")
async def register(
    request: schemas.NewUserRequest, session: Session, passwords: PasswordsDep, tokens: TokensDep
) -> schemas.UserResponse:
    new = request.user
    # Hashed first: the slow part runs before the transaction starts.
    password_hash = await passwords.hash(new.password)
    users = UserRepository(session)
    await _refuse_taken(users, username=new.username, email=new.email)
    try:
        user = await users.create(
            {"username": new.username, "email": new.email, "password_hash": password_hash}
        )
    except UniqueViolationError:  # registered by a concurrent request since the check
        raise unprocessable("username or email has already been taken") from None
    return _user_response(user, tokens.issue(user.id))


@router.get("/user", operation_id="GetCurrentUser", summary="Get current user")
async def current_user(
    user_id: CurrentUserId, session: ReadSession, tokens: TokensDep
) -> schemas.UserResponse:
    user = await UserRepository(session).get_or_none(user_id)
    if user is None:
        raise unauthorized("The token's user no longer exists.")
    return _user_response(user, tokens.issue(user.id))


@router.put("/user", operation_id="UpdateCurrentUser", summary="Update current user")
async def update_current_user(
    request: schemas.UpdateUserRequest,
    user_id: CurrentUserId,
    session: Session,
    passwords: PasswordsDep,
    tokens: TokensDep,
) -> schemas.UserResponse:
    changes = request.user.model_dump(exclude_unset=True)
    if "password" in changes:
        changes["password_hash"] = await passwords.hash(changes.pop("password"))
    users = UserRepository(session)
    await _refuse_taken(
        users, username=changes.get("username"), email=changes.get("email"), other_than=user_id
    )
    for text in ("bio", "image"):
        if text in changes and changes[text] is None:
            changes[text] = ""
    try:
        user = await users.update(user_id, changes)
    except UniqueViolationError:
        raise unprocessable("username or email has already been taken") from None
    return _user_response(user, tokens.issue(user.id))


async def _refuse_taken(
    users: UserRepository,
    *,
    username: str | None,
    email: str | None,
    other_than: uuid.UUID | None = None,
) -> None:
    taken = await users.taken(username=username, email=email, other_than=other_than)
    if taken:
        raise unprocessable(*(f"{field} has already been taken" for field in taken))


def _user_response(user: User, token: str) -> schemas.UserResponse:
    return schemas.UserResponse(
        user=schemas.User(
            email=user.email, token=token, username=user.username, bio=user.bio, image=user.image
        )
    )
