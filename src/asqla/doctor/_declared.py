"""Where models are declared: ``"path:line"`` of a class, an attribute, or a ``Table(...)``."""

from __future__ import annotations

import inspect
import os
import re
import sys
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Mapper

__all__ = ["Locator"]


class Locator:
    """Finds the source lines of the audited models (``None`` where the source is unknown)."""

    def __init__(self, mappers: list[Mapper[Any]]) -> None:
        self._classes = {
            m.local_table.fullname: m.class_ for m in mappers if isinstance(m.local_table, Table)
        }
        self._modules = [
            module
            for module in {sys.modules.get(m.class_.__module__) for m in mappers}
            if module is not None
        ]

    def owner(self, table: Table) -> type | None:
        """The mapped class of ``table``, if it has one."""
        return self._classes.get(table.fullname)

    def of(self, cls: type, key: str | None = None) -> str | None:
        """The line of attribute ``key`` of ``cls`` (or of its mixin), else of ``cls``."""
        if key is not None:
            for klass in cls.__mro__:
                if key in vars(klass) and (line := _attribute_line(klass, key)) is not None:
                    return line
        return _class_line(cls)

    def column(self, table: Table, key: str) -> str | None:
        """The line that declares column ``key`` of ``table``."""
        cls = self.owner(table)
        return self.of(cls, key) if cls is not None else self.table(table)

    def table(self, table: Table) -> str | None:
        """The line of ``Table("name", ...)``, for a table that is not mapped (an association)."""
        return self._search(rf"""\bTable\(\s*["']{re.escape(table.name)}["']""")

    def assignment(self, module: Any, name: str) -> str | None:
        """The line of ``name = ...`` at the top level of ``module``."""
        return self._search(rf"^{re.escape(name)}\s*(?::[^=]*)?=", [module])

    def _search(self, pattern: str, modules: list[Any] | None = None) -> str | None:
        compiled = re.compile(pattern, re.MULTILINE)
        for module in self._modules if modules is None else modules:
            filename = getattr(module, "__file__", None)
            match = compiled.search(_source(filename)) if filename else None
            if match is not None:
                line = _source(filename).count("\n", 0, match.start()) + 1
                return f"{display(filename)}:{line}"
        return None


def _class_line(cls: type) -> str | None:
    try:
        filename = inspect.getsourcefile(cls)
        _, line = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    return f"{display(filename)}:{line}" if filename else None


def _attribute_line(cls: type, key: str) -> str | None:
    try:
        filename = inspect.getsourcefile(cls)
        lines, start = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    pattern = re.compile(rf"^\s+{re.escape(key)}\s*[:=]")
    for offset, text in enumerate(lines):
        if pattern.match(text):
            return f"{display(filename)}:{start + offset}" if filename else None
    return None


@cache
def _source(filename: str) -> str:
    try:
        with open(filename, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def display(filename: str | None) -> str:
    """``filename`` relative to the working directory when it is below it."""
    if not filename:
        return "?"
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive, on Windows
        return filename
    return filename if relative.startswith("..") else relative
