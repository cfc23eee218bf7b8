"""A user's profile as another user sees it: its columns, and the ``following`` flag.

``following`` is computed inside the query that reads the profile, as a
correlated ``EXISTS``; never a query of its own.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, Final

from sqlalchemy import ColumnElement, exists, false
from sqlalchemy.orm import QueryableAttribute, joinedload, load_only, with_expression
from sqlalchemy.orm.interfaces import ORMOption

from ..models import Follow, User

__all__ = ["following", "profile", "with_author"]


def following(viewer: uuid.UUID) -> ColumnElement[bool]:
    """``EXISTS`` a follow from ``viewer`` to the ``User`` row of the enclosing query."""
    return exists().where(Follow.follower_id == viewer, Follow.followee_id == User.id)


def profile(viewer: uuid.UUID | None) -> tuple[ORMOption, ...]:
    """Loader options that read a ``User`` as ``viewer`` sees the profile.

    Only the profile's columns are read (no email, no password hash); an
    anonymous viewer follows nobody.
    """
    if viewer is None:
        return _ANONYMOUS
    return _COLUMNS, with_expression(User.following, following(viewer))


def with_author(author: QueryableAttribute[Any], viewer: uuid.UUID | None) -> ORMOption:
    """Join the author in, as ``viewer`` sees the profile.

    SQLAlchemy adapts ``following`` to the join's alias of ``users``.
    """
    if viewer is None:
        return _anonymous_author(author)
    return joinedload(author).options(_COLUMNS, with_expression(User.following, following(viewer)))


_COLUMNS: Final = load_only(User.username, User.bio, User.image, raiseload=True)
_ANONYMOUS: Final = (_COLUMNS, with_expression(User.following, false()))


@functools.cache
def _anonymous_author(author: QueryableAttribute[Any]) -> ORMOption:
    # The same for every anonymous request: built once, not per request.
    return joinedload(author).options(_COLUMNS, with_expression(User.following, false()))
