"""``/articles/{slug}/comments``: reading, adding and deleting comments."""

from __future__ import annotations

from fastapi import APIRouter

from asqla.fastapi import ReadSession, Session

from .. import schemas
from ..errors import forbidden, not_found
from ..repositories import ArticleRepository, CommentRepository
from ..security import CurrentUserId, OptionalUserId

router = APIRouter(prefix="/articles/{slug}/comments", tags=["Comments"])


@router.get("", operation_id="GetArticleComments", summary="Get comments for an article")
async def list_comments(
    slug: str, user_id: OptionalUserId, session: ReadSession
) -> schemas.MultipleCommentsResponse:
    article_id = await ArticleRepository(session).id_of(slug)
    comments = await CommentRepository(session, viewer=user_id).on_article(article_id)
    return schemas.MultipleCommentsResponse(
        comments=[schemas.Comment.model_validate(comment) for comment in comments]
    )


@router.post("", operation_id="CreateArticleComment", summary="Create a comment for an article")
async def add_comment(
    slug: str, request: schemas.NewCommentRequest, user_id: CurrentUserId, session: Session
) -> schemas.SingleCommentResponse:
    article_id = await ArticleRepository(session).id_of(slug)
    comments = CommentRepository(session, viewer=user_id)
    values = {"body": request.comment.body, "article_id": article_id, "author_id": user_id}
    comment = await comments.create(values)
    return schemas.SingleCommentResponse(
        comment=schemas.Comment.model_validate(await comments.view(comment.id))
    )


@router.delete(
    "/{id}",
    status_code=204,
    operation_id="DeleteArticleComment",
    summary="Delete a comment for an article",
)
async def delete_comment(slug: str, id: int, user_id: CurrentUserId, session: Session) -> None:
    article_id = await ArticleRepository(session).id_of(slug)
    comments = CommentRepository(session)
    comment = await comments.get_or_none(id)
    if comment is None or comment.article_id != article_id:
        raise not_found("comment")
    if comment.author_id != user_id:
        raise forbidden("only the author of a comment may delete it")
    await comments.delete(comment.id)
