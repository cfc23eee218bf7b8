"""Comments, with their authors as the viewer sees them."""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy import select

from asqla import AsyncSession
from asqla.repository import Repository

from ..models import Comment
from ._viewer import with_author

__all__ = ["CommentRepository"]

_NEWEST_FIRST: Final = (Comment.created_at.desc(), Comment.id.desc())


class CommentRepository(Repository[Comment]):
    """Comments as ``viewer`` sees their authors (anonymous when ``None``)."""

    def __init__(self, session: AsyncSession, *, viewer: uuid.UUID | None = None) -> None:
        super().__init__(session)
        self.viewer = viewer

    async def on_article(self, article_id: uuid.UUID) -> list[Comment]:
        """Return the article's comments, newest first, with their authors; one statement."""
        return await self.list(
            Comment.article_id == article_id,
            sort=_NEWEST_FIRST,
            load=[with_author(Comment.author, self.viewer)],
        )

    async def view(self, comment_id: int) -> Comment:
        """Return one comment with its author, as read after writing it."""
        statement = (
            select(Comment)
            .where(Comment.id == comment_id)
            .options(with_author(Comment.author, self.viewer))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one()
