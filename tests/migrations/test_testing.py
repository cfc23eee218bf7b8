"""The migration test helpers: they pass on sound migrations and name what is wrong otherwise."""

from __future__ import annotations

import pytest

from asqla import Database
from asqla.migrations import downgrade, new, upgrade
from asqla.migrations.testing import (
    assert_no_drift,
    assert_single_head,
    assert_stairway,
    assert_upgrade_downgrade_cycle,
    upgrade_database,
)

from .conftest import MODELS_WITH_BODY, Project

CREATE_T = "op.create_table('t', sa.Column('id', sa.Integer, primary_key=True))"


async def test_sound_migrations_pass_every_check(project: Project, db: Database) -> None:
    config = project.config()
    new(config, "initial")
    upgrade(config)
    project.write_models(MODELS_WITH_BODY)
    new(config, "add note.body")
    downgrade(config, "base")

    assert_single_head(config)
    await assert_upgrade_downgrade_cycle(db, config)
    downgrade(config, "base")
    await assert_stairway(db, config)
    await assert_no_drift(db, config)


@pytest.mark.backends("sqlite")
def test_two_heads_are_reported_with_their_files(project: Project) -> None:
    project.write_revision("r1", None, CREATE_T)
    project.write_revision("r2a", "r1", "pass")
    project.write_revision("r2b", "r1", "pass")
    with pytest.raises(AssertionError, match=r"2 heads: r2a \(.*r2a.py\), r2b .*merge heads"):
        assert_single_head(project.config())


async def test_a_downgrade_that_leaves_a_table_fails_the_cycle(
    project: Project, db: Database
) -> None:
    project.write_revision("r1", None, CREATE_T, "pass")
    with pytest.raises(AssertionError, match=r"table\(s\) \['t'\] are still there"):
        await assert_upgrade_downgrade_cycle(db, project.config())


async def test_a_downgrade_that_forgets_an_index_fails_the_stairway(
    project: Project, db: Database
) -> None:
    project.write_revision("r1", None, CREATE_T, "op.drop_table('t')")
    project.write_revision("r2", "r1", "op.create_index('ix_t_id', 't', ['id'])", "pass")
    with pytest.raises(AssertionError, match=r"Revision r2 \(r2\) failed the stairway"):
        await assert_stairway(db, project.config())


async def test_a_model_change_without_a_revision_is_drift(project: Project, db: Database) -> None:
    config = project.config()
    new(config, "initial")
    project.write_models(MODELS_WITH_BODY)
    with pytest.raises(
        AssertionError, match=r"(?s)differs from the models:\n  \+ column note.body"
    ):
        await assert_no_drift(db, config)


async def test_upgrade_database_migrates_a_url_for_test_set_up(
    project: Project, database_url: str
) -> None:
    project.write_revision("r1", None, CREATE_T, "op.drop_table('t')")
    run = await upgrade_database(database_url, project.root / "migrations")
    assert run.after == ("r1",)
