"""Modes, options, the JSON contract, nesting, and no listener left when the doctor is off."""

from __future__ import annotations

import json
import logging
import os

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import InstrumentedAttribute, Mapper, Session

import asqla.doctor
from asqla import AsqlaError, Database
from asqla.doctor import (
    KINDS,
    DoctorError,
    DoctorOptions,
    DoctorWarning,
    Finding,
    _capture,
    assert_max_queries,
    doctor,
)

from .conftest import Post, User, kinds, line_of

HOOKS = [
    (Engine, "before_cursor_execute", _capture._before_cursor_execute),
    (Engine, "after_cursor_execute", _capture._after_cursor_execute),
    (Session, "do_orm_execute", _capture._do_orm_execute),
    (Session, "before_flush", _capture._before_flush),
    (Session, "after_flush_postexec", _capture._after_flush_postexec),
    (Mapper, "load", _capture._load),
]


def hooks_installed() -> list[bool]:
    """Whether each hook is installed (class-wide: every engine, session and mapper)."""
    listeners = [event.contains(target, name, hook) for target, name, hook in HOOKS]
    return [*listeners, InstrumentedAttribute.__get__ is not _capture._original_get]


async def loop(db: Database) -> None:
    async with db.session() as session:
        for user in (await session.scalars(select(User))).all():
            await user.awaitable_attrs.posts


async def test_no_listener_is_installed_unless_a_scope_is_active(seeded: Database) -> None:
    assert not any(hooks_installed())
    async with doctor():
        assert all(hooks_installed())
        async with assert_max_queries(100):
            pass
        assert all(hooks_installed())  # the outer scope still needs them
    assert not any(hooks_installed())
    async with doctor(mode="off") as report:
        assert not any(hooks_installed())
        await loop(seeded)
    assert report.findings == () and report.statements == ()


async def test_raise_mode_raises_with_the_findings(seeded: Database) -> None:
    with pytest.raises(DoctorError, match=r"(?s)found 1 problem.*User\.posts.*selectinload"):
        async with doctor(mode="raise"):
            await loop(seeded)


async def test_raise_mode_ignores_information(seeded: Database) -> None:
    async with doctor(mode="raise") as report, seeded.session() as session:
        for last in (0, 5, 10):
            await session.scalars(select(Post).where(Post.id > last).order_by(Post.id).limit(5))
    assert kinds(report.findings) == ["pagination_loop"]


async def test_raise_mode_lets_the_blocks_own_error_through(seeded: Database) -> None:
    with pytest.raises(KeyError) as caught:
        async with doctor(mode="raise"):
            await loop(seeded)
            raise KeyError("boom")
    assert any("User.posts" in note for note in getattr(caught.value, "__notes__", []))


async def test_fail_on_and_ignore_choose_the_kinds(seeded: Database) -> None:
    async with doctor(mode="raise", options=DoctorOptions(fail_on={"slow_query"})) as report:
        await loop(seeded)
    assert kinds(report.findings) == ["n_plus_one"]
    async with doctor(options=DoctorOptions(ignore=frozenset({"n_plus_one"}))) as report:
        await loop(seeded)
    assert report.findings == ()


async def test_warn_mode_warns_per_finding(seeded: Database) -> None:
    with pytest.warns(DoctorWarning, match=r"User\.posts was loaded one parent at a time"):
        async with doctor(mode="warn"):
            await loop(seeded)


async def test_log_mode_logs_per_finding(
    seeded: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asqla.doctor"):
        async with doctor(mode="log"):
            await loop(seeded)
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == ["n_plus_one"]


async def test_a_sync_with_block_works_too(seeded: Database) -> None:
    with doctor() as report:
        await loop(seeded)
    assert kinds(report.findings) == ["n_plus_one"]


async def test_the_report_is_live_inside_the_block(seeded: Database) -> None:
    async with doctor() as report:
        await loop(seeded)
        assert kinds(report.findings) == ["n_plus_one"]
        count = report.query_count
    assert report.query_count == count


async def test_nested_scopes_both_see_the_statements(seeded: Database) -> None:
    async with doctor() as outer:
        async with seeded.session() as session:
            await session.get(User, 1)
        async with doctor() as inner:
            await loop(seeded)
    assert kinds(inner.findings) == ["n_plus_one"]
    assert kinds(outer.findings) == ["n_plus_one"]
    assert outer.query_count == inner.query_count + 1


async def test_the_json_contract(seeded: Database) -> None:
    async with doctor() as report:
        await loop(seeded)
    document = json.loads(json.dumps(report.to_dict()))
    assert list(document) == ["findings"]
    assert list(document["findings"][0]) == [
        "kind",
        "severity",
        "relationship",
        "count",
        "location",
        "origin",
        "fix",
        "statement",
    ]
    finding = document["findings"][0]
    assert (finding["kind"], finding["severity"], finding["relationship"]) == (
        "n_plus_one",
        "warning",
        "User.posts",
    )
    assert finding["location"].startswith("tests/doctor/test_modes.py:")
    assert finding["fix"] == "selectinload(User.posts)"


def test_the_kinds() -> None:
    assert KINDS == (
        "n_plus_one",
        "explicit_n_plus_one",
        "count_n_plus_one",
        "duplicate_query",
        "pagination_loop",
        "unused_eager_load",
        "flush_in_loop",
        "async_implicit_io",
        "slow_query",
    )
    assert Finding(kind="n_plus_one", severity="info", count=2, location=None).to_dict() == {
        "kind": "n_plus_one",
        "severity": "info",
        "relationship": None,
        "count": 2,
        "location": None,
        "origin": None,
        "fix": None,
        "statement": None,
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"repeats": 1}, r"repeats must be at least 2, got 1", id="repeats"),
        pytest.param({"slow_query": -1.0}, r"slow_query must be .* got -1\.0", id="slow"),
        pytest.param({"ignore": {"n_plus_two"}}, r"unknown kinds \['n_plus_two'\]", id="ignore"),
    ],
)
def test_bad_options_say_what_is_wrong(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DoctorOptions(**options)  # type: ignore[arg-type]


def test_a_bad_mode_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"one of \('off', 'log', 'warn', 'raise'\), got 'loud'"):
        doctor(mode="loud")  # type: ignore[arg-type]


def test_the_errors_are_asqla_errors() -> None:
    assert issubclass(DoctorError, AsqlaError)
    assert issubclass(asqla.doctor.QueryBudgetExceededError, AssertionError)


async def test_a_warning_points_at_the_with_block(seeded: Database) -> None:
    with pytest.warns(DoctorWarning) as caught:
        lines = [line_of(1)]
        async with doctor(mode="warn"):
            await loop(seeded)
        lines.append(line_of(1))
        with doctor(mode="warn"):
            await loop(seeded)
    assert [f"{os.path.relpath(w.filename)}:{w.lineno}" for w in caught] == lines
