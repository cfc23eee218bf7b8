"""Render docs/migrations-lint.md from the rules themselves.

Run ``python -m asqla.migrations.lint._reference docs/migrations-lint.md`` after
changing a rule; tests/migrations/lint/test_reference.py fails while the page
is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._names import EXAMPLE_NAMES
from ._registry import RULES
from ._rule import DIALECT_LABELS, Recipe, Rule, render
from ._target import DIALECTS, Target

NO_RUN = (
    "<!-- no-run: an Alembic upgrade() body; tests/migrations/lint/test_recipes.py lints it -->"
)
_INTRO = """# Migration lint rules

<!-- Generated from asqla/migrations/lint's rules by
     `python -m asqla.migrations.lint._reference docs/migrations-lint.md`: do not edit. -->

`asqla migrations lint` reads Alembic migration scripts without running them
and reports the operations that lock, rewrite or break a database that holds
data and serves traffic:

```bash
asqla migrations lint migrations/versions --dialect postgresql --server-version 15
asqla migrations lint --dialect mysql --server-version 10.11-MariaDB --format json
```

Without a PATH it lints the versions directory that `alembic.ini` names (or
`migrations/versions`). A table created earlier in the same migration is new
and exempt; every other table is assumed to hold data. Without
`--server-version` the linter assumes {defaults}.

Each finding names its rule, severity, file and line, says why the operation
is dangerous on that database, and gives the safe recipe as Alembic code
(`# --- next migration` separates the migrations of a recipe that takes
several: each must be its own revision, and run in its own transaction, as
`transaction_per_migration=True` in `env.py` does). The exit status is 1 when
an error remains, 0 otherwise, and 2 for a usage error (a bad option, a file
that cannot be read, a migration that is not valid Python).

A finding that you have made safe another way is silenced by a comment on the
statement's line (or alone on the line above), and the reason is required:

```python
op.drop_column("users", "legacy")  # asqla: ignore[drop-column] unused since release 2.4
```
{no_run}

## JSON output

`--format json` prints one document, a contract that only grows:

```json
{{
  "schema_version": 1,
  "dialect": "postgresql",
  "server_version": "PostgreSQL 15",
  "files": 12,
  "findings": [
    {{"rule": "create-index-blocking", "severity": "error",
     "path": "migrations/versions/3f2a_add_email.py", "line": 21,
     "message": "The migration builds index ix_users_email on users. ...",
     "fix": "with op.get_context().autocommit_block(): ..."}}
  ]
}}
```

## Rules

| Rule | PostgreSQL | MySQL, MariaDB | SQLite | Catches |
| --- | --- | --- | --- | --- |
"""


def render_reference() -> str:
    """The whole reference page, as Markdown."""
    defaults = ", ".join(Target.parse(dialect).label for dialect in DIALECTS)
    parts = [_INTRO.format(defaults=defaults, no_run=NO_RUN)]
    for rule in RULES:
        cells = [rule.severity.get(dialect, "-") for dialect in DIALECTS]
        parts.append(f"| [`{rule.name}`](#{rule.name}) | {' | '.join(cells)} | {rule.summary} |\n")
    for rule in RULES:
        parts.append(_section(rule))
    return "".join(parts)


def _section(rule: Rule) -> str:
    severity = ", ".join(
        f"{DIALECT_LABELS[dialect]}: **{level}**" for dialect, level in rule.severity.items()
    )
    lines = [f"\n## {rule.name}\n", f"\n{rule.summary} {severity}.\n", "\n### Why\n\n"]
    for key, text in rule.why.items():
        lines.append(f"- **{_why_label(key)}**: {render(text, EXAMPLE_NAMES)}\n")
    lines.append("\n### Flagged\n")
    examples = list(rule.example.items())
    if len({text for _, text in examples}) == 1:
        lines.append(_code(examples[0][1]))
    else:
        for dialect, text in examples:
            lines.append(f"\n{DIALECT_LABELS[dialect]}:\n")
            lines.append(_code(text))
    lines.append("\n### Safe recipe\n")
    for label, code in _distinct(rule.recipes):
        lines.append(f"\n{label}:\n")
        lines.append(_code(render(code, EXAMPLE_NAMES)))
    return "".join(lines)


def _distinct(recipes: tuple[Recipe, ...]) -> list[tuple[str, str]]:
    """(label, code) pairs: recipes with the same code for several dialects are shown once."""
    labels: dict[str, list[str]] = {}
    for recipe in recipes:
        labels.setdefault(recipe.code, []).append(recipe.label)
    if len(labels) == 1 and len(recipes) == len(DIALECTS):
        return [("Every database", recipes[0].code)]
    return [(" and ".join(names), code) for code, names in labels.items()]


def _why_label(key: str) -> str:
    if key == "all":
        return "Every database"
    if key.endswith(":unknown"):
        return f"{DIALECT_LABELS[key.split(':')[0]]}, without existing_type="
    if "<" in key:
        dialect, version = key.split("<")
        return f"{DIALECT_LABELS[dialect]} before {version}"
    return DIALECT_LABELS[key]


def _code(text: str) -> str:
    return f"\n```python\n{text}\n```\n{NO_RUN}\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference to the path given (or print it)."""
    args = sys.argv[1:] if argv is None else argv
    page = render_reference()
    if args:
        Path(args[0]).write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
