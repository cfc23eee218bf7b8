"""Run a Python script under the doctor, as ``python script.py args...`` would run it.

The profiler-style entry point: any code, plain SQLAlchemy included, is
watched without a change. The doctor's hooks are installed class-wide, so
every engine and session the script creates is seen; its scope follows
context variables, so ``asyncio.run()`` and the tasks it starts are inside
it (threads the script starts are not: a thread does not inherit context).
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ._findings import Report
from ._options import DoctorOptions
from ._scope import doctor

__all__ = ["ScriptRun", "run_script"]


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """What running a script under the doctor gave.

    Attributes:
        report: What the doctor saw.
        exit_code: The script's exit status, as ``python`` would have exited with.
        error: The exception the script died of, if it did (not ``SystemExit``).
    """

    report: Report
    exit_code: int
    error: BaseException | None = None


def run_script(
    path: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    options: DoctorOptions | None = None,
    strict: bool = False,
) -> ScriptRun:
    """Run the script at ``path`` as ``__main__`` with ``sys.argv = [path, *args]``, watched.

    The script's directory comes first on ``sys.path``, as with ``python
    path``; ``sys.argv`` and ``sys.path`` are restored afterwards. The
    script's exceptions are caught and returned, so that the report is
    complete either way.

    Args:
        path: The script.
        args: Its command-line arguments.
        options: The doctor's options (``fail_on`` is ignored: decide from the
            report what fails).
        strict: Refuse every lazy load (see `doctor.strict()`).

    Raises:
        FileNotFoundError: ``path`` is not a file.
    """
    script = Path(path)
    if not script.is_file():
        raise FileNotFoundError(f"No script at {str(script)!r}: give the path of a Python file.")
    quiet = replace(options or DoctorOptions(), fail_on=frozenset())
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.resolve().parent))
    watcher = doctor("raise", strict=strict, options=quiet)
    report = Report()
    try:
        with watcher as report:
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return ScriptRun(report, _exit_status(exc.code))
    except KeyboardInterrupt as exc:
        return ScriptRun(report, 130, exc)  # what a shell reports for SIGINT
    except Exception as exc:
        return ScriptRun(report, 1, exc)
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return ScriptRun(report, 0)


def _exit_status(code: object) -> int:
    """The status ``python`` exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # as the interpreter does
    return 1
