"""The database a migration is linted for: dialect, flavour (MySQL or MariaDB) and version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ._errors import LintUsageError

Dialect = Literal["postgresql", "mysql", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")

# Assumed when --server-version is not given: the oldest release still
# supported upstream when this asqla was released (so PostgreSQL 11+ and 12+
# behaviour applies), MySQL's long-term-support release, and the SQLite of
# Debian 12. The text report says which version it assumed.
DEFAULT_VERSIONS: dict[Dialect, str] = {
    "postgresql": "14",
    "mysql": "8.4",
    "sqlite": "3.40",
}

_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Target:
    """What the migrations will run on.

    ``flavor`` tells MySQL from MariaDB (their online DDL differs); it is
    ``"mariadb"`` when the version string says so (``10.11.6-MariaDB``,
    ``mariadb-10.11``) or when a ``mysql`` version's major is 10 or 11, which
    only MariaDB has used.
    """

    dialect: Dialect
    flavor: Literal["postgresql", "mysql", "mariadb", "sqlite"]
    version: tuple[int, ...]
    version_text: str

    @classmethod
    def parse(cls, dialect: str, server_version: str | None = None) -> Target:
        """Return the Target for ``dialect`` and an optional server version string."""
        if dialect not in DIALECTS:
            raise LintUsageError(
                f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}."
            )
        text = server_version if server_version is not None else DEFAULT_VERSIONS[dialect]
        match = _NUMBERS.search(text)
        if match is None:
            raise LintUsageError(
                f"cannot read a version number in --server-version {text!r}; "
                "give it as the server reports it, for example '15.4' or '10.11.6-MariaDB'."
            )
        version = tuple(int(part) for part in match.group().split("."))
        flavor: Literal["postgresql", "mysql", "mariadb", "sqlite"] = dialect
        if dialect == "mysql" and ("mariadb" in text.lower() or version[0] in (10, 11)):
            flavor = "mariadb"
        return cls(dialect, flavor, version, text)

    @property
    def label(self) -> str:
        """A readable name such as ``PostgreSQL 14`` or ``MariaDB 10.11``."""
        names = {
            "postgresql": "PostgreSQL",
            "mysql": "MySQL",
            "mariadb": "MariaDB",
            "sqlite": "SQLite",
        }
        return f"{names[self.flavor]} {'.'.join(map(str, self.version))}"

    def at_least(self, *version: int) -> bool:
        """Whether the server is ``version`` or newer."""
        return self.version >= version

    @property
    def postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def mysql(self) -> bool:
        return self.dialect == "mysql"

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def mysql_instant_add_column(self) -> bool:
        """MySQL 8.0.12+ and MariaDB 10.3+ add a column at the end without a rebuild."""
        if self.flavor == "mariadb":
            return self.at_least(10, 3)
        return self.mysql and self.at_least(8, 0, 12)
