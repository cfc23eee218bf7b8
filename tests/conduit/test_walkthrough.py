"""docs/conduit.md quotes the example: each excerpt must still be in the example's files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import CONDUIT

PAGE = CONDUIT.parents[1] / "docs" / "conduit.md"
_BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def _excerpts() -> list[str]:
    return [match[2] for match in _BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]


def _sources() -> dict[Path, str]:
    files = [*CONDUIT.glob("conduit/**/*.py"), CONDUIT / "pyproject.toml"]
    return {path: path.read_text(encoding="utf-8") for path in files}


def test_the_page_quotes_code() -> None:
    assert len(_excerpts()) >= 6


@pytest.mark.parametrize("excerpt", _excerpts(), ids=lambda text: text.strip().splitlines()[0])
def test_each_excerpt_is_in_the_example(excerpt: str) -> None:
    found = [path for path, text in _sources().items() if excerpt in text]

    assert found, f"docs/conduit.md quotes code that no file of examples/conduit has:\n{excerpt}"
