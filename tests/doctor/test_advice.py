"""Index advice: the index that removes a full scan, the expressions that defeat one, the traps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, String, func, insert, inspect, or_, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.doctor import doctor
from asqla.doctor._advice import advise
from asqla.doctor._index_ddl import IndexSpec, alembic_code, create_index_sql
from asqla.doctor._predicates import UNKNOWN, parse

ANALYZE = {
    "postgresql": "ANALYZE advice_person",
    "mysql": "ANALYZE TABLE advice_person",
    "sqlite": "ANALYZE",
}


class Model(DeclarativeBase):
    metadata = MetaData()


class Person(Model):
    __tablename__ = "advice_person"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(100), index=True)
    code: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(50))
    age: Mapped[int]


class Order(Model):
    __tablename__ = "advice_order"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    person_id: Mapped[int]  # no foreign key: no index that InnoDB would add by itself
    total: Mapped[int]


async def _seed(db: Database, people: int) -> Database:
    await db.create_all(Model.metadata)
    rows = [
        {
            "id": i,
            "email": f"e{i}@example.com",
            "code": str(i),
            "name": f"name {i}",
            "city": f"city {i % 40}",
            "age": 18 + i % 60,
        }
        for i in range(1, people + 1)
    ]
    orders = [{"id": i, "person_id": i % people + 1, "total": i} for i in range(1, 3 * people + 1)]
    async with db.session() as session:
        await session.execute(insert(Person), rows)
        await session.execute(insert(Order), orders)
    async with db.engine.connect() as connection:
        await connection.exec_driver_sql(ANALYZE[db.engine.dialect.name])
        await connection.commit()
    return db


@pytest.fixture
async def people(db: Database) -> Database:
    """3,000 people and 9,000 orders: large enough for every planner to prefer an index."""
    return await _seed(db, 3000)


@pytest.fixture
async def few_people(db: Database) -> Database:
    """5 people, analyzed: small enough for PostgreSQL to prefer a full scan to any index."""
    return await _seed(db, 5)


async def test_a_filter_without_index_gets_create_index_and_alembic_code(
    people: Database, backend: str
) -> None:
    advice = await advise(people, select(Person).where(Person.name == "name 5"))

    (suggestion,) = advice.suggestions
    assert (suggestion.kind, suggestion.table, suggestion.columns) == (
        "missing_index",
        "advice_person",
        ("name",),
    )
    assert "no index starts with name" in suggestion.reason
    if backend == "postgresql":
        assert suggestion.create_index == (
            "CREATE INDEX CONCURRENTLY ix_advice_person_name ON advice_person (name);"
        )
        assert suggestion.alembic == (
            "with op.get_context().autocommit_block():\n"
            "    op.create_index(\n"
            '        "ix_advice_person_name",\n'
            '        "advice_person",\n'
            '        ["name"],\n'
            "        postgresql_concurrently=True,\n"
            "    )"
        )
        assert suggestion.checked in ("hypopg", "trial index")
    else:
        assert (
            suggestion.create_index == "CREATE INDEX ix_advice_person_name ON advice_person (name);"
        )
        assert (
            suggestion.alembic
            == 'op.create_index("ix_advice_person_name", "advice_person", ["name"])'
        )
        assert suggestion.checked == ("trial index" if backend == "sqlite" else None)
    assert suggestion.alembic in suggestion.fix and suggestion.create_index in suggestion.fix


async def test_an_existing_index_on_a_small_table_is_not_advice(
    few_people: Database, backend: str
) -> None:
    advice = await advise(few_people, select(Person).where(Person.email == "e1@example.com"))

    if backend == "postgresql":
        # The trap: five rows, and PostgreSQL rightly reads them all, index or not.
        assert [n.operation for n in advice.plan.full_scans] == ["Seq Scan"]
    assert advice.suggestions == ()


async def test_a_missing_index_on_a_small_table_is_still_advice(
    few_people: Database, backend: str
) -> None:
    advice = await advise(few_people, select(Person).where(Person.city == "city 1"))

    assert [(s.kind, s.columns) for s in advice.suggestions] == [("missing_index", ("city",))]
    if backend == "postgresql":
        assert "a full scan costs as little" in advice.suggestions[0].reason


async def test_equalities_come_before_the_range(people: Database) -> None:
    statement = select(Person).where(Person.age > 30, Person.city == "city 3")
    advice = await advise(people, statement)

    assert [s.columns for s in advice.suggestions] == [("city", "age")]
    assert "ix_advice_person_city_age" in (advice.suggestions[0].create_index or "")


async def test_conditions_under_or_get_no_index_advice(people: Database) -> None:
    statement = select(Person).where(or_(Person.name == "name 5", Person.city == "city 3"))
    assert (await advise(people, statement)).suggestions == ()


async def test_a_join_column_read_per_row_gets_an_index(people: Database, backend: str) -> None:
    statement = (
        select(Person, Order)
        .join(Order, Order.person_id == Person.id)
        .where(Person.email == "e5@example.com")
    )
    advice = await advise(people, statement)

    assert [(s.table, s.columns) for s in advice.suggestions] == [("advice_order", ("person_id",))]
    assert "person_id = advice_person.id" in advice.suggestions[0].reason


async def test_a_function_on_the_column_gets_expression_advice(
    people: Database, backend: str
) -> None:
    statement = select(Person).where(func.lower(Person.email) == "e5@example.com")
    (suggestion,) = (await advise(people, statement)).suggestions

    assert (suggestion.kind, suggestion.columns) == ("function", ("email",))
    assert "compares lower(email), not the column" in suggestion.reason
    if backend == "mysql":  # MariaDB indexes no expression; its _ci collations need no lower()
        assert suggestion.create_index is None
        assert suggestion.rewrite is not None and "_ci collations" in suggestion.rewrite
    else:
        assert suggestion.create_index is not None
        assert "ix_advice_person_lower_email" in suggestion.create_index
        assert "(lower(email))" in suggestion.create_index
        assert suggestion.alembic is not None and 'sa.text("lower(email)")' in suggestion.alembic


async def test_a_leading_wildcard_gets_its_own_advice(people: Database, backend: str) -> None:
    (suggestion,) = (await advise(people, select(Person).where(Person.name.like("%5")))).suggestions

    assert (suggestion.kind, suggestion.columns) == ("leading_wildcard", ("name",))
    assert "'%5' starts with a wildcard" in suggestion.reason
    if backend == "postgresql":
        assert suggestion.create_index is not None
        assert "USING gin (name gin_trgm_ops)" in suggestion.create_index
        assert suggestion.alembic is not None and "CREATE EXTENSION IF NOT EXISTS pg_trgm" in (
            suggestion.alembic
        )
    else:
        assert suggestion.create_index is None
        assert suggestion.rewrite is not None and "full-text search" in suggestion.rewrite


@pytest.mark.backends("postgresql", "mysql")
async def test_a_column_converted_to_another_type_gets_cast_advice(
    people: Database, backend: str
) -> None:
    # PostgreSQL converts an integer column to numeric; MariaDB a string column to a number.
    sql = {
        "postgresql": "SELECT * FROM advice_person WHERE age = 25.5",
        "mysql": "SELECT * FROM advice_person WHERE code = 5",
    }[backend]
    (suggestion,) = (await advise(people, sql)).suggestions

    assert suggestion.kind == "cast"
    assert suggestion.columns == (("age",) if backend == "postgresql" else ("code",))
    assert suggestion.create_index is None
    assert suggestion.rewrite is not None and "a value of its own type" in suggestion.rewrite


@pytest.mark.backends("postgresql")
async def test_without_hypopg_a_trial_index_confirms_the_advice(people: Database) -> None:
    advice = await advise(people, select(Person).where(Person.name == "name 5"), hypopg=False)

    (suggestion,) = advice.suggestions
    assert suggestion.checked == "trial index"
    assert suggestion.cost is not None and suggestion.cost[1] < suggestion.cost[0]


@pytest.mark.backends("postgresql")
async def test_hypopg_confirms_the_advice_where_it_is_available(people: Database) -> None:
    async with people.engine.connect() as connection:
        available = (
            await connection.exec_driver_sql(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
            )
        ).first()

    (suggestion,) = (await advise(people, select(Person).where(Person.name == "n"))).suggestions

    assert suggestion.checked == ("hypopg" if available else "trial index")
    assert suggestion.cost is not None and suggestion.cost[1] < suggestion.cost[0]
    assert f"cost of {suggestion.cost[1]:,.1f} instead of {suggestion.cost[0]:,.1f}" in (
        suggestion.reason
    )


@pytest.mark.backends("postgresql", "sqlite")
async def test_nothing_is_left_behind(people: Database, backend: str) -> None:
    async def state() -> Any:
        async with people.engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda sync: inspect(sync).get_indexes("advice_person")
            )
            if backend != "postgresql":
                return indexes
            extensions = await connection.exec_driver_sql("SELECT extname FROM pg_extension")
            return indexes, sorted(row[0] for row in extensions)

    before = await state()
    await advise(people, select(Person).where(Person.name == "name 5"), hypopg=False)
    await advise(people, select(Person).where(Person.city == "city 5"))

    assert await state() == before


async def test_advice_inside_a_session_keeps_its_transaction(people: Database) -> None:
    async with people.session() as session:
        session.add(Person(id=9001, email="new", code="n", name="new", city="x", age=1))
        await session.flush()
        advice = await advise(session, select(Person).where(Person.name == "new"))
        assert advice.suggestions
        assert (await session.get(Person, 9001)) is not None

    async with people.session() as session:
        assert (await session.get(Person, 9001)) is not None


async def test_a_statement_the_doctor_captured_can_be_advised(people: Database) -> None:
    async with doctor() as report, people.session() as session:
        await session.scalars(select(Person).where(Person.city == "city 2"))
    (statement,) = [s for s in report.statements if not s.transaction_control]

    advice = await advise(people, statement)

    assert [s.columns for s in advice.suggestions] == [("city",)]


async def test_an_indexed_lookup_gets_no_advice(people: Database) -> None:
    advice = await advise(people, select(Person).where(Person.email == "e5@example.com"))
    assert advice.suggestions == ()
    assert str(advice).startswith("No index advice. Plan:")


# -- reading SQL text (no database) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "parameters", "expected"),
    [
        pytest.param(
            "SELECT u.id FROM users AS u WHERE lower(u.email) = lower($1::VARCHAR) AND u.n > $2",
            ("A", 3),
            [("u", "email", "=", "lower", "A", None), ("u", "n", ">", None, 3, None)],
            id="asyncpg-function-cast-param",
        ),
        pytest.param(
            "SELECT * FROM post WHERE post.user_id IN (?, ?) AND (post.a = ? OR post.b = ?)",
            (1, 2, 3, 4),
            [
                ("post", "user_id", "IN", None, (1, 2), None),
                ("post", "a", "=", None, 3, None),
                ("post", "b", "=", None, 4, None),
            ],
            id="sqlite-in-and-or",
        ),
        pytest.param(
            "SELECT * FROM a JOIN b AS bb ON bb.a_id = a.id WHERE a.name LIKE %s",
            ("%x",),
            [("bb", "a_id", "=", None, UNKNOWN, "a.id"), ("a", "name", "LIKE", None, "%x", None)],
            id="mysql-join-like",
        ),
        pytest.param(
            "UPDATE t SET a = :a WHERE t.code = :code AND CAST(t.n AS NUMERIC(10, 2)) = :n",
            {"a": 1, "code": "c", "n": 5},
            [("t", "code", "=", None, "c", None), ("t", "n", "=", "cast", 5, None)],
            id="named-update-cast",
        ),
        pytest.param(
            "SELECT * FROM t WHERE EXTRACT(year FROM t.d) = 2020 AND t.x IS NOT NULL",
            (),
            [("t", "d", "=", "extract", 2020, None), ("t", "x", "IS", None, "NOT NULL", None)],
            id="extract-is-not-null",
        ),
    ],
)
def test_comparisons_are_read_from_the_sql(
    sql: str, parameters: Any, expected: list[tuple[Any, ...]]
) -> None:
    parsed = parse(sql, parameters)
    found = [
        (p.alias, p.column, p.operator, p.wrapper, p.value, p.joins) for p in parsed.predicates
    ]
    assert found == expected


def test_or_groups_and_subqueries_are_told_apart() -> None:
    parsed = parse(
        "SELECT * FROM t WHERE (t.a = 1 OR t.b = 2) AND t.c = 3 "
        "AND t.id IN (SELECT s.t_id FROM s AS s WHERE s.k = 4)"
    )
    assert [(p.column, p.in_or) for p in parsed.predicates] == [
        ("a", True),
        ("b", True),
        ("c", False),
        ("id", False),
        ("k", False),
    ]
    assert parsed.tables == {"t": "t", "s": "s"}


@pytest.mark.parametrize(
    ("dialect", "expected_sql", "expected_alembic"),
    [
        pytest.param(
            postgresql.dialect(),
            'CREATE INDEX CONCURRENTLY ix_user_lower_email ON "user" (lower(email));',
            "with op.get_context().autocommit_block():\n"
            "    op.create_index(\n"
            '        "ix_user_lower_email",\n'
            '        "user",\n'
            '        [sa.text("lower(email)")],\n'
            "        postgresql_concurrently=True,\n"
            "    )",
            id="postgresql",
        ),
        pytest.param(
            sqlite.dialect(),
            "CREATE INDEX ix_user_lower_email ON user (lower(email));",
            'op.create_index("ix_user_lower_email", "user", [sa.text("lower(email)")])',
            id="sqlite",
        ),
        pytest.param(
            mysql.dialect(),
            "CREATE INDEX ix_user_lower_email ON user ((lower(email)));",
            'op.create_index("ix_user_lower_email", "user", [sa.text("lower(email)")])',
            id="mysql",
        ),
    ],
)
def test_an_expression_index_is_written_for_each_backend(
    dialect: Any, expected_sql: str, expected_alembic: str
) -> None:
    spec = IndexSpec("user", ("email",), function="lower")
    assert create_index_sql(spec, dialect) == expected_sql
    assert alembic_code(spec, dialect.name) == expected_alembic


def test_a_long_alembic_call_is_split_over_lines() -> None:
    spec = IndexSpec("order_line", ("customer_id", "created_at"))
    assert alembic_code(spec, "postgresql") == (
        "with op.get_context().autocommit_block():\n"
        "    op.create_index(\n"
        '        "ix_order_line_customer_id_created_at",\n'
        '        "order_line",\n'
        '        ["customer_id", "created_at"],\n'
        "        postgresql_concurrently=True,\n"
        "    )"
    )
