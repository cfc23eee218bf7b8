"""The detectors: from what a scope recorded to the findings, each with its fix.

Rules, and the traps they must not fall into (``tests/doctor`` pins both):

- ``n_plus_one``: lazy loads of one relationship path, from one call path,
  for parents of one root query, for at least ``repeats`` distinct parents.
  Eager loads (``selectinload`` and its IN chunks, ``joinedload``) are not
  lazy loads; a many-to-one found in the identity map runs no SQL at all.
- ``explicit_n_plus_one`` / ``count_n_plus_one`` / ``pagination_loop``: one
  SELECT (not a relationship load) run ``repeats`` times or more from one
  call path with varying parameters. A count is a ``count_n_plus_one``; a
  LIMIT query whose changing parameter is an OFFSET or a range bound
  (``id > ?``, keyset) is a walk over pages, reported as information.
- ``duplicate_query``: one SELECT with the same parameters run ``repeats``
  times, unless a loop finding above already covers every run.
- ``unused_eager_load``: an eager loader option whose relationship nobody
  read after the query, on a query that loaded rows.
- ``flush_in_loop``: ``repeats`` flushes from one call path, none of them
  writing more than a few rows.
- ``slow_query``: runs over the threshold, per statement and call path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Final

from ._eager import attribute_name, loader_chain
from ._findings import SEVERITY_RANK, Finding, Statement
from ._options import DoctorOptions
from ._records import Capture, Execution, Flush, OrmCall
from ._rewrite import batched_select, grouped_count
from ._slow_plan import describe
from ._sql import is_count, is_page_walk, is_select, is_transaction_control
from ._stack import Location, render

__all__ = ["analyse", "statements"]

ROW_SIZED_FLUSH: Final = 10
"""A flush writing fewer objects than this, run in a loop, is a flush per row."""


def statements(capture: Capture) -> tuple[Statement, ...]:
    """Return the statements ``capture`` saw, in order."""
    return tuple(_statement(e) for e in capture.executions)


def analyse(capture: Capture, options: DoctorOptions) -> tuple[Finding, ...]:
    """Return the findings, most severe first."""
    found: list[tuple[int, Finding]] = [(0, f) for f in capture.errors]
    lazy, covered = _n_plus_one(capture, options)
    found += lazy
    loops, looped = _loops(capture, options, covered)
    found += loops
    found += _duplicates(capture, options, covered | looped)
    found += _unused_eager_loads(capture)
    found += _flushes(capture.flushes, options)
    found += _slow(capture, options)
    found = [(seq, f) for seq, f in found if f.kind not in options.ignore]
    found.sort(key=lambda item: (-SEVERITY_RANK[item[1].severity], item[0]))
    return tuple(f for _, f in found)


def _statement(execution: Execution) -> Statement:
    return Statement(
        sql=execution.sql,
        parameters=execution.parameters,
        location=render(execution.location),
        duration=execution.duration,
        dialect=execution.dialect,
        transaction_control=is_transaction_control(execution.sql),
    )


def _group(items: Iterable[tuple[Hashable, Any]]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for key, item in items:
        groups[key].append(item)
    return groups


def _root(execution: Execution | None) -> Execution | None:
    """Follow relationship loads back to the plain query that started them."""
    for _ in range(64):
        if execution is None or execution.orm is None or not execution.orm.path:
            return execution
        execution = execution.orm.origin
    return None


def _n_plus_one(
    capture: Capture, options: DoctorOptions
) -> tuple[list[tuple[int, Finding]], set[Location]]:
    lazy = (e for e in capture.executions if e.orm is not None and e.orm.lazy_parent is not None)
    groups = _group(
        ((e.orm.path, e.location, id(_root(e.orm.origin))), e) for e in lazy if e.orm is not None
    )
    found: list[tuple[int, Finding]] = []
    covered: set[Location] = set()
    for (path, location, _), executions in groups.items():
        calls: list[OrmCall] = [e.orm for e in executions]
        if len({call.lazy_parent for call in calls}) < options.repeats:
            continue
        root = _root(calls[0].origin)
        existing = root.orm.eager if root is not None and root.orm is not None else ()
        covered.add(location)
        finding = Finding(
            kind="n_plus_one",
            severity="warning",
            count=len(executions),
            location=render(location),
            relationship=attribute_name(path[-1]),
            origin=render(root.location) if root is not None else None,
            fix=loader_chain(path, existing),
            statement=executions[0].sql,
        )
        found.append((executions[0].seq, finding))
    return found, covered


def _plain_selects(capture: Capture) -> Iterable[Execution]:
    for execution in capture.executions:
        if execution.orm is not None and execution.orm.path:
            continue  # a relationship load: the N+1 detector's business
        if is_select(execution.sql) and execution.location:
            yield execution


def _loops(
    capture: Capture, options: DoctorOptions, covered: set[Location]
) -> tuple[list[tuple[int, Finding]], set[Location]]:
    groups = _group(((e.sql, e.location), e) for e in _plain_selects(capture))
    found: list[tuple[int, Finding]] = []
    looped: set[Location] = set()
    for (sql, location), executions in groups.items():
        if len(executions) < options.repeats or location in covered:
            continue
        if len({e.key for e in executions}) < 2:
            continue  # the same parameters every time: a duplicate, not a loop
        looped.add(location)
        if is_page_walk(sql, [e.key for e in executions]):
            kind, severity, fix = "pagination_loop", "info", None
        elif is_count(sql):
            kind, severity, fix = "count_n_plus_one", "warning", grouped_count(executions)
        else:
            kind, severity, fix = "explicit_n_plus_one", "warning", batched_select(executions)
        finding = Finding(
            kind=kind,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            count=len(executions),
            location=render(location),
            fix=fix,
            statement=sql,
        )
        found.append((executions[0].seq, finding))
    return found, looped


def _duplicates(
    capture: Capture, options: DoctorOptions, covered: set[Location]
) -> list[tuple[int, Finding]]:
    groups = _group(((e.sql, e.key), e) for e in _plain_selects(capture))
    found: list[tuple[int, Finding]] = []
    for (sql, _), executions in groups.items():
        if len(executions) < options.repeats:
            continue
        if all(e.location in covered for e in executions):
            continue
        finding = Finding(
            kind="duplicate_query",
            severity="warning",
            count=len(executions),
            location=render(executions[1].location),
            origin=render(executions[0].location),
            statement=sql,
        )
        found.append((executions[1].seq, finding))
    return found


def _unused_eager_loads(capture: Capture) -> list[tuple[int, Finding]]:
    groups: dict[tuple[Any, Location], list[OrmCall]] = defaultdict(list)
    for call in capture.eager_calls:
        if call.rows == 0 or call.last is None:
            continue  # nothing loaded, nothing to read
        unused: list[Any] = []
        for load in {load.path: load for load in call.eager}.values():
            if any(load.path[:depth] in unused for depth in range(1, len(load.path))):
                continue  # its parent hop is unused already: one finding says it
            prop = load.path[-1]
            read = max(
                (
                    seq
                    for (cls, key), seq in capture.reads.items()
                    if key == prop.key and issubclass(cls, prop.parent.class_)
                ),
                default=-1,
            )
            if read < call.last.seq:
                unused.append(load.path)
                groups[(load, call.location)].append(call)
    found: list[tuple[int, Finding]] = []
    for (load, location), calls in groups.items():
        hop = f"{load.strategy}({attribute_name(load.path[-1])})"
        finding = Finding(
            kind="unused_eager_load",
            severity="warning",
            count=len(calls),
            location=render(location),
            relationship=attribute_name(load.path[-1]),
            fix=f"drop {hop if len(load.path) == 1 else '.' + hop}",
            statement=calls[0].last.sql if calls[0].last is not None else None,
        )
        found.append((calls[0].last.seq if calls[0].last is not None else 0, finding))
    return found


def _flushes(flushes: Sequence[Flush], options: DoctorOptions) -> list[tuple[int, Finding]]:
    found: list[tuple[int, Finding]] = []
    for location, group in _group((f.location, f) for f in flushes).items():
        if len(group) < options.repeats or max(f.objects for f in group) >= ROW_SIZED_FLUSH:
            continue
        if all(f.auto for f in group):
            fix = "with session.no_autoflush:  # around the loop; or query before adding"
        else:
            fix = "session.add_all(rows)\nawait session.flush()  # once, after the loop"
        finding = Finding(
            kind="flush_in_loop",
            severity="warning",
            count=len(group),
            location=render(location),
            fix=fix,
            statement=next((f.statement for f in group if f.statement), None),
        )
        found.append((group[0].seq, finding))
    return found


def _slow(capture: Capture, options: DoctorOptions) -> list[tuple[int, Finding]]:
    threshold = options.slow_query
    if threshold is None:
        return []
    slow = (
        e
        for e in capture.executions
        if e.duration is not None and e.duration >= threshold and not is_transaction_control(e.sql)
    )
    found: list[tuple[int, Finding]] = []
    for (sql, location), executions in _group(((e.sql, e.location), e) for e in slow).items():
        slowest = max(executions, key=lambda e: e.duration or 0.0)
        plan, fix = describe(next((e.plan for e in executions if e.plan is not None), None))
        finding = Finding(
            kind="slow_query",
            severity="warning",
            count=len(executions),
            location=render(location),
            statement=sql,
            fix=fix,
            detail=(
                f"Slowest run: {(slowest.duration or 0.0) * 1000:.1f} ms "
                f"(threshold {threshold * 1000:g} ms).{plan}"
            ),
        )
        found.append((executions[0].seq, finding))
    return found
