"""The schema comes from the example's Alembic revisions, through asqla's integration."""

from __future__ import annotations

import pytest

from asqla import Database
from asqla.migrations import check_async, downgrade_async, load_config, upgrade_async

from .conftest import CONDUIT

pytestmark = pytest.mark.usefixtures("backend")


async def test_the_migrated_schema_is_the_models(conduit_db: Database) -> None:
    diff = await check_async(conduit_db, config=load_config(CONDUIT))

    assert diff.ok, diff.differences


async def test_the_revisions_go_down_to_nothing_and_up_again(conduit_db: Database) -> None:
    config = load_config(CONDUIT)

    down = await downgrade_async(conduit_db, "base", config=config)
    up = await upgrade_async(conduit_db, config=config)

    assert down.after == ()
    assert up.after == down.before
    assert (await check_async(conduit_db, config=config)).ok
