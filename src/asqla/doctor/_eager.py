"""Loader options: read the eager loads a query asked for, and write the one that fixes an N+1."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.orm.interfaces import MANYTOONE

from ._records import Eager

__all__ = ["attribute_name", "eager_paths", "loader_chain", "strategy_for"]

# The strategy keys of SQLAlchemy's loader options (orm/strategy_options.py).
_EAGER: Final[dict[tuple[Any, ...], str]] = {
    (("lazy", "selectin"),): "selectinload",
    (("lazy", "joined"),): "joinedload",
    (("lazy", "subquery"),): "subqueryload",
    (("lazy", "immediate"),): "immediateload",
}


def attribute_name(prop: RelationshipProperty[Any]) -> str:
    """Return ``"Class.attribute"`` for a relationship."""
    return f"{prop.parent.class_.__name__}.{prop.key}"


def eager_paths(statement: Any) -> tuple[Eager, ...]:
    """Return the eager loads asked for by ``statement``'s loader options.

    Reads ``Load.context`` (one ``_LoadElement`` per hop, each with its
    ``path`` and ``strategy``), SQLAlchemy 2.x's own representation of
    ``selectinload(A.b).joinedload(B.c)``. Mapper-level defaults
    (``relationship(lazy="selectin")``) are not options and are not listed:
    the model audit reports those.
    """
    found: list[Eager] = []
    for option in getattr(statement, "_with_options", ()):
        for element in getattr(option, "context", ()):
            strategy = _EAGER.get(tuple(getattr(element, "strategy", None) or ()))
            path = getattr(getattr(element, "path", None), "natural_path", ())
            props = tuple(p for p in path[1::2] if isinstance(p, RelationshipProperty))
            if strategy and props and len(props) == len(path[1::2]):
                found.append(Eager(props, strategy))
    return tuple(found)


def strategy_for(prop: RelationshipProperty[Any]) -> str:
    """Return the loader that fits a relationship's shape.

    ``selectinload`` for collections: one extra query for all parents, no row
    multiplication. ``joinedload`` for a many-to-one: the JOIN adds columns,
    not rows, and saves the round trip (``selectinload`` works too, and is
    better when many parents share a few targets).
    """
    return "joinedload" if prop.direction is MANYTOONE and not prop.uselist else "selectinload"


def loader_chain(path: tuple[RelationshipProperty[Any], ...], existing: tuple[Eager, ...]) -> str:
    """Return the loader option for ``path``, keeping the strategies the query already uses.

    ``selectinload(User.posts).selectinload(Post.comments)``: each hop the
    query already loads eagerly keeps its strategy, the others get the one
    that fits their shape.
    """
    known = {eager.path: eager.strategy for eager in existing}
    hops = []
    for depth, prop in enumerate(path, start=1):
        strategy = known.get(path[:depth]) or strategy_for(prop)
        hops.append(f"{strategy}({attribute_name(prop)})")
    return ".".join(hops)
