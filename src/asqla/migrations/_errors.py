"""The errors of the migration commands, defined in ``asqla.exceptions``."""

from __future__ import annotations

from ..exceptions import EmptyMigrationError, MigrationError, MigrationLockError

__all__ = ["EmptyMigrationError", "MigrationError", "MigrationLockError"]
