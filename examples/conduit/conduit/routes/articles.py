"""``/articles``: lists, the feed, and reading, writing and deleting one article."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from asqla.fastapi import ReadSession, Session
from asqla.repository import Page

from .. import schemas
from ..errors import forbidden
from ..models import Article
from ..repositories import ArticleRepository, TagRepository
from ..repositories.articles import MAX_PAGE
from ..security import CurrentUserId, OptionalUserId

router = APIRouter(prefix="/articles", tags=["Articles"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="The numbers of items to return.")]
Offset = Annotated[
    int, Query(ge=0, description="The number of items to skip before starting to collect.")
]


@router.get(
    "/feed", operation_id="GetArticlesFeed", summary="Get recent articles from users you follow"
)
async def feed(
    user_id: CurrentUserId, session: ReadSession, limit: Limit = 20, offset: Offset = 0
) -> schemas.MultipleArticlesResponse:
    page = await ArticleRepository(session, viewer=user_id).feed(limit=limit, offset=offset)
    return _articles(page)


@router.get("", operation_id="GetArticles", summary="Get recent articles globally")
async def list_articles(
    user_id: OptionalUserId,
    session: ReadSession,
    tag: Annotated[str | None, Query(description="Filter by tag")] = None,
    author: Annotated[str | None, Query(description="Filter by author (username)")] = None,
    favorited: Annotated[
        str | None, Query(description="Filter by favorites of a user (username)")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> schemas.MultipleArticlesResponse:
    asked = {"tags.name": tag, "author.username": author, "favorited_by.username": favorited}
    filters = ArticleRepository.parse_filters({k: v for k, v in asked.items() if v is not None})
    articles = ArticleRepository(session, viewer=user_id)
    return _articles(await articles.page(filters, limit=limit, offset=offset))


@router.post("", status_code=201, operation_id="CreateArticle", summary="Create an article")
async def create_article(
    request: schemas.NewArticleRequest, user_id: CurrentUserId, session: Session
) -> schemas.SingleArticleResponse:
    new = request.article
    tags = await TagRepository(session).ensure(new.tag_list)
    values = new.model_dump(exclude={"tag_list"})
    articles = ArticleRepository(session, viewer=user_id)
    article = await articles.create_titled({**values, "author_id": user_id}, tags=tags)
    return _article(await articles.view(article.slug))


@router.get("/{slug}", operation_id="GetArticle", summary="Get an article")
async def get_article(
    slug: str, user_id: OptionalUserId, session: ReadSession
) -> schemas.SingleArticleResponse:
    return _article(await ArticleRepository(session, viewer=user_id).view(slug))


@router.put("/{slug}", operation_id="UpdateArticle", summary="Update an article")
async def update_article(
    slug: str, request: schemas.UpdateArticleRequest, user_id: CurrentUserId, session: Session
) -> schemas.SingleArticleResponse:
    articles = ArticleRepository(session, viewer=user_id)
    article = await _own_article(articles, slug, user_id)
    changes = request.article.model_dump(exclude_unset=True, exclude_none=True)
    article = await articles.revise(article, changes)
    return _article(await articles.view(article.slug))


@router.delete(
    "/{slug}", status_code=204, operation_id="DeleteArticle", summary="Delete an article"
)
async def delete_article(slug: str, user_id: CurrentUserId, session: Session) -> None:
    articles = ArticleRepository(session)
    article = await _own_article(articles, slug, user_id)
    await articles.delete(article)  # one DELETE: the database cascades


async def _own_article(articles: ArticleRepository, slug: str, user_id: uuid.UUID) -> Article:
    article = await articles.by_slug(slug)
    if article.author_id != user_id:
        raise forbidden("only the author of an article may change or delete it")
    return article


def _article(article: Article) -> schemas.SingleArticleResponse:
    return schemas.SingleArticleResponse(article=schemas.Article.model_validate(article))


def _articles(page: Page[Article]) -> schemas.MultipleArticlesResponse:
    return schemas.MultipleArticlesResponse(
        articles=[schemas.ArticlePreview.model_validate(article) for article in page.items],
        articles_count=page.total or 0,
    )
