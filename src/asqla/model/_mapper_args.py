"""Let several mixins contribute to ``__mapper_args__`` without overwriting each other."""

from __future__ import annotations

from typing import Any

__all__ = ["inherited_mapper_args"]


def inherited_mapper_args(cls: Any, mixin: type[Any]) -> dict[str, Any]:
    """Return a copy of the ``__mapper_args__`` that ``mixin`` would shadow on ``cls``.

    Declarative reads ``cls.__mapper_args__`` once, so only the first mixin
    in the MRO that defines it is asked. Each asqla mixin asks the next one
    through ``super()`` and adds its own keys, so that
    ``class M(Timestamps, Versioned, Base)`` gets the arguments of both.
    """
    args = getattr(super(mixin, cls), "__mapper_args__", None)
    return dict(args) if args else {}
