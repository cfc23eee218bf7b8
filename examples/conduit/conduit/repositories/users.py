"""Users, their profiles as another user sees them, and follows."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select

from asqla import AsyncSession, NotFoundError
from asqla.repository import Repository

from ..models import Follow, User
from ._viewer import profile

__all__ = ["FollowRepository", "UserRepository"]


class UserRepository(Repository[User]):
    async def by_email(self, email: str) -> User | None:
        return await self.get_by_or_none(email=email)

    async def by_username(self, username: str) -> User:
        """Return the user named ``username``.

        Raises:
            NotFoundError: No user has this name (a 404).
        """
        return _found(await self.get_by_or_none(username=username), username)

    async def profile(self, username: str, *, viewer: uuid.UUID | None) -> User:
        """Return the user named ``username`` with ``following`` as ``viewer`` sees it."""
        statement = (
            select(User)
            .where(User.username == username)
            .options(*profile(viewer))
            .execution_options(populate_existing=True)
        )
        return _found((await self.session.scalars(statement)).one_or_none(), username)

    async def taken(
        self, *, username: str | None, email: str | None, other_than: uuid.UUID | None = None
    ) -> list[str]:
        """Return which of ``username`` and ``email`` another user has; one statement.

        The database compares, with its own collation: on MariaDB, whose
        default collation ignores case, ``Ada`` is taken when ``ada`` exists.
        """
        others = [User.id != other_than] if other_than is not None else []
        wanted = {"username": username, "email": email}
        checks = {
            field: exists().where(getattr(User, field) == value, *others)
            for field, value in wanted.items()
            if value is not None
        }
        if not checks:
            return []
        row = (await self.session.execute(select(*checks.values()))).one()
        return [field for field, is_taken in zip(checks, row, strict=True) if is_taken]


class FollowRepository(Repository[Follow]):
    def __init__(self, session: AsyncSession, *, follower: uuid.UUID) -> None:
        super().__init__(session)
        self.follower = follower

    async def follow(self, user: User) -> None:
        """Follow ``user``; following again changes nothing."""
        await self.upsert({"follower_id": self.follower, "followee_id": user.id}, update=[])

    async def unfollow(self, user: User) -> None:
        """Stop following ``user``, if followed."""
        await self.delete_where(
            [Follow.follower_id == self.follower, Follow.followee_id == user.id]
        )


def _found(user: User | None, username: str) -> User:
    if user is None:
        raise NotFoundError(f"Profile {username!r} not found.")
    return user
