"""docs/migrations-lint.md is generated from the rules: it must match them exactly."""

from __future__ import annotations

import re
from pathlib import Path

from asqla.migrations.lint import RULES
from asqla.migrations.lint._reference import main, render_reference

PAGE = Path(__file__).resolve().parents[3] / "docs" / "migrations-lint.md"


def test_the_reference_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        "docs/migrations-lint.md is out of date: run "
        "`.venv/bin/python -m asqla.migrations.lint._reference docs/migrations-lint.md`"
    )


def test_every_rule_has_a_section_with_why_example_and_recipe() -> None:
    page = render_reference()
    sections = re.split(r"^## ", page, flags=re.MULTILINE)
    by_name = {section.split("\n", 1)[0]: section for section in sections}
    for rule in RULES:
        section = by_name[rule.name]
        assert "### Why" in section and "### Flagged" in section and "### Safe recipe" in section
        assert f"[`{rule.name}`](#{rule.name})" in page
    assert "${" not in page, "a template name was left unfilled"


def test_main_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_reference()
