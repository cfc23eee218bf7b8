"""Request and response bodies, named and shaped as in the RealWorld spec (``openapi.yml``).

Fields are snake_case in Python and camelCase on the wire (``tagList``,
``createdAt``, ``favoritesCount``). Responses are read straight from the ORM
objects (``from_attributes``): what they need was loaded by the query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "Article",
    "ArticlePreview",
    "Comment",
    "GenericErrorModel",
    "LoginUser",
    "LoginUserRequest",
    "MultipleArticlesResponse",
    "MultipleCommentsResponse",
    "NewArticle",
    "NewArticleRequest",
    "NewComment",
    "NewCommentRequest",
    "NewUser",
    "NewUserRequest",
    "Profile",
    "ProfileResponse",
    "SingleArticleResponse",
    "SingleCommentResponse",
    "TagsResponse",
    "UpdateArticle",
    "UpdateArticleRequest",
    "UpdateUser",
    "UpdateUserRequest",
    "User",
    "UserResponse",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.-]+$")
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
]
# argon2 takes any length; the cap keeps one request from hashing megabytes.
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1024)]


class _Request(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel), frozen=True
    )


class _Response(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(serialization_alias=to_camel), from_attributes=True
    )


# Requests


class LoginUser(_Request):
    email: Email
    password: Password


class LoginUserRequest(_Request):
    user: LoginUser


class NewUser(_Request):
    username: Username
    email: Email
    password: Password


class NewUserRequest(_Request):
    user: NewUser


class UpdateUser(_Request):
    email: Email | None = None
    password: Password | None = None
    username: Username | None = None
    bio: str | None = None
    image: Url | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateUser:
        if not self.model_fields_set:
            raise ValueError("give at least one of email, password, username, bio, image")
        return self


class UpdateUserRequest(_Request):
    user: UpdateUser


class NewArticle(_Request):
    title: Title
    description: Text
    body: Text
    tag_list: Annotated[list[TagName], Field(max_length=20)] = []


class NewArticleRequest(_Request):
    article: NewArticle


class UpdateArticle(_Request):
    title: Title | None = None
    description: Text | None = None
    body: Text | None = None


class UpdateArticleRequest(_Request):
    article: UpdateArticle


class NewComment(_Request):
    body: Text


class NewCommentRequest(_Request):
    comment: NewComment


# Responses


class User(_Response):
    email: str
    token: str
    username: str
    bio: str
    image: str


class UserResponse(_Response):
    user: User


class Profile(_Response):
    username: str
    bio: str
    image: str
    following: bool


class ProfileResponse(_Response):
    profile: Profile


class ArticlePreview(_Response):
    """An article in a list: everything but its body, as the spec's list response."""

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: datetime
    updated_at: datetime
    favorited: bool
    favorites_count: int
    author: Profile


class Article(ArticlePreview):
    body: str


class SingleArticleResponse(_Response):
    article: Article


class MultipleArticlesResponse(_Response):
    articles: list[ArticlePreview]
    articles_count: int


class Comment(_Response):
    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: Profile


class SingleCommentResponse(_Response):
    comment: Comment


class MultipleCommentsResponse(_Response):
    comments: list[Comment]


class TagsResponse(_Response):
    tags: list[str]


class _Errors(_Response):
    body: list[str]


class GenericErrorModel(_Response):
    """Every error body: ``{"errors": {"body": ["what went wrong"]}}``."""

    errors: _Errors
