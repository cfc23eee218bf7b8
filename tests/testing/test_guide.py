"""docs/testing.md's example project, run as its files are written there, on every backend.

The blocks of the guide whose title is a path (```python title="app/main.py"```)
are the files of a project; this writes them out and runs the project's
tests with the plugin. The docs harness (tests/test_docs.py) skips those
that import the project's package, with a no-run marker that points here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "testing.md"
_TITLED = re.compile(
    r'^```(?P<language>\w+) title="(?P<path>[^" ]+)"\n(?P<body>.*?)^```$', re.M | re.S
)


def project_files() -> dict[str, str]:
    """The guide's titled blocks: ``{path: content}``."""
    return {match["path"]: match["body"] for match in _TITLED.finditer(GUIDE.read_text())}


def test_the_guide_names_its_files() -> None:
    assert sorted(project_files()) == [
        "app/db.py",
        "app/main.py",
        "app/models.py",
        "pyproject.toml",
        "tests/test_articles.py",
        "tests/test_budget.py",
    ]


def test_the_guides_project_passes_its_tests(make_project: Any) -> None:
    project = make_project()
    path = project.pytester.path
    for name in ("app", "tests"):
        (path / name).mkdir(exist_ok=True)
    (path / "app" / "__init__.py").write_text("")
    for relative, content in project_files().items():
        (path / relative).write_text(content)
    result = project.run("-v", "-W", "error")
    result.assert_outcomes(passed=5)
