"""The model audit: read from the mappers, without a database, per backend."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, ForeignKey, Index, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship

from asqla.doctor._audit import audit_models
from asqla.doctor._audit_report import AUDIT_KINDS, AuditFinding, AuditReport
from asqla.model import TYPE_ANNOTATION_MAP, SoftDelete

HERE = os.path.relpath(__file__)


def line(snippet: str) -> str:
    """``"path:line"`` of the first line of this file that contains ``snippet``."""
    for number, source in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if snippet in source:
            return f"{HERE}:{number}"
    raise AssertionError(f"{snippet!r} is not in {HERE}")


class Bad(AsyncAttrs, DeclarativeBase):
    metadata = MetaData()


membership = Table(
    "audit_membership",
    Bad.metadata,
    Column("member_id", ForeignKey("audit_member.id"), primary_key=True),
    Column("team_id", ForeignKey("audit_team.id"), primary_key=True),
)


class Member(SoftDelete, Bad):
    __tablename__ = "audit_member"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    nickname: Mapped[str] = mapped_column(String)
    joined_at: Mapped[datetime] = mapped_column(DateTime)
    notes: Mapped[list[Note]] = relationship()
    teams: Mapped[list[Team]] = relationship(secondary=membership, lazy="selectin")


class Team(Bad):
    __tablename__ = "audit_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    members = relationship(Member, secondary=membership, lazy="dynamic", viewonly=True)


class Note(Bad):
    __tablename__ = "audit_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("audit_member.id"))
    tags: Mapped[list[Tag]] = relationship(lazy="joined")


class Tag(Bad):
    __tablename__ = "audit_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("audit_note.id"), index=True)
    label: Mapped[str] = mapped_column(String(30))


class Good(AsyncAttrs, DeclarativeBase):
    metadata = MetaData()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Author(SoftDelete, Good):
    __tablename__ = "audit_author"
    __table_args__ = (
        Index(
            "uq_audit_author_email",
            "email",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100))
    born: Mapped[datetime]  # UTCDateTime, through the type map
    books: Mapped[list[Book]] = relationship(lazy="raise_on_sql", back_populates="author")
    drafts: WriteOnlyMapped[Draft] = relationship()


class Book(Good):
    __tablename__ = "audit_book"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("audit_author.id"), index=True)
    author: Mapped[Author] = relationship(lazy="joined", back_populates="books")


class Draft(Good):
    __tablename__ = "audit_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("audit_author.id"), index=True)


def found(report: AuditReport) -> list[tuple[str, str, str | None]]:
    return [(f.kind, f.target, f.location) for f in report.findings]


def test_every_kind_is_found_with_where_it_is_declared() -> None:
    report = audit_models(Bad)

    assert found(report) == [
        ("unindexed_foreign_key", "audit_membership.team_id", line("membership = Table(")),
        (
            "soft_delete_unique",
            "Member.email",
            line("    email: Mapped[str] = mapped_column(String(100), unique"),
        ),
        ("unbounded_string", "Member.nickname", line("nickname: Mapped[str]")),
        ("naive_datetime", "Member.joined_at", line("joined_at: Mapped[datetime]")),
        ("lazy_relationship", "Member.notes", line("notes: Mapped[list[Note]]")),
        ("dynamic_relationship", "Team.members", line("members = relationship(Member")),
        (
            "unindexed_foreign_key",
            "Note.member_id",
            line("member_id: Mapped[int] = mapped_column(ForeignKey("),
        ),
        (
            "joined_collection",
            "Note.tags",
            line('tags: Mapped[list[Tag]] = relationship(lazy="joined")'),
        ),
    ]
    assert report.models == ("Member", "Note", "Tag", "Team")
    assert report.exit_code == 1  # dynamic_relationship is an error under asyncio
    assert {f.kind for f in report.findings} == set(AUDIT_KINDS) - {"expire_on_commit"}


def test_models_without_problems_give_no_findings() -> None:
    report = audit_models(Good)
    assert report.findings == ()
    assert str(report) == "asqla audit of 3 model(s) for every backend: no findings."
    assert report.exit_code == 0


def test_each_finding_says_what_is_wrong_and_gives_the_fix() -> None:
    by_target = {f.target: f for f in audit_models(Bad, dialect="postgresql").findings}

    note = by_target["Note.member_id"]
    assert "no index starts with member_id" in note.message
    assert note.fix.startswith('mapped_column(ForeignKey("audit_member.id"), index=True)')
    assert "postgresql_concurrently=True" in note.fix
    assert by_target["audit_membership.team_id"].fix.startswith(
        'Index("ix_audit_membership_team_id", "team_id")  # in the Table(...) arguments'
    )
    lazy = by_target["Member.notes"]
    assert "raises MissingGreenlet" in lazy.message
    assert "selectinload(Member.notes)" in lazy.fix and 'lazy="raise_on_sql"' in lazy.fix
    assert "WriteOnlyMapped[Member]" in by_target["Team.members"].fix
    assert 'lazy="selectin"' in by_target["Note.tags"].fix
    unique = by_target["Member.email"]
    assert "cannot reuse the email of a deleted one" in unique.message
    assert 'postgresql_where=text("deleted_at IS NULL")' in unique.fix


def test_the_backend_decides_what_is_reported() -> None:
    postgresql = audit_models(Bad, dialect="postgresql")
    mysql = audit_models(Bad, dialect="mariadb")

    # PostgreSQL has VARCHAR without a length; InnoDB indexes foreign keys itself.
    assert "unbounded_string" not in {f.kind for f in postgresql.findings}
    assert "unindexed_foreign_key" not in {f.kind for f in mysql.findings}
    string = next(f for f in mysql.findings if f.kind == "unbounded_string")
    assert string.severity == "error"
    unique = next(f for f in mysql.findings if f.kind == "soft_delete_unique")
    assert "Computed(" in unique.fix and "no partial indexes" in unique.fix
    assert mysql.dialect == "mariadb"


def test_the_leading_key_column_of_an_association_table_counts_as_indexed() -> None:
    targets = {f.target for f in audit_models(Bad).findings if f.kind == "unindexed_foreign_key"}
    assert "audit_membership.member_id" not in targets  # the primary key starts with it
    assert "audit_membership.team_id" in targets


def test_an_async_sessionmaker_that_expires_on_commit_is_an_error() -> None:
    expiring = audit_models(Good, sessionmaker=async_sessionmaker())
    keeping = audit_models(Good, sessionmaker=async_sessionmaker(expire_on_commit=False))

    (finding,) = expiring.findings
    assert (finding.kind, finding.severity) == ("expire_on_commit", "error")
    assert "expire_on_commit=False" in finding.fix
    assert keeping.findings == ()


def test_a_module_is_audited_with_the_session_factories_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = """
        from sqlalchemy import ForeignKey
        from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

        class Base(AsyncAttrs, DeclarativeBase):
            pass

        class Parent(Base):
            __tablename__ = "parent"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Child(Base):
            __tablename__ = "child"
            id: Mapped[int] = mapped_column(primary_key=True)
            parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))

        SessionLocal = async_sessionmaker()
    """
    (tmp_path / "audited_models.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "audited_models", raising=False)
    import audited_models  # type: ignore[import-not-found]

    report = audit_models(audited_models, dialect="sqlite")

    assert found(report) == [
        ("unindexed_foreign_key", "Child.parent_id", "audited_models.py:16"),
        ("expire_on_commit", "SessionLocal", "audited_models.py:18"),
    ]
    assert report.models == ("Parent", "Child")


def test_the_json_contract() -> None:
    document = json.loads(json.dumps(audit_models(Bad, dialect="sqlite").to_dict()))

    assert list(document) == ["dialect", "models", "findings"]
    assert document["dialect"] == "sqlite"
    for finding in document["findings"]:
        assert list(finding) == ["kind", "severity", "target", "location", "message", "fix"]
        assert finding["kind"] in AUDIT_KINDS
        assert finding["severity"] in ("warning", "error")


def test_the_text_report_lists_each_finding_with_its_fix() -> None:
    text_report = str(audit_models(Bad, dialect="postgresql"))
    assert text_report.startswith("asqla audit of 4 model(s) for postgresql: 7 finding(s):\n")
    assert (
        f"- [error] dynamic_relationship: Team.members ({line('members = relationship(Member')})"
        in (text_report)
    )
    assert "    fix: members: WriteOnlyMapped[Member] = relationship()\n" in text_report


def test_mapped_classes_can_be_given_one_by_one() -> None:
    report = audit_models([Note, Tag], dialect="postgresql")
    assert [f.target for f in report.findings] == ["Note.member_id", "Note.tags"]


def test_a_bad_dialect_says_what_to_choose() -> None:
    with pytest.raises(ValueError, match=r"must be one of \['mariadb', 'mysql', .* got 'oracle'"):
        audit_models(Bad, dialect="oracle")


def test_nothing_mapped_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"holds no mapped class: pass a declarative base"):
        audit_models([int, str])


def test_the_finding_type_is_frozen() -> None:
    finding = audit_models(Bad).findings[0]
    assert isinstance(finding, AuditFinding)
    with pytest.raises(AttributeError):
        finding.kind = "lazy_relationship"  # type: ignore[misc]
