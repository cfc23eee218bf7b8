"""Models, data and helpers for the doctor's scenario suite.

The models live on their own ``MetaData`` so that ``create_all`` creates
only them. Every relationship is left ``lazy="select"``, as most code bases
have them: the doctor is what tells.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import pytest
from sqlalchemy import ForeignKey, MetaData, String, insert
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship

from asqla import Database
from asqla.doctor import Finding
from asqla.model import NAMING_CONVENTION

USERS = 4
POSTS_PER_USER = 3
COMMENTS_PER_POST = 2


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Model):
    __tablename__ = "doc_user"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.id")
    notes: WriteOnlyMapped[Note] = relationship(order_by="Note.id")


class Post(Model):
    __tablename__ = "doc_post"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("doc_user.id"), index=True)
    title: Mapped[str] = mapped_column(String(50))
    author: Mapped[User] = relationship(back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(order_by="Comment.id")


class Comment(Model):
    __tablename__ = "doc_comment"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    post_id: Mapped[int] = mapped_column(ForeignKey("doc_post.id"), index=True)
    body: Mapped[str] = mapped_column(String(50))


class Note(Model):
    __tablename__ = "doc_note"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("doc_user.id"), index=True)
    text: Mapped[str] = mapped_column(String(50))


@pytest.fixture
async def seeded(db: Database) -> Database:
    """``db`` with 4 users, 3 posts each, 2 comments per post and 2 notes per user."""
    await db.create_all(Model.metadata)
    users = [{"id": u, "name": f"user {u}"} for u in ids()]
    posts = [
        {"id": (u - 1) * POSTS_PER_USER + p, "user_id": u, "title": f"post {u}.{p}"}
        for u in ids()
        for p in range(1, POSTS_PER_USER + 1)
    ]
    comments = [
        {"id": (post["id"] - 1) * COMMENTS_PER_POST + c, "post_id": post["id"], "body": "hi"}
        for post in posts
        for c in range(1, COMMENTS_PER_POST + 1)
    ]
    notes = [{"id": u * 10 + n, "user_id": u, "text": "note"} for u in ids() for n in (1, 2)]
    async with db.session() as session:
        await session.execute(insert(User), users)
        await session.execute(insert(Post), posts)
        await session.execute(insert(Comment), comments)
        await session.execute(insert(Note), notes)
    return db


def ids() -> list[int]:
    """The users' ids."""
    return list(range(1, USERS + 1))


def here() -> str:
    """``"path:line"`` of the caller's next line, as the doctor renders locations."""
    frame = sys._getframe(1)
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno + 1}"


def line_of(offset: int) -> str:
    """``"path:line"`` of the caller's line ``offset`` lines below this call."""
    frame = sys._getframe(1)
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno + offset}"


def kinds(findings: Sequence[Finding]) -> list[str]:
    return [finding.kind for finding in findings]


def only(findings: Sequence[Finding], kind: str) -> Finding:
    """Return the one finding of ``kind``; fail if there are none or several."""
    matching = [finding for finding in findings if finding.kind == kind]
    assert len(matching) == 1, f"expected one {kind}, got {[f.message for f in findings]}"
    return matching[0]
