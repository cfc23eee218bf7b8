"""Remove from autogenerate's operations the ones that dropping a table already does.

For a table that a revision drops, Alembic renders ``op.drop_index()`` for
each of its indexes before ``op.drop_table()``. Dropping the table drops its
indexes and constraints on every backend, so these operations are redundant,
and on MySQL/MariaDB they fail: an index that backs a foreign key cannot be
dropped while the foreign key exists (error 1553, "needed in a foreign key
constraint"). The downgrade of a revision that creates a table with a
foreign key, the usual first revision, then fails.

Only operations on the dropped table itself go: a foreign key of another
table that points at it still has to be dropped first, and stays.
"""

from __future__ import annotations

from alembic.operations.ops import (
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    MigrateOperation,
    ModifyTableOps,
    OpContainer,
)

__all__ = ["drop_redundant_operations"]


def drop_redundant_operations(container: OpContainer) -> None:
    """Remove the drops of a dropped table's indexes and constraints from ``container``.

    ``container`` is an ``UpgradeOps`` or a ``DowngradeOps``; both directions
    can drop a table (a model removed, or the downgrade of its creation).
    """
    dropped = {
        (operation.schema, operation.table_name)
        for operation in container.ops
        if isinstance(operation, DropTableOp)
    }
    if dropped:
        container.ops = _kept(container.ops, dropped)


def _kept(
    operations: list[MigrateOperation], dropped: set[tuple[str | None, str]]
) -> list[MigrateOperation]:
    kept: list[MigrateOperation] = []
    for operation in operations:
        if isinstance(operation, DropIndexOp | DropConstraintOp):
            if (operation.schema, operation.table_name) in dropped:
                continue
        elif isinstance(operation, ModifyTableOps) and operation.ops:
            # Autogenerate groups the operations on one table in a ModifyTableOps
            # (rendered as batch_alter_table on SQLite); one left empty goes too.
            operation.ops = _kept(operation.ops, dropped)
            if not operation.ops:
                continue
        kept.append(operation)
    return kept
