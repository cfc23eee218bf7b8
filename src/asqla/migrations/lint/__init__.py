"""Lint Alembic migrations for operations that lock, rewrite or break a live database.

The linter reads migration scripts without importing or running them: the
``op.*`` calls of ``upgrade()`` (with ``batch_alter_table`` blocks and
``op.get_context().autocommit_block()`` tracked), and the literal SQL given
to ``op.execute``. Tables created earlier in the same migration are new and
exempt; every other table is assumed to hold data and serve traffic. Every
rule and its safe recipe is listed in ``docs/migrations-lint.md``, which is
generated from `RULES`.

Example::

    report = lint_migrations(["migrations/versions"], dialect="postgresql")
    for finding in report.findings:
        print(finding.path, finding.line, finding.rule, finding.message)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._discover import find_targets, read_script, scripts_in
from ._engine import Finding
from ._engine import lint_migration as _lint_migration
from ._errors import LintUsageError
from ._history import history_of
from ._ops import Migration
from ._python import read_migration
from ._registry import RULES, RULES_BY_NAME
from ._rule import Recipe, Rule, Severity
from ._target import DIALECTS, Dialect, Target

__all__ = [
    "DIALECTS",
    "RULES",
    "RULES_BY_NAME",
    "Dialect",
    "Finding",
    "LintReport",
    "LintUsageError",
    "Recipe",
    "Rule",
    "Severity",
    "Target",
    "lint_migrations",
    "lint_source",
]


@dataclass(frozen=True)
class LintReport:
    """The result of a lint run: what it assumed, which files it read, and the findings."""

    target: Target
    files: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def exit_code(self) -> int:
        """1 when an error-severity finding remains, 0 otherwise."""
        return 1 if self.errors else 0


def lint_migrations(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    dialect: str,
    server_version: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> LintReport:
    """Lint migration scripts for ``dialect`` (``postgresql``, ``mysql`` or ``sqlite``).

    ``paths`` are scripts or directories of them; without any, the versions
    directory named by ``alembic.ini`` (or ``migrations/versions``) in
    ``cwd``. The other scripts of each script's directory are read too, for
    what earlier revisions did (a CHECK constraint validated before a SET NOT
    NULL), but only ``paths`` are reported on. ``server_version`` is the
    server's version as it reports it (``15.4``, ``10.11.6-MariaDB``); without
    it the linter assumes the one in ``Target.parse``'s documentation.

    Raises:
        LintUsageError: a bad dialect or version, a path that does not exist,
            a file that cannot be read or a script that is not valid Python.
    """
    target = Target.parse(dialect, server_version)
    base = Path(cwd) if cwd is not None else Path.cwd()
    targets = find_targets(paths, cwd=base)
    shown = {path: _shown(path, base) for path in targets}
    migrations = {path: _read(path, shown[path], target.dialect) for path in targets}
    context: dict[Path, Migration] = dict(migrations)
    for directory in {path.parent for path in targets}:
        for sibling in scripts_in(directory):
            if sibling not in context:
                try:
                    context[sibling] = _read(sibling, str(sibling), target.dialect)
                except LintUsageError:
                    continue  # not reported on; a broken sibling only loses its history
    history = history_of(context.values(), dialect=target.dialect)
    findings = [
        finding
        for migration in migrations.values()
        for finding in _lint_migration(migration, target, history[migration.path])
    ]
    return LintReport(target, tuple(shown.values()), tuple(findings))


def lint_source(
    source: str,
    *,
    dialect: str,
    server_version: str | None = None,
    path: str = "<migration>",
) -> LintReport:
    """Lint one migration script given as text (editors, tests); no history is read."""
    target = Target.parse(dialect, server_version)
    migration = read_migration(source, path, dialect=target.dialect)
    history = history_of([migration], dialect=target.dialect)
    findings = _lint_migration(migration, target, history[path])
    return LintReport(target, (path,), tuple(findings))


def _shown(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _read(path: Path, shown: str, dialect: Dialect) -> Migration:
    return read_migration(read_script(path, shown), shown, dialect=dialect)
