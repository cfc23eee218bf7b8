"""The test database's schema: the project's migrations when it has them, else its models."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from ..database import Database
from ..exceptions import ConfigurationError
from ._settings import import_object

__all__ = ["SchemaSource", "build_schema", "load_metadata"]

logger = logging.getLogger("asqla.testing")

SchemaSource = Literal["migrations", "metadata", "none"]


def load_metadata(references: Sequence[str], *, project_dir: Path) -> list[MetaData]:
    """Import ``[tool.asqla] models``: declarative bases or ``MetaData`` objects."""
    found: list[MetaData] = []
    for reference in references:
        value = import_object(reference, project_dir=project_dir, key="models")
        metadata = value if isinstance(value, MetaData) else getattr(value, "metadata", None)
        if not isinstance(metadata, MetaData):
            raise ConfigurationError(
                f"[tool.asqla] models = {reference!r} is a {type(value).__name__}, not a "
                "declarative base nor a MetaData. Name the base class your models inherit "
                'from, such as "app.models:Base".'
            )
        found.append(metadata)
    return found


async def build_schema(
    url: URL, *, metadata: Sequence[MetaData], migrations: Path | None
) -> SchemaSource:
    """Create the schema of an empty test database; return how it was built.

    The project's migrations run (to head) when it has a migrations directory
    with an ``env.py``: the tests then run on the schema production gets.
    Otherwise the tables come from ``metadata`` (``create_all``); with
    neither, the database stays empty.
    """
    if migrations is not None:
        upgrade = _migrations_upgrade()
        if upgrade is not None:
            await upgrade(url, migrations)
            return "migrations"
        logger.warning(
            "asqla: %s holds migrations, but Alembic is not installed to run them; "
            "the test schema comes from the models instead (pip install alembic)",
            migrations,
        )
    if not metadata:
        return "none"
    database = Database(url.render_as_string(hide_password=False))
    try:
        for each in metadata:
            await database.create_all(each)
    finally:
        await database.dispose()
    return "metadata"


def _migrations_upgrade() -> Callable[[URL, Path], Awaitable[object]] | None:
    """asqla's ``upgrade_database(url, directory)``; ``None`` when Alembic is not installed."""
    try:
        from ..migrations.testing import upgrade_database
    except ImportError:
        return None
    return upgrade_database
