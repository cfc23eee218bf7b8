"""Every ```python block in docs/*.md and README.md runs, so that no example rots.

The blocks of one page run in order in one namespace, so a page can build an
example up step by step; top-level ``await`` works, in the test's event loop.
Each page runs in its own empty temporary directory (SQLite files land
there), with no ``DATABASE_URL`` or ``ASQLA_*`` variable set, and with a fresh
``asqla.model.Base`` built from the real source, so that the tables a page
declares cannot collide with those of another page or another test.

A block that cannot run here (a ``uvicorn.run`` call, say) is skipped only
when the line after its closing fence is ``<!-- no-run: the reason -->``.
A traceback points at the block's own line in the Markdown file.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import asqla.model
import asqla.model.base
from asqla import Database

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

PYTHON = {"python", "py", "python3"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NO_RUN = re.compile(r"^\s*<!--\s*no-run:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its first code line (1-based) and its code."""

    language: str
    line: int
    code: str
    no_run: str | None = None


def extract_blocks(text: str) -> list[Block]:
    """Return the fenced code blocks of a Markdown ``text``, in order.

    Raises ValueError for an unclosed fence, a ``no-run`` marker without a
    reason, or one that does not follow a python block.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            if _NO_RUN.match(lines[index]):
                raise ValueError(
                    f"line {index + 1}: a no-run marker must directly follow "
                    "the closing fence of a ```python block."
                )
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        language = info.split()[0].strip("{}.").lower() if info else ""
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        else:
            raise ValueError(f"line {index}: the fence opened with {fence!r} is never closed.")
        first_line = index - len(body) + 1
        index += 1
        no_run = None
        if index < len(lines) and (marker := _NO_RUN.match(lines[index])):
            no_run = marker["reason"].strip()
            if language not in PYTHON:
                raise ValueError(f"line {index + 1}: no-run marker after a {language!r} block.")
            if not no_run:
                raise ValueError(f"line {index + 1}: a no-run marker must give its reason.")
            index += 1
        blocks.append(Block(language, first_line, "\n".join(body) + "\n", no_run))
    return blocks


def _fresh_base_module() -> types.ModuleType:
    """Execute ``asqla/model/base.py`` again: a new ``Base`` with its own registry."""
    spec = importlib.util.find_spec("asqla.model.base")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _cleanup(namespace: dict[str, object]) -> None:
    # A page should dispose what it opens (and the lifespan does it in an
    # app); this is the safety net, so that one page's pool never outlives it.
    for value in list(namespace.values()):
        if isinstance(value, Database | AsyncEngine):
            await value.dispose()


@pytest.mark.parametrize(
    "page", [pytest.param(page, id=str(page.relative_to(ROOT))) for page in PAGES]
)
async def test_page_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = [b for b in extract_blocks(page.read_text()) if b.language in PYTHON]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(asqla.model, "Base", _fresh_base_module().Base)
    monkeypatch.setattr(asqla.model.base, "Base", asqla.model.Base)
    name = "asqla_docs_" + re.sub(r"\W", "_", page.stem)
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    namespace = module.__dict__
    environ = dict(os.environ)
    for key in list(os.environ):
        if key == "DATABASE_URL" or key.startswith("ASQLA_"):
            del os.environ[key]
    try:
        for block in blocks:
            if block.no_run is not None:
                continue
            # Padding puts each line at its own line number in the Markdown
            # file, so that a traceback shows the failing line of the page.
            source = "\n" * (block.line - 1) + block.code
            code = compile(
                source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
            )
            result = eval(code, namespace)
            if code.co_flags & inspect.CO_COROUTINE:
                await result
    finally:
        try:
            await _cleanup(namespace)
        finally:
            os.environ.clear()
            os.environ.update(environ)


def test_every_page_is_checked() -> None:
    """The pages exist and hold python blocks: a typo in a glob must not pass silently."""
    assert (ROOT / "docs" / "index.md") in PAGES
    for page in PAGES:
        assert page.is_file(), page
    python_blocks = [
        block
        for page in PAGES
        for block in extract_blocks(page.read_text())
        if block.language in PYTHON
    ]
    assert len(python_blocks) > 20
    assert sum(1 for block in python_blocks if block.no_run is None) > 20


def test_extract_blocks_reads_fences_languages_and_markers() -> None:
    text = "\n".join(
        [
            "# Title",
            "```python",
            "x = 1",
            "```",
            "",
            '```python title="app.py"',
            "uvicorn.run(app)",
            "```",
            "<!-- no-run: starts a server -->",
            "```bash",
            "make test",
            "```",
            "!!! note",
            "    ````py",
            "    if x:",
            "        y = 2",
            "    ````",
        ]
    )
    assert extract_blocks(text) == [
        Block("python", 3, "x = 1\n"),
        Block("python", 7, "uvicorn.run(app)\n", no_run="starts a server"),
        Block("bash", 11, "make test\n"),
        Block("py", 15, "if x:\n    y = 2\n"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("```python\nx = 1\n", "never closed", id="unclosed"),
        pytest.param("```python\nx\n```\n<!-- no-run: -->", "give its reason", id="no-reason"),
        pytest.param("text\n<!-- no-run: why -->", "must directly follow", id="stray"),
        pytest.param("```bash\nls\n```\n<!-- no-run: why -->", "after a 'bash'", id="bash"),
    ],
)
def test_extract_blocks_rejects_bad_markup(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract_blocks(text)
