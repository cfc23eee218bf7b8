"""Run the rules over a migration and turn their hits into findings."""

from __future__ import annotations

from dataclasses import dataclass

from ._context import Context, Knowledge
from ._names import names_for
from ._ops import Migration
from ._registry import RULES, RULES_BY_NAME
from ._rule import Hit, Rule, Severity, render
from ._suppress import is_ignored, read_ignores
from ._target import Target


@dataclass(frozen=True)
class Finding:
    """One dangerous operation: the rule, its severity, where, why, and the safe recipe.

    ``fix`` is Alembic code; ``# --- next migration`` lines separate the
    migrations of a recipe that takes several.
    """

    rule: str
    severity: Severity
    path: str
    line: int
    message: str
    fix: str


def lint_migration(migration: Migration, target: Target, history: Knowledge) -> list[Finding]:
    """The findings of ``migration`` on ``target``, ignore comments applied."""
    context = Context(migration, target, history)
    source = "\n".join(migration.source_lines) + "\n"
    ignores, bad = read_ignores(source, set(RULES_BY_NAME))
    findings: list[Finding] = []
    for rule in RULES:
        if target.dialect not in rule.severity:
            continue
        for hit in rule.check(context):
            first = hit.line
            if hit.operation is not None and hit.operation.anchor_line is not None:
                first = min(first, hit.operation.anchor_line)
            if not is_ignored(ignores, rule.name, first, hit.end_line or hit.line):
                findings.append(_finding(rule, hit, migration.path, target))
    invalid = RULES_BY_NAME["invalid-ignore"]
    for problem in bad:
        hit = Hit(problem.line, f"has an ignore comment that {problem.problem}", "all")
        findings.append(_finding(invalid, hit, migration.path, target))
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _finding(rule: Rule, hit: Hit, path: str, target: Target) -> Finding:
    names = {**names_for(hit.operation), **hit.names}
    why = rule.why.get(hit.why) or rule.why.get(target.dialect) or rule.why["all"]
    message = f"The migration {hit.lead}. {render(why, names)}"
    fix = render(rule.recipe_for(target).code, names)
    return Finding(rule.name, rule.severity[target.dialect], path, hit.line, message, fix)
