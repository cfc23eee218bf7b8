"""What the earlier migrations of a revision did: the revision graph, walked in order."""

from __future__ import annotations

from collections.abc import Iterable

from ._context import Knowledge
from ._ops import Migration


def history_of(migrations: Iterable[Migration], *, dialect: str) -> dict[str, Knowledge]:
    """For each migration (by path), the knowledge left by its ancestors.

    Ancestors follow ``down_revision``; a merge revision sees all its
    branches. A migration without a revision identifier has no history.
    """
    by_revision = {m.revision: m for m in migrations if m.revision}
    after: dict[str, Knowledge] = {}

    def before(migration: Migration) -> Knowledge:
        knowledge = Knowledge()
        for parent in migration.down_revisions:
            if parent in after:
                knowledge.merge(after[parent])
        return knowledge

    for revision in _ordered(by_revision):
        migration = by_revision[revision]
        knowledge = before(migration)
        for operation in migration.operations:
            knowledge.apply(operation, dialect=dialect)
        after[revision] = knowledge
    return {m.path: before(m) for m in migrations}


def _ordered(by_revision: dict[str, Migration]) -> list[str]:
    """Revisions with every parent before its children (iterative: chains can be long)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: in progress, 2: done
    for root in by_revision:
        stack = [(root, False)]
        while stack:
            revision, expanded = stack.pop()
            if expanded:
                state[revision] = 2
                order.append(revision)
                continue
            if state.get(revision):
                continue
            state[revision] = 1
            stack.append((revision, True))
            for parent in by_revision[revision].down_revisions:
                if parent in by_revision and not state.get(parent):
                    stack.append((parent, False))
    return order
