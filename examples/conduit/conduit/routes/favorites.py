"""``/articles/{slug}/favorite``: favoriting and unfavoriting, both idempotent."""

from __future__ import annotations

from fastapi import APIRouter

from asqla.fastapi import Session

from .. import schemas
from ..models import Article
from ..repositories import ArticleRepository, FavoriteRepository
from ..security import CurrentUserId

router = APIRouter(prefix="/articles/{slug}/favorite", tags=["Favorites"])


@router.post("", operation_id="CreateArticleFavorite", summary="Favorite an article")
async def favorite(
    slug: str, user_id: CurrentUserId, session: Session
) -> schemas.SingleArticleResponse:
    articles = ArticleRepository(session, viewer=user_id)
    await FavoriteRepository(session).add(user_id=user_id, article_id=await articles.id_of(slug))
    return _article(await articles.view(slug))


@router.delete("", operation_id="DeleteArticleFavorite", summary="Unfavorite an article")
async def unfavorite(
    slug: str, user_id: CurrentUserId, session: Session
) -> schemas.SingleArticleResponse:
    articles = ArticleRepository(session, viewer=user_id)
    await FavoriteRepository(session).remove(user_id=user_id, article_id=await articles.id_of(slug))
    return _article(await articles.view(slug))


def _article(article: Article) -> schemas.SingleArticleResponse:
    return schemas.SingleArticleResponse(article=schemas.Article.model_validate(article))
