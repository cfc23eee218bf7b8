"""The tables: users who follow each other, write articles with tags, favorite and comment.

Built from asqla's conventions and mixins:

- ``Base`` has asqla's constraint naming convention and type map (aware UTC
  datetimes, native UUIDs), on a ``MetaData`` of its own: a service alone in
  its process can subclass ``asqla.model.Base`` itself, but this one shares
  a process with asqla's test suite, whose models would land in the same
  ``MetaData`` (and in its migrations' autogenerate).
- ``UUIDPrimaryKey`` (UUIDv7) on users and articles: ids are made in Python,
  so the seed writes users, articles and every row that points at them with
  ``bulk_insert``, without reading a key back.
- ``BigIntPrimaryKey`` on comments and tags: the spec says a comment's id is
  an integer.
- ``Timestamps`` for ``createdAt`` / ``updatedAt``, set by the database.

Every relationship is ``lazy="raise"``: what a response needs is loaded by the
query that reads it (see ``repositories``), and an attribute that was not is
an error at once instead of a hidden query per row. Per-viewer values
(``favorited``, ``following``) and the favorites count are
``query_expression()`` attributes that the reading query fills in.

Deletes cascade in the database (``ondelete="CASCADE"``, ``passive_deletes``):
deleting an article is one ``DELETE`` statement, its tags, favorites and
comments included.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Column, ForeignKey, Index, MetaData, String, Table, Text, false
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, relationship

from asqla.model import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    BigIntPrimaryKey,
    Timestamps,
    UUIDPrimaryKey,
)

__all__ = ["Article", "Base", "Comment", "Favorite", "Follow", "Tag", "User", "article_tags"]


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


def _user_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str] = mapped_column(String(1024), default="")

    following: Mapped[bool] = query_expression(default_expr=false())
    """Whether the viewer of the query follows this user."""


class Follow(Base):
    __tablename__ = "follows"

    follower_id: Mapped[uuid.UUID] = _user_fk()
    followee_id: Mapped[uuid.UUID] = _user_fk()

    # MySQL/MariaDB make an index for every foreign key that no index leads
    # with; declaring it keeps the models and the migrated schema identical.
    __table_args__ = (Index("ix_follows_followee_id", "followee_id"),)


class Tag(BigIntPrimaryKey, Base):
    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(64), unique=True)


article_tags = Table(
    "article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Favorite(Base):
    __tablename__ = "favorites"

    article_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = _user_fk()

    __table_args__ = (Index("ix_favorites_user_id", "user_id"),)


class Article(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "articles"

    slug: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))

    author: Mapped[User] = relationship(lazy="raise", innerjoin=True)
    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, order_by=Tag.name, lazy="raise", passive_deletes=True
    )
    # For the ?favorited= filter only; favorites are written as Favorite rows.
    favorited_by: Mapped[list[User]] = relationship(
        secondary="favorites", lazy="raise", viewonly=True
    )

    favorites_count: Mapped[int] = query_expression()
    """How many users favorited the article."""
    favorited: Mapped[bool] = query_expression(default_expr=false())
    """Whether the viewer of the query favorited the article."""

    __table_args__ = (
        # Newest first, the order of every list; and the same per author (feed, ?author=).
        Index("ix_articles_created_at_id", "created_at", "id"),
        Index("ix_articles_author_id_created_at", "author_id", "created_at"),
    )

    @property
    def tag_list(self) -> list[str]:
        """The tags' names, as the API shows them."""
        return [tag.name for tag in self.tags]


class Comment(BigIntPrimaryKey, Timestamps, Base):
    __tablename__ = "comments"

    body: Mapped[str] = mapped_column(Text)
    article_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )

    author: Mapped[User] = relationship(lazy="raise", innerjoin=True)
