"""``/profiles/{username}``: profiles, and following or unfollowing their users."""

from __future__ import annotations

from fastapi import APIRouter

from asqla.fastapi import ReadSession, Session

from .. import schemas
from ..errors import unprocessable
from ..models import User
from ..repositories import FollowRepository, UserRepository
from ..security import CurrentUserId, OptionalUserId

router = APIRouter(prefix="/profiles/{username}", tags=["Profile"])


@router.get("", operation_id="GetProfileByUsername", summary="Get a profile")
async def get_profile(
    username: str, user_id: OptionalUserId, session: ReadSession
) -> schemas.ProfileResponse:
    user = await UserRepository(session).profile(username, viewer=user_id)
    return schemas.ProfileResponse(profile=schemas.Profile.model_validate(user))


@router.post("/follow", operation_id="FollowUserByUsername", summary="Follow a user")
async def follow(
    username: str, user_id: CurrentUserId, session: Session
) -> schemas.ProfileResponse:
    user = await UserRepository(session).by_username(username)
    if user.id == user_id:
        raise unprocessable("you cannot follow yourself")
    await FollowRepository(session, follower=user_id).follow(user)
    return _profile(user, following=True)


@router.delete("/follow", operation_id="UnfollowUserByUsername", summary="Unfollow a user")
async def unfollow(
    username: str, user_id: CurrentUserId, session: Session
) -> schemas.ProfileResponse:
    user = await UserRepository(session).by_username(username)
    await FollowRepository(session, follower=user_id).unfollow(user)
    return _profile(user, following=False)


def _profile(user: User, *, following: bool) -> schemas.ProfileResponse:
    return schemas.ProfileResponse(
        profile=schemas.Profile(
            username=user.username, bio=user.bio, image=user.image, following=following
        )
    )
