"""EXPLAIN read into one shape on every backend, and the plan of slow_query findings."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import MetaData, String, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.doctor import DoctorOptions, assert_max_queries, doctor
from asqla.doctor._explain import explain, read_mysql, read_postgresql, read_sqlite
from asqla.doctor._slow_plan import explain_slow

from .conftest import kinds


class Model(DeclarativeBase):
    metadata = MetaData()


class Item(Model):
    __tablename__ = "plan_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str] = mapped_column(String(20))


@pytest.fixture
async def items(db: Database) -> Database:
    await db.create_all(Model.metadata)
    rows = [{"id": i, "code": f"c{i}", "label": f"label {i % 50}"} for i in range(1, 2001)]
    async with db.session() as session:
        await session.execute(insert(Item), rows)
    return db


async def test_a_lookup_by_an_indexed_column_is_an_index_scan(items: Database) -> None:
    plan = await explain(items, select(Item).where(Item.code == "c7"))

    (node,) = [n for n in plan.nodes if n.access != "other"]
    assert node.access == "index_scan"
    assert node.index == "ix_plan_item_code"
    assert "plan_item" in (node.table, node.alias)
    assert plan.full_scans == ()


async def test_a_filter_on_a_column_without_index_is_a_full_scan(items: Database) -> None:
    plan = await explain(items, select(Item).where(Item.label == "label 3"))

    (node,) = plan.full_scans
    assert "plan_item" in (node.table, node.alias)
    assert node.index is None
    assert "plan_item" in str(plan)


async def test_a_captured_statement_and_sql_text_can_be_explained(items: Database) -> None:
    async with items.session() as session, doctor() as report:
        await session.scalars(select(Item).where(Item.label == "label 3"))
    (statement,) = [s for s in report.statements if not s.transaction_control]

    from_capture = await explain(items, statement)
    from_text = await explain(items, statement.sql, statement.parameters)

    assert [n.access for n in from_capture.full_scans] == ["full_scan"]
    assert from_text.nodes == from_capture.nodes


async def test_explain_on_a_session_sees_its_uncommitted_rows_and_is_not_counted(
    items: Database,
) -> None:
    async with items.session() as session, doctor() as report:
        session.add(Item(id=9001, code="new", label="new"))
        await session.flush()
        before = report.query_count
        plan = await explain(session, select(Item).where(Item.code == "new"))
        assert report.query_count == before  # the doctor's own EXPLAIN is not the app's
        assert (await session.get(Item, 9001)) is not None

    assert plan.nodes


async def test_what_explain_cannot_plan_is_refused(items: Database) -> None:
    with pytest.raises(
        ValueError, match=r"EXPLAIN plans SELECT, WITH, UPDATE and DELETE .*'INSERT"
    ):
        await explain(items, "INSERT INTO plan_item (id) VALUES (1)")


async def test_a_slow_query_finding_carries_its_plan_and_the_index_advice(
    items: Database,
) -> None:
    options = DoctorOptions(slow_query=0.0)  # every statement is "slow"
    async with doctor(options=options) as report, items.session() as session:
        await session.scalars(select(Item).where(Item.label == "label 3"))
        await session.get(Item, 1)
        session.add(Item(id=9002, code="x", label="x"))

    slow = {f.statement.split()[0]: f for f in report.findings if f.statement}
    assert set(kinds(report.findings)) == {"slow_query"}
    scan = next(f for f in report.findings if "label" in (f.statement or "").split("WHERE")[-1])
    assert scan.detail is not None and "\n    plan: " in scan.detail
    assert scan.fix is not None and "CREATE INDEX" in scan.fix and "ix_plan_item_label" in scan.fix
    assert "op.create_index" in scan.fix
    assert "INSERT" in slow and slow["INSERT"].fix is None  # EXPLAIN does not plan an INSERT
    assert json.loads(json.dumps(report.to_dict()))["findings"][0]["kind"] == "slow_query"


async def test_a_budget_explains_its_slow_statements_too(items: Database) -> None:
    options = DoctorOptions(slow_query=0.0)
    async with items.session() as session:
        with assert_max_queries(5, options=options) as report:
            await session.scalars(select(Item).where(Item.label == "label 3"))

    (finding,) = report.findings
    assert finding.kind == "slow_query"
    assert finding.fix is not None and "ix_plan_item_label" in finding.fix


@pytest.mark.backends("postgresql")
async def test_a_failing_explain_leaves_the_transaction_usable(items: Database) -> None:
    async with items.engine.begin() as connection:
        await connection.execute(text("SELECT 1"))
        slow = await connection.run_sync(
            lambda sync: explain_slow(sync, "SELECT * FROM no_such_table", (), None)
        )
        assert slow is not None and slow.plan is None
        assert slow.error is not None and "no_such_table" in slow.error
        # Without the savepoint the transaction would now be aborted.
        assert (await connection.execute(text("SELECT 2"))).scalar() == 2


def test_postgresql_plans_are_read_into_nodes() -> None:
    document = [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Total Cost": 120.5,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Parent Relationship": "Outer",
                        "Relation Name": "user",
                        "Alias": "u",
                        "Plan Rows": 10,
                        "Filter": "(name = 'x'::text)",
                    },
                    {
                        "Node Type": "Index Scan",
                        "Parent Relationship": "Inner",
                        "Relation Name": "post",
                        "Alias": "post",
                        "Index Name": "ix_post_user_id",
                        "Index Cond": "(user_id = u.id)",
                        "Plan Rows": 3,
                    },
                ],
            }
        }
    ]
    plan = read_postgresql(json.dumps(document))

    loop, outer, inner = plan.nodes
    assert (loop.access, plan.cost) == ("other", 120.5)
    assert (outer.access, outer.table, outer.alias, outer.inner) == (
        "full_scan",
        "user",
        "u",
        False,
    )
    assert (inner.access, inner.index, inner.inner) == ("index_scan", "ix_post_user_id", True)
    assert str(outer) == "Seq Scan on user as u (~10 rows) where (name = 'x'::text)"


def test_an_index_scan_without_a_condition_is_a_full_scan() -> None:
    plan = read_postgresql(
        [{"Plan": {"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_pkey"}}]
    )
    assert plan.nodes[0].access == "full_scan"


def test_mysql_plans_are_read_into_nodes_with_their_warnings() -> None:
    document = {
        "query_block": {
            "select_id": 1,
            "nested_loop": [
                {"table": {"table_name": "u", "access_type": "ALL", "rows": 1000}},
                {
                    "table": {
                        "table_name": "p",
                        "access_type": "ref",
                        "possible_keys": ["ix_p_user_id"],
                        "key": "ix_p_user_id",
                        "rows": 3,
                    }
                },
            ],
        }
    }
    plan = read_mysql(json.dumps(document), ("Cannot use key ...",))

    outer, inner = plan.nodes
    assert (outer.access, outer.alias, outer.inner) == ("full_scan", "u", False)
    assert (inner.access, inner.index, inner.candidates, inner.inner) == (
        "index_scan",
        "ix_p_user_id",
        ("ix_p_user_id",),
        True,
    )
    assert (outer.depth, plan.notes) == (0, ("Cannot use key ...",))


@pytest.mark.parametrize(
    ("detail", "access", "alias", "index", "automatic"),
    [
        pytest.param("SCAN post", "full_scan", "post", None, False, id="scan"),
        pytest.param("SCAN TABLE post AS p", "full_scan", "p", None, False, id="old-format"),
        pytest.param(
            "SEARCH post USING INDEX ix_post_user_id (user_id=?)",
            "index_scan",
            "post",
            "ix_post_user_id",
            False,
            id="search",
        ),
        pytest.param(
            "SEARCH post USING AUTOMATIC COVERING INDEX (user_id=?)",
            "full_scan",
            "post",
            None,
            True,
            id="automatic",
        ),
        pytest.param(
            "SCAN post USING COVERING INDEX ix_post_user_id",
            "full_scan",
            "post",
            "ix_post_user_id",
            False,
            id="covering-scan",
        ),
    ],
)
def test_sqlite_plans_are_read_into_nodes(
    detail: str, access: str, alias: str, index: str | None, automatic: bool
) -> None:
    (node,) = read_sqlite([(2, 0, 0, detail)]).nodes
    assert (node.access, node.alias, node.index, node.automatic) == (
        access,
        alias,
        index,
        automatic,
    )


def test_sqlite_marks_the_inner_loops_of_a_join() -> None:
    plan = read_sqlite([(3, 0, 0, "SCAN u"), (5, 0, 0, "SCAN p"), (9, 0, 0, "USE TEMP B-TREE")])
    assert [(n.alias, n.inner) for n in plan.nodes] == [("u", False), ("p", True), (None, False)]


def test_explain_on_another_dialect_names_the_supported_ones() -> None:
    from sqlalchemy import exc, literal
    from sqlalchemy.dialects import mssql

    from asqla.doctor._explain import Explain

    with pytest.raises(
        exc.UnsupportedCompilationError, match="PostgreSQL, MySQL/MariaDB and SQLite"
    ):
        Explain(select(literal(1))).compile(dialect=mssql.dialect())
