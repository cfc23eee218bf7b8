"""Articles, their tags and favorites.

A list of articles is two statements whatever its length: the page (each
article with its author joined in, and ``favoritesCount``, ``favorited`` and
``following`` as correlated subqueries of the same SELECT, and the total of the
list as ``COUNT(*) OVER ()``), and the tags of the page's articles
(``selectinload``: one ``IN`` query). An offset past the end adds a COUNT.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import exists, func, select
from sqlalchemy.orm import defer, selectinload, with_expression
from sqlalchemy.orm.interfaces import ORMOption

from asqla import AsyncSession, NotFoundError, UniqueViolationError
from asqla.repository import (
    Criterion,
    FilterSpec,
    OffsetPagination,
    Page,
    PageOptions,
    Repository,
)
from asqla.transactions import savepoint

from ..models import Article, Favorite, Follow, Tag, article_tags
from ._viewer import with_author

__all__ = ["MAX_PAGE", "ArticleRepository", "FavoriteRepository", "TagRepository", "slugs"]

MAX_PAGE: Final = 100
"""The largest ``limit`` a list accepts."""

_PAGES: Final = PageOptions(max_limit=MAX_PAGE)
# The id breaks ties in the same direction, so that the (created_at, id)
# index serves the order in one backward scan.
_NEWEST_FIRST: Final = (Article.created_at.desc(), Article.id.desc())
_SLUG_ATTEMPTS: Final = 5

T = TypeVar("T")


class ArticleRepository(Repository[Article]):
    """Articles as ``viewer`` sees them (anonymous when ``None``).

    The filters of ``GET /articles`` are declared here, so that nothing else
    of the query string reaches SQL: ``tag``, ``author`` and ``favorited``
    map to relationship paths, each an ``EXISTS`` subquery.
    """

    filters = FilterSpec(
        {"tags.name": ["eq"], "author.username": ["eq"], "favorited_by.username": ["eq"]}
    )

    def __init__(self, session: AsyncSession, *, viewer: uuid.UUID | None = None) -> None:
        super().__init__(session)
        self.viewer = viewer

    async def page(self, *criteria: Criterion, limit: int, offset: int) -> Page[Article]:
        """Return the articles matching ``criteria``, newest first, without their bodies."""
        return await self.list(
            *criteria,
            sort=_NEWEST_FIRST,
            # The total rides on the page query (COUNT(*) OVER ()): one round trip.
            page=OffsetPagination(limit=limit, offset=offset, count="window", options=_PAGES),
            load=self._view(body=False),
        )

    async def feed(self, *, limit: int, offset: int) -> Page[Article]:
        """Return the articles of the authors the viewer follows, newest first."""
        followed = select(Follow.followee_id).where(Follow.follower_id == self.viewer)
        return await self.page(Article.author_id.in_(followed), limit=limit, offset=offset)

    async def view(self, slug: str) -> Article:
        """Return the article with its body, author, tags and counts; two statements.

        Raises:
            NotFoundError: No article has this slug (a 404).
        """
        statement = (
            select(Article)
            .where(Article.slug == slug)
            .options(*self._view(body=True))
            # The per-viewer values are computed by this query: they replace
            # whatever an earlier statement of the request left in the session.
            .execution_options(populate_existing=True)
        )
        return _found((await self.session.scalars(statement)).one_or_none(), slug)

    async def by_slug(self, slug: str) -> Article:
        """Return the article at ``slug``, its columns only: to check or change it."""
        return _found(await self.get_by_or_none(slug=slug), slug)

    async def id_of(self, slug: str) -> uuid.UUID:
        """Return the id of the article at ``slug``, loading nothing else."""
        return _found(
            await self.session.scalar(select(Article.id).where(Article.slug == slug)), slug
        )

    async def create_titled(self, values: Mapping[str, Any], *, tags: Sequence[Tag]) -> Article:
        """Insert an article under the first free slug made from its title.

        Each attempt runs in a SAVEPOINT: when a concurrent request took the
        slug first, the unique constraint refuses the INSERT, the savepoint
        undoes it, and the next candidate is tried, in the same transaction.
        """
        for slug in slugs(values["title"]):
            async with savepoint(self.session, suppress=(UniqueViolationError,)) as attempt:
                article = await self.create(Article(**values, slug=slug, tags=list(tags)))
            if not attempt.rolled_back:
                return article
        raise _slug_exhausted(values["title"])

    async def revise(self, article: Article, changes: Mapping[str, Any]) -> Article:
        """Apply ``changes``; a new title moves the article to a free slug made from it."""
        if "title" not in changes or changes["title"] == article.title:
            return await self.update(article, changes)
        for slug in slugs(changes["title"]):
            async with savepoint(self.session, suppress=(UniqueViolationError,)) as attempt:
                await self.update(article, {**changes, "slug": slug})
            if not attempt.rolled_back:
                return article
        raise _slug_exhausted(changes["title"])

    def _view(self, *, body: bool) -> list[ORMOption]:
        options = [*_SHOWN, with_author(Article.author, self.viewer)]
        if self.viewer is not None:
            mine = exists().where(
                Favorite.article_id == Article.id, Favorite.user_id == self.viewer
            )
            options.append(with_expression(Article.favorited, mine))
        if not body:
            options.append(_NO_BODY)
        return options


# What every view of an article loads, whoever looks: built once, as building
# a loader option costs tens of microseconds (with_expression() over 100).
_SHOWN: Final = (
    selectinload(Article.tags),
    with_expression(
        Article.favorites_count,
        select(func.count()).where(Favorite.article_id == Article.id).scalar_subquery(),
    ),
)
_NO_BODY: Final = defer(Article.body, raiseload=True)


class TagRepository(Repository[Tag]):
    async def ensure(self, names: Sequence[str]) -> list[Tag]:
        """Return the tags named ``names``, creating the missing ones; one statement.

        Sorted, so that two requests lock the rows of shared tags in the same
        order and cannot deadlock.
        """
        if not names:
            return []
        rows = [{"name": name} for name in sorted(set(names))]
        tags = await self.upsert_many(rows, conflict=["name"], update=[])
        # A case-insensitive collation (MariaDB's default) maps "Go" and "go"
        # to one row: keep each row once.
        return list({tag.id: tag for tag in tags}.values())

    async def popular(self) -> list[str]:
        """Return the names of the tags in use, most used first."""
        statement = (
            select(Tag.name)
            .join(article_tags, article_tags.c.tag_id == Tag.id)
            .group_by(Tag.id, Tag.name)
            .order_by(func.count().desc(), Tag.name)
        )
        return list((await self.session.scalars(statement)).all())


class FavoriteRepository(Repository[Favorite]):
    async def add(self, *, user_id: uuid.UUID, article_id: uuid.UUID) -> None:
        """Favorite the article; favoriting it again changes nothing."""
        await self.upsert({"user_id": user_id, "article_id": article_id}, update=[])

    async def remove(self, *, user_id: uuid.UUID, article_id: uuid.UUID) -> None:
        """Unfavorite the article, if it was a favorite."""
        await self.delete_where([Favorite.user_id == user_id, Favorite.article_id == article_id])


def slugs(title: str) -> Iterator[str]:
    """Yield slugs for ``title``: its own, then with a random suffix.

    ``"How to train your dragon?"`` gives ``how-to-train-your-dragon``, then
    ``how-to-train-your-dragon-3f9a1c``... Letters of any script are kept.
    """
    words = unicodedata.normalize("NFKC", title).lower()
    base = re.sub(r"[\W_]+", "-", words).strip("-")[:200].rstrip("-") or "article"
    yield base
    for _ in range(_SLUG_ATTEMPTS - 1):
        yield f"{base}-{secrets.token_hex(3)}"


def _found(found: T | None, slug: str) -> T:
    if found is None:
        raise NotFoundError(f"Article {slug!r} not found.")
    return found


def _slug_exhausted(title: str) -> UniqueViolationError:
    return UniqueViolationError(
        f"No free slug for the title {title!r} after {_SLUG_ATTEMPTS} attempts. "
        "Retry the request, or choose another title."
    )
