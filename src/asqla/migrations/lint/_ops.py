"""What a migration does, read without running it: one Operation per schema or data change.

Both readers produce these records: the Python reader for ``op.*`` calls and
the SQL reader for the literal SQL given to ``op.execute``. Rules only look
at Operations, so a rule treats ``op.create_index(...)`` and
``op.execute("CREATE INDEX ...")`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Kind(StrEnum):
    """The kinds of operation the rules know about."""

    CREATE_TABLE = "create_table"
    DROP_TABLE = "drop_table"
    RENAME_TABLE = "rename_table"
    CREATE_VIEW = "create_view"
    ADD_COLUMN = "add_column"
    DROP_COLUMN = "drop_column"
    ALTER_COLUMN = "alter_column"
    CREATE_INDEX = "create_index"
    DROP_INDEX = "drop_index"
    REINDEX = "reindex"
    ADD_CONSTRAINT = "add_constraint"
    DROP_CONSTRAINT = "drop_constraint"
    VALIDATE_CONSTRAINT = "validate_constraint"
    ADD_ENUM_VALUE = "add_enum_value"
    REBUILD_TABLE = "rebuild_table"  # MySQL CONVERT TO CHARACTER SET, DROP PRIMARY KEY, batch copy
    TRANSACTION_CONTROL = "transaction_control"
    SESSION_SETTING = "session_setting"  # SET lock_timeout, SET foreign_key_checks
    DATA_CHANGE = "data_change"  # UPDATE, DELETE, INSERT, bulk_insert
    OTHER = "other"  # any other op.* call or statement: still an operation


# Kinds that change the schema of ``table`` (a data change or a SET does not).
SCHEMA_KINDS = frozenset(Kind) - {
    Kind.TRANSACTION_CONTROL,
    Kind.SESSION_SETTING,
    Kind.DATA_CHANGE,
    Kind.OTHER,
}

ConstraintType = Literal["foreignkey", "check", "unique", "primary"]


@dataclass(frozen=True)
class TypeSpec:
    """A column type as written: normalized name (``VARCHAR``, ``NUMERIC``...) and arguments."""

    name: str
    args: tuple[int, ...] = ()
    source: str = ""

    @property
    def length(self) -> int | None:
        return self.args[0] if self.args else None

    @property
    def sql(self) -> str:
        """The type as SQL: ``VARCHAR(100)``."""
        return f"{self.name}({', '.join(map(str, self.args))})" if self.args else self.name


@dataclass(frozen=True)
class Default:
    """A server default and its volatility: constant, stable, volatile or expression."""

    volatility: Literal["constant", "stable", "volatile", "expression"]
    source: str
    function: str | None = None


@dataclass(frozen=True)
class Column:
    """A column definition given to ``add_column`` or ``create_table``."""

    name: str | None
    type: TypeSpec | None = None
    nullable: bool = True
    server_default: Default | None = None
    python_default: bool = False
    autoincrement: bool = False
    generated: Literal["stored", "virtual", "unspecified"] | None = None
    expression: str | None = None
    index: bool = False
    unique: bool = False
    foreign_key: bool = False
    references: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Placement:
    """Where an operation runs: its transaction segment, autocommit and batch mode."""

    segment: int = 0
    autocommit: bool = False
    batch: bool = False
    batch_recreate: str | None = None


@dataclass(frozen=True)
class Operation:
    """One schema or data change, at ``line`` (and up to ``end_line``) of its migration.

    ``name`` is the column, index, constraint or type it names; ``algorithm``
    and ``lock`` are MySQL's ``ALGORITHM=``/``LOCK=`` clauses of a literal
    ``ALTER TABLE``.
    """

    kind: Kind
    line: int
    end_line: int
    table: str | None = None
    name: str | None = None
    new_name: str | None = None
    column: Column | None = None
    columns: tuple[Column, ...] = ()
    column_names: tuple[str, ...] = ()
    nullable: bool | None = None
    type: TypeSpec | None = None
    existing_type: TypeSpec | None = None
    constraint: ConstraintType | None = None
    condition: str | None = None
    unique: bool = False
    concurrently: bool = False
    not_valid: bool = False
    using_index: bool = False
    fulltext: bool = False
    algorithm: str | None = None
    lock: str | None = None
    references: str | None = None
    sql: str | None = None
    via_sql: bool = False
    unnamed: bool = False
    anchor_line: int | None = None
    placement: Placement = field(default_factory=Placement)

    @property
    def mysql_online(self) -> bool:
        """A literal MySQL ALTER that demands an online algorithm: the server refuses, not locks."""
        if self.algorithm == "INSTANT":
            return True
        return self.algorithm in ("INPLACE", "NOCOPY") and self.lock == "NONE"


@dataclass(frozen=True)
class Import:
    """A module imported by the migration script."""

    module: str
    line: int


@dataclass(frozen=True)
class Migration:
    """One migration script as read: its revision identifiers, imports and upgrade operations."""

    path: str
    revision: str | None
    down_revisions: tuple[str, ...]
    imports: tuple[Import, ...]
    operations: tuple[Operation, ...]
    autocommit_lines: tuple[int, ...]
    source_lines: tuple[str, ...]
