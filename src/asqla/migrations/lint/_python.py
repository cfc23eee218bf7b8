"""Read a migration script's AST into a Migration, without importing or running it.

The reader follows ``upgrade()`` statement by statement and knows where each
operation runs: inside ``op.batch_alter_table(...)``, inside
``op.get_context().autocommit_block()`` (every statement its own
transaction), or in the migration's transaction, split into segments by
each autocommit block.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Any

from ._errors import LintUsageError
from ._ops import Import, Kind, Migration, Operation, Placement
from ._python_calls import read_call
from ._target import Dialect


@dataclass
class Walker:
    """The state of the walk through one ``upgrade()`` function."""

    source: str
    dialect: Dialect
    operations: list[Operation] = field(default_factory=list)
    autocommit_lines: list[int] = field(default_factory=list)
    placement: Placement = field(default_factory=Placement)
    batches: dict[str, str] = field(default_factory=dict)
    binds: set[str] = field(default_factory=set)
    tables: dict[str, str] = field(default_factory=dict)

    def add(
        self, kind: Kind, *, line: int, end_line: int | None = None, **fields: Any
    ) -> Operation:
        placement = self.placement
        if placement.autocommit:
            placement = replace(placement, segment=placement.segment + 1)
            self.placement = placement
        operation = Operation(
            kind, line=line, end_line=end_line or line, placement=placement, **fields
        )
        self.operations.append(operation)
        return operation

    def walk(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.With | ast.AsyncWith):
                self.walk_with(statement)
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            else:
                self.remember(statement)
                for call in _calls(statement):
                    read_call(self, call)
                for body in _bodies(statement):
                    self.walk(body)

    def walk_with(self, statement: ast.With | ast.AsyncWith) -> None:
        saved_placement, saved_batches = self.placement, dict(self.batches)
        autocommit = False
        for item in statement.items:
            call = item.context_expr
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                if call.func.attr == "autocommit_block":
                    autocommit = True
                elif call.func.attr == "batch_alter_table":
                    self.enter_batch(call, item.optional_vars, statement.lineno)
                    continue
            for inner in _calls_in(call):
                read_call(self, inner)
        if autocommit:
            self.autocommit_lines.append(statement.lineno)
            self.placement = replace(self.placement, segment=self.placement.segment + 1)
            self.placement = replace(self.placement, autocommit=True)
        self.walk(statement.body)
        segment = self.placement.segment + (1 if autocommit else 0)
        self.placement = replace(saved_placement, segment=segment)
        self.batches = saved_batches

    def enter_batch(self, call: ast.Call, target: ast.expr | None, line: int) -> None:
        from ._python_columns import keyword, literal_str

        table = literal_str(call.args[0] if call.args else keyword(call, "table_name"))
        recreate = literal_str(keyword(call, "recreate")) or "auto"
        if isinstance(target, ast.Name):
            self.batches[target.id] = table or ""
        self.placement = replace(self.placement, batch=True, batch_recreate=recreate)
        if recreate == "always":
            self.add(Kind.REBUILD_TABLE, line=line, table=table, name="batch copy-and-move")

    def remember(self, statement: ast.stmt) -> None:
        """Track ``bind = op.get_bind()`` and ``users = sa.table("users", ...)``."""
        from ._python_calls import is_bind, table_name_of

        if not isinstance(statement, ast.Assign | ast.AnnAssign) or statement.value is None:
            return
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if is_bind(self, statement.value):
                self.binds.add(target.id)
            elif (table := table_name_of(self, statement.value)) is not None:
                self.tables[target.id] = table


def _calls(statement: ast.stmt) -> list[ast.Call]:
    """The calls of a simple statement (not of nested bodies), in source order."""
    if isinstance(statement, ast.If | ast.While):
        nodes: list[ast.AST] = [statement.test]
    elif isinstance(statement, ast.For | ast.AsyncFor):
        nodes = [statement.iter]
    elif isinstance(statement, ast.Try):
        nodes = []
    else:
        nodes = [statement]
    calls = [call for node in nodes for call in _calls_in(node)]
    return calls


def _calls_in(node: ast.AST) -> list[ast.Call]:
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _bodies(statement: ast.stmt) -> list[list[ast.stmt]]:
    bodies: list[list[ast.stmt]] = []
    for name in ("body", "orelse", "finalbody"):
        value = getattr(statement, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            bodies.append(value)
    for handler in getattr(statement, "handlers", []):
        bodies.append(handler.body)
    return bodies


def read_migration(source: str, path: str, *, dialect: Dialect) -> Migration:
    """Read the migration script ``source`` (from ``path``) into a Migration."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise LintUsageError(
            f"{path}, line {exc.lineno}: the migration is not valid Python ({exc.msg}). "
            "asqla reads migrations without running them, but they must parse; "
            "fix the script (python -m py_compile shows the same error)."
        ) from exc
    walker = Walker(source, dialect)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and (
            node.name == "upgrade" or node.name.startswith("upgrade_")
        ):
            walker.walk(node.body)
    return Migration(
        path=path,
        revision=_module_string(tree, "revision"),
        down_revisions=_down_revisions(tree),
        imports=tuple(_imports(tree)),
        operations=tuple(walker.operations),
        autocommit_lines=tuple(walker.autocommit_lines),
        source_lines=tuple(source.splitlines()),
    )


def _assigned(tree: ast.Module, name: str) -> ast.expr | None:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
        ):
            return node.value
    return None


def _module_string(tree: ast.Module, name: str) -> str | None:
    value = _assigned(tree, name)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    return None


def _down_revisions(tree: ast.Module) -> tuple[str, ...]:
    value = _assigned(tree, "down_revision")
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return (value.value,)
    if isinstance(value, ast.Tuple | ast.List):
        return tuple(
            e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        )
    return ()


def _imports(tree: ast.Module) -> list[Import]:
    imports: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.extend(
                Import(f"{node.module}.{alias.name}", node.lineno) for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            imports.append(Import("." * node.level + (node.module or ""), node.lineno))
    return imports
