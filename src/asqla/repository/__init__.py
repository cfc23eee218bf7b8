"""Repositories over a session, filters from untrusted input, pagination and bulk writes.

Example::

    from asqla.repository import FilterSpec, KeysetPagination, Repository

    class UserRepository(Repository[User]):
        filters = FilterSpec(name=["eq", "contains"])
        sortable = ("created_at", "name")

    page = await UserRepository(session).list(
        UserRepository.parse_filters(params), sort="-created_at",
        page=KeysetPagination(limit=20, after=cursor),
    )
"""

from __future__ import annotations

from ..exceptions import InvalidRowError as InvalidRowError
from ._reads import ReadRepository as ReadRepository
from ._repository import Repository as Repository
from ._stream import Stream as Stream
from ._stream import stream as stream
from .bulk import bulk_insert as bulk_insert
from .filters import OPERATORS as OPERATORS
from .filters import Condition as Condition
from .filters import FilterSet as FilterSet
from .filters import FilterSpec as FilterSpec
from .filters import Operator as Operator
from .filters import Sort as Sort
from .filters import SortField as SortField
from .loading import Criterion as Criterion
from .loading import KeysetPagination as KeysetPagination
from .loading import Load as Load
from .loading import Lock as Lock
from .loading import OffsetPagination as OffsetPagination
from .loading import Order as Order
from .pagination import CountStrategy as CountStrategy
from .pagination import CursorSigner as CursorSigner
from .pagination import Page as Page
from .pagination import PageOptions as PageOptions
from .pagination import SortKey as SortKey
from .pagination import paginate_keyset as paginate_keyset
from .pagination import paginate_offset as paginate_offset

__all__ = [
    "OPERATORS",
    "Condition",
    "CountStrategy",
    "Criterion",
    "CursorSigner",
    "FilterSet",
    "FilterSpec",
    "InvalidRowError",
    "KeysetPagination",
    "Load",
    "Lock",
    "OffsetPagination",
    "Operator",
    "Order",
    "Page",
    "PageOptions",
    "ReadRepository",
    "Repository",
    "Sort",
    "SortField",
    "SortKey",
    "Stream",
    "bulk_insert",
    "paginate_keyset",
    "paginate_offset",
    "stream",
]
