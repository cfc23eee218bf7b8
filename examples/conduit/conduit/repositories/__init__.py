"""Every query the API runs, one repository per model, each loading what its response shows.

Repositories read and write through the session they are given and never
commit: the request's unit of work does (asqla's ``Session`` dependency).
Reads for a viewer take the viewer's id, so that ``following`` and
``favorited`` come from the same statement as the rows they describe.
"""

from .articles import ArticleRepository as ArticleRepository
from .articles import FavoriteRepository as FavoriteRepository
from .articles import TagRepository as TagRepository
from .comments import CommentRepository as CommentRepository
from .users import FollowRepository as FollowRepository
from .users import UserRepository as UserRepository

__all__ = [
    "ArticleRepository",
    "CommentRepository",
    "FavoriteRepository",
    "FollowRepository",
    "TagRepository",
    "UserRepository",
]
