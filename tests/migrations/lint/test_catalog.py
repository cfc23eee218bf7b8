"""Every rule, on every dialect it applies to: its example is flagged, its recipes pass.

The examples and recipes are the ones the reference page shows, so this test
is also what keeps the page's code honest.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from asqla.migrations.lint import RULES, RULES_BY_NAME, LintReport, Recipe, Rule
from asqla.migrations.lint._names import EXAMPLE_NAMES
from asqla.migrations.lint._rule import NEXT_MIGRATION

ISSUE_RULES = [
    "add-column-required",
    "add-column-volatile-default",
    "add-column-auto-increment",
    "add-column-stored-generated",
    "alter-column-type",
    "rename-column",
    "rename-table",
    "drop-column",
    "drop-table",
    "set-not-null",
    "create-index-blocking",
    "drop-index-blocking",
    "concurrently-in-transaction",
    "add-foreign-key-validating",
    "add-check-validating",
    "validate-in-same-transaction",
    "add-unique-constraint",
    "add-primary-key",
    "unnamed-constraint",
    "enum-value-in-transaction",
    "raw-transaction-control",
    "ops-before-autocommit-block",
    "backfill-in-ddl-migration",
    "orm-import-in-migration",
    "json-not-jsonb",
    "mysql-add-foreign-key",
    "mysql-copy-algorithm",
]

CASES = [
    pytest.param(rule, dialect, id=f"{rule.name}-{dialect}")
    for rule in RULES
    if rule.name != "invalid-ignore"
    for dialect in rule.severity
]
RECIPES = [
    pytest.param(rule, recipe, id=f"{rule.name}-{recipe.when}")
    for rule in RULES
    for recipe in rule.recipes
]


def test_the_rules_are_the_issues_list_plus_invalid_ignore() -> None:
    assert [rule.name for rule in RULES] == [*ISSUE_RULES, "invalid-ignore"]
    assert set(RULES_BY_NAME) == {*ISSUE_RULES, "invalid-ignore"}


def _version_for(recipe: Recipe) -> str | None:
    """A server version that the recipe's condition selects."""
    match = re.match(r"^\w+(?P<op>>=|<)(?P<version>[\d.]+)$", recipe.when)
    if match is None:
        return None
    major = int(match["version"].split(".")[0])
    return str(major if match["op"] == ">=" else major - 1)


@pytest.mark.parametrize(("rule", "dialect"), CASES)
def test_example_is_flagged_with_the_rule_severity(
    rule: Rule, dialect: str, lint_body: Callable[..., LintReport]
) -> None:
    report = lint_body(rule.example[dialect], dialect)  # type: ignore[index]
    mine = [f for f in report.findings if f.rule == rule.name]
    assert mine, f"{rule.name} did not flag its own example on {dialect}: {report.findings}"
    assert {f.severity for f in mine} == {rule.severity[dialect]}  # type: ignore[index]
    assert all(f.message.startswith("The migration ") and f.fix for f in mine)


@pytest.mark.parametrize(("rule", "dialect"), CASES)
def test_the_fix_of_the_example_passes(
    rule: Rule,
    dialect: str,
    lint_body: Callable[..., LintReport],
    lint_chain: Callable[..., LintReport],
) -> None:
    report = lint_body(rule.example[dialect], dialect)  # type: ignore[index]
    finding = next(f for f in report.findings if f.rule == rule.name)
    migrations = _split(finding.fix)
    clean = lint_chain(migrations, dialect)
    assert clean.findings == (), "\n".join(f"{f.rule}: {f.message}" for f in clean.findings)


@pytest.mark.parametrize(("rule", "recipe"), RECIPES)
def test_every_recipe_passes_on_the_servers_it_is_for(
    rule: Rule, recipe: Recipe, lint_chain: Callable[..., LintReport]
) -> None:
    from string import Template

    dialect = recipe.when.split(">")[0].split("<")[0]
    code = Template(recipe.code).safe_substitute(EXAMPLE_NAMES)
    report = lint_chain(_split(code), dialect, _version_for(recipe))
    assert report.findings == (), "\n".join(f"{f.rule}: {f.message}" for f in report.findings)


def test_every_rule_has_a_recipe_and_a_why_for_each_dialect_it_applies_to() -> None:
    from asqla.migrations.lint import Target

    for rule in RULES:
        assert set(rule.example) == set(rule.severity), rule.name
        for dialect in rule.severity:
            target = Target.parse(dialect)
            assert rule.recipe_for(target) is not None
            assert dialect in rule.why or "all" in rule.why, (rule.name, dialect)


def _split(code: str) -> list[str]:
    parts: list[list[str]] = [[]]
    for line in code.splitlines():
        if line.startswith(NEXT_MIGRATION) and any(text.strip() for text in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return [
        "\n".join(part) + "\n    pass" if _only_comments(part) else "\n".join(part)
        for part in parts
    ]


def _only_comments(lines: list[str]) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)
