"""``asqla doctor run`` and ``asqla doctor audit``: exit statuses, text, and the JSON contract."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from asqla.cli import app, main

# Plain SQLAlchemy, no asqla: the doctor watches any engine the script creates.
SCRIPT = """
import asyncio
import os
import sys

from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "cli_author"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list["Book"]] = relationship()


class Book(Base):
    __tablename__ = "cli_book"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("cli_author.id"), index=True)


async def main() -> None:
    engine = create_async_engine(os.environ["DOCTOR_TEST_URL"])
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        Session = async_sessionmaker(engine, expire_on_commit=False)
        async with Session() as session:
            await session.execute(insert(Author), [{"id": i, "name": f"a{i}"} for i in range(1, 5)])
            authors = (await session.scalars(select(Author).order_by(Author.id))).all()
            for author in authors:
                await author.awaitable_attrs.books
    finally:
        await engine.dispose()
    print("script args:", sys.argv[1:])
    if "--crash" in sys.argv:
        raise RuntimeError("the script failed")
    if "--exit" in sys.argv:
        sys.exit(int(sys.argv[-1]))


if __name__ == "__main__":
    asyncio.run(main())
"""

MODELS = """
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelf"
    id: Mapped[int] = mapped_column(primary_key=True)
    items = relationship("Item", lazy="dynamic")


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelf.id"))
"""


def line_of(source: str, snippet: str) -> int:
    return next(n for n, text in enumerate(source.splitlines(), start=1) if snippet in text)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "loop.py"
    path.write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def run(database_url: str) -> Any:
    def invoke(*args: str) -> Any:
        runner = CliRunner()
        return runner.invoke(app, ["doctor", "run", *args], env={"DOCTOR_TEST_URL": database_url})

    return invoke


LOOP = f"loop.py:{line_of(SCRIPT, 'await author.awaitable_attrs.books')}"
ORIGIN = f"loop.py:{line_of(SCRIPT, 'authors = (await session.scalars')}"


def test_run_reports_the_n_plus_one_and_keeps_the_scripts_status(run: Any, script: Path) -> None:
    result = run("loop.py", "--verbose", "-x")

    assert result.exit_code == 0, result.output
    assert "script args: ['--verbose', '-x']" in result.stdout
    assert (
        f"n_plus_one: N+1: Author.books was loaded one parent at a time, 4 queries at {LOOP}"
        in (result.stdout)
    )
    assert f"for parents loaded by the query at {ORIGIN}" in result.stdout
    assert "fix: selectinload(Author.books)" in result.stdout


def test_fail_on_turns_a_finding_into_exit_status_1(run: Any, script: Path) -> None:
    result = run("--fail-on", "duplicate_query,n_plus_one", "loop.py")

    assert result.exit_code == 1
    assert "Failing: 1 finding(s) of --fail-on kinds n_plus_one." in result.stdout
    assert run("--fail-on", "slow_query", "--slow-query", "5", "loop.py").exit_code == 0


def test_the_scripts_own_exit_status_passes_through(run: Any, script: Path) -> None:
    assert run("loop.py", "--exit", "3").exit_code == 3
    assert run("--fail-on", "all", "loop.py", "--exit", "3").exit_code == 1


def test_a_crashing_script_prints_its_traceback_and_the_report(run: Any, script: Path) -> None:
    result = run("loop.py", "--crash")

    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert "RuntimeError: the script failed" in result.stderr
    assert "runpy" not in result.stderr  # the traceback starts at the script
    assert "n_plus_one" in result.stdout  # the report is complete anyway


def test_strict_refuses_lazy_loads_and_ignore_hides_kinds(run: Any, script: Path) -> None:
    strict = run("--strict", "loop.py")
    ignoring = run("--ignore", "n_plus_one", "loop.py")

    assert strict.exit_code == 1
    assert "LazyLoadError: Author.books was about to be lazy-loaded" in strict.stderr
    assert ignoring.exit_code == 0
    assert "no findings" in ignoring.stdout


def test_the_run_json_contract(run: Any, script: Path) -> None:
    result = run("--format", "json", "--fail-on", "n_plus_one", "loop.py", "--exit", "2")

    assert result.exit_code == 1
    document = json.loads(result.stdout)  # the script's own output went to stderr
    assert "script args: ['--exit', '2']" in result.stderr
    assert list(document) == [
        "schema_version",
        "script",
        "exit_code",
        "script_exit_code",
        "statements",
        "database_ms",
        "findings",
    ]
    assert document["schema_version"] == 1
    assert (document["script"], document["exit_code"], document["script_exit_code"]) == (
        "loop.py",
        1,
        2,
    )
    assert document["statements"] >= 6 and document["database_ms"] > 0
    (finding,) = document["findings"]
    assert finding == {
        "kind": "n_plus_one",
        "severity": "warning",
        "relationship": "Author.books",
        "count": 4,
        "location": LOOP,
        "origin": ORIGIN,
        "fix": "selectinload(Author.books)",
        "statement": finding["statement"],
    }
    assert "cli_book" in finding["statement"]


def test_main_exits_with_the_status(
    database_url: str, script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_TEST_URL", database_url)
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "run", "--fail-on", "n_plus_one", "loop.py"])
    assert exited.value.code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--fail-on", "n_plus_two", "loop.py"],
            "--fail-on names unknown kinds ['n_plus_two']; choose from n_plus_one,",
            id="unknown-kind",
        ),
        pytest.param(["missing.py"], "No script at 'missing.py'", id="missing-script"),
        pytest.param(
            ["--slow-query", "-1", "loop.py"], "slow_query must be a number of seconds", id="slow"
        ),
    ],
)
def test_usage_errors_say_what_is_wrong(
    script: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "run", *args])
    assert exited.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("shop", "shop.models", "models"):
        monkeypatch.delitem(__import__("sys").modules, name, raising=False)
    return package / "models.py"


def test_audit_reports_the_models_of_a_module(models: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "audit", "shop.models"])

    assert result.exit_code == 1, result.output  # lazy="dynamic" is an error
    assert result.stdout.startswith("asqla audit of 2 model(s) for every backend: 2 finding(s):")
    assert "- [error] dynamic_relationship: Shelf.items (shop/models.py:14)" in result.stdout
    assert "- [warning] unindexed_foreign_key: Item.shelf_id (shop/models.py:20)" in result.stdout


def test_audit_json_contract(models: Path) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "audit", "shop/models.py", "--dialect", "mysql", "--format", "json"]
    )

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert list(document) == ["schema_version", "module", "dialect", "models", "findings"]
    assert (document["schema_version"], document["module"], document["dialect"]) == (
        1,
        "shop/models.py",
        "mysql",
    )
    assert document["models"] == ["Shelf", "Item"]
    # InnoDB indexes the foreign key itself: on MySQL only the dynamic relationship is left.
    (finding,) = document["findings"]
    assert list(finding) == ["kind", "severity", "target", "location", "message", "fix"]
    assert (finding["kind"], finding["severity"], finding["target"]) == (
        "dynamic_relationship",
        "error",
        "Shelf.items",
    )
    assert finding["location"] == "shop/models.py:14"


def test_audit_of_a_module_that_cannot_be_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "audit", "no_such_app.models"])
    assert exited.value.code == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "Cannot import 'no_such_app.models': No module named 'no_such_app'." in error
