"""Statement capture: SQLAlchemy event hooks, installed only while a doctor scope is active.

The first scope to become active installs the hooks, class-wide (every
engine, session and mapper, existing or future); the last one to end removes
them, so that with the doctor off not one listener is left
(``sqlalchemy.event.contains`` says so). Each hook first reads the
`current` context variable and returns at once when the code running
is outside any scope: two concurrent requests, one watched and one not, never
mix. Scopes nest (a budget inside a request): a statement is recorded by the
innermost scope and every scope around it.

- ``do_orm_execute``: what the ORM knows (lazy load of which relationship,
  for which parent; the loader options), the user's line, and the lazy loads
  that must be refused. It passes an `OrmCall` on to the cursor hooks
  as an execution option.
- ``before_cursor_execute`` / ``after_cursor_execute``: every statement sent
  to the driver, ORM or Core, with its time.
- ``load`` (every mapper): which statement loaded each instance, the
  *origin* an N+1 finding points to.
- ``before_flush`` / ``after_flush_postexec``: flushes and their size.
- ``InstrumentedAttribute.__get__``: reads of the relationships some query
  loaded eagerly, for ``unused_eager_load``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextvars import Token
from types import FrameType
from typing import Any, Final

import greenlet  # type: ignore[import-untyped]  # no stubs; SQLAlchemy's own dependency
from sqlalchemy import Engine, event
from sqlalchemy.orm import (
    InstanceState,
    InstrumentedAttribute,
    Mapper,
    ORMExecuteState,
    RelationshipProperty,
    Session,
)
from sqlalchemy.orm.unitofwork import UOWTransaction
from sqlalchemy.util.concurrency import in_greenlet

from ._eager import eager_paths
from ._lazy import by_attribute_access, implicit_io_error, strict_error
from ._records import OPTION, Capture, Execution, Flush, OrmCall, current, next_seq
from ._slow_plan import explain_slow
from ._sql import is_transaction_control
from ._stack import capture_location

__all__ = ["activate", "deactivate", "installed"]

_CONTEXT_ATTRIBUTE: Final = "_asqla_doctor_execution"


def _do_orm_execute(state: ORMExecuteState) -> None:
    capture = current.get()
    if capture is None:
        return
    location = capture_location()
    if not in_greenlet() and _is_async(state):
        raise implicit_io_error(capture, location)
    path: tuple[Any, ...] = ()
    lazy: InstanceState[Any] | None = None
    if state.is_select:
        strategy_path = state.loader_strategy_path
        if strategy_path is not None and not strategy_path.is_root:
            hops = strategy_path.natural_path[1::2]
            if all(isinstance(hop, RelationshipProperty) for hop in hops):
                path = tuple(hops)
        lazy = state.lazy_loaded_from
        if lazy is not None and capture.strict and by_attribute_access():
            raise strict_error(capture, location)
    if lazy is not None:
        origin = capture.origins.get(lazy)
    else:
        origin = capture.roots.get(greenlet.getcurrent()) if path else None
    eager = eager_paths(state.statement) if state.is_select and not path else ()
    call = OrmCall(
        statement=state.statement,
        parameters=state.parameters,
        location=location,
        path=path,
        lazy_parent=id(lazy) if lazy is not None else None,
        origin=origin,
        eager=eager,
    )
    if eager:
        for scope in capture.chain():
            scope.eager_calls.append(call)
        capture.watched.update(prop.key for load in eager for prop in load.path)
    state.update_execution_options(**{OPTION: call})


def _is_async(state: ORMExecuteState) -> bool:
    try:
        bind = state.session.get_bind(**state.bind_arguments)
    except Exception:  # no bind: SQLAlchemy will say so itself
        return False
    return bool(bind.dialect.is_async)


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    capture = current.get()
    if capture is None or context is None:
        return
    call: OrmCall | None = context.execution_options.get(OPTION)
    running = greenlet.getcurrent()
    flush = capture.flushing.get(running)
    if call is not None:
        location = call.location
    elif flush is not None:
        location = flush.location
    else:
        location = capture_location()
    compiled = getattr(context, "compiled", None)
    execution = Execution(
        seq=next_seq(),
        sql=statement,
        parameters=parameters,
        key=_freeze(parameters),
        location=location,
        dialect=conn.dialect.name,
        started=time.perf_counter(),
        statement=call.statement if call is not None else getattr(compiled, "statement", None),
        orm=call,
    )
    setattr(context, _CONTEXT_ATTRIBUTE, execution)
    if call is not None:
        call.last = execution
        if not call.path:
            capture.roots[running] = execution
    if flush is not None and flush.statement is None and not is_transaction_control(statement):
        flush.statement = statement
    for scope in capture.chain():
        scope.executions.append(execution)


def _after_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    execution: Execution | None = getattr(context, _CONTEXT_ATTRIBUTE, None)
    if execution is not None and execution.duration is None:
        execution.duration = time.perf_counter() - execution.started
        capture = current.get()
        threshold = capture.slow_query if capture is not None else None
        if threshold is not None and execution.duration >= threshold:
            # Now, on the statement's own connection and in its transaction.
            execution.plan = explain_slow(conn, statement, parameters, context)


def _load(state: InstanceState[Any], context: Any) -> None:
    capture = current.get()
    if capture is None:
        return
    call: OrmCall | None = context.execution_options.get(OPTION)
    if call is None or call.last is None:
        return
    call.rows += 1
    capture.origins[state] = call.last


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    capture = current.get()
    if capture is None:
        return
    objects = len(session.new) + len(session.dirty) + len(session.deleted)
    auto = any(frame.f_code is _AUTOFLUSH for frame in _greenlet_frames(sys._getframe(1)))
    flush = Flush(seq=next_seq(), location=capture_location(), objects=objects, auto=auto)
    capture.flushing[greenlet.getcurrent()] = flush
    for scope in capture.chain():
        scope.flushes.append(flush)


_AUTOFLUSH = Session._autoflush.__code__


def _greenlet_frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _after_flush_postexec(session: Session, flush_context: UOWTransaction) -> None:
    capture = current.get()
    if capture is not None:
        capture.flushing.pop(greenlet.getcurrent(), None)


_original_get = InstrumentedAttribute.__get__


def _tracking_get(self: InstrumentedAttribute[Any], instance: Any, owner: Any) -> Any:
    if instance is not None:
        capture = current.get()
        if capture is not None and self.key in capture.watched:
            capture.reads[(type(instance), self.key)] = next_seq()
    return _original_get(self, instance, owner)


def _freeze(value: Any) -> Any:
    """Make driver parameters hashable, to compare two runs of a statement."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


_LISTENERS: Final[tuple[tuple[Any, str, Any, dict[str, Any]], ...]] = (
    (Engine, "before_cursor_execute", _before_cursor_execute, {}),
    (Engine, "after_cursor_execute", _after_cursor_execute, {}),
    (Session, "do_orm_execute", _do_orm_execute, {}),
    (Session, "before_flush", _before_flush, {}),
    (Session, "after_flush_postexec", _after_flush_postexec, {}),
    (Mapper, "load", _load, {"raw": True}),
)
_lock = threading.Lock()
_active = 0


def installed() -> bool:
    """Tell whether the hooks are installed (some doctor scope is active somewhere)."""
    return _active > 0


def activate(capture: Capture) -> Token[Capture | None]:
    """Make ``capture`` the current scope, installing the hooks if it is the first."""
    global _active
    with _lock:
        if _active == 0:
            for target, name, hook, options in _LISTENERS:
                event.listen(target, name, hook, **options)
            InstrumentedAttribute.__get__ = _tracking_get  # type: ignore[method-assign]
        _active += 1
    return current.set(capture)


def deactivate(token: Token[Capture | None]) -> None:
    """End the scope ``token`` started; the last scope to end removes the hooks."""
    global _active
    try:
        current.reset(token)
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                InstrumentedAttribute.__get__ = _original_get  # type: ignore[method-assign]
                for target, name, hook, _ in _LISTENERS:
                    event.remove(target, name, hook)
