"""The query doctor: N+1 detection that names the fix, and query budgets.

Watch any block with `doctor` (a request, a test, a script); every
statement it runs is captured through SQLAlchemy's events, which are
installed only while some scope is active, and analysed when it exits::

    async with doctor(mode="raise") as report:
        ...

Bound a block's statements with `assert_max_queries`. The findings'
JSON form (``report.to_dict()``) is a documented contract.
"""

from ._errors import DoctorError as DoctorError
from ._errors import DoctorWarning as DoctorWarning
from ._errors import ImplicitIOError as ImplicitIOError
from ._errors import LazyLoadError as LazyLoadError
from ._errors import QueryBudgetExceededError as QueryBudgetExceededError
from ._findings import KINDS as KINDS
from ._findings import Finding as Finding
from ._findings import Kind as Kind
from ._findings import Report as Report
from ._findings import Severity as Severity
from ._findings import Statement as Statement
from ._options import DoctorOptions as DoctorOptions
from ._options import Mode as Mode
from ._scope import doctor as doctor
from .budget import assert_max_queries as assert_max_queries

__all__ = [
    "KINDS",
    "DoctorError",
    "DoctorOptions",
    "DoctorWarning",
    "Finding",
    "ImplicitIOError",
    "Kind",
    "LazyLoadError",
    "Mode",
    "QueryBudgetExceededError",
    "Report",
    "Severity",
    "Statement",
    "assert_max_queries",
    "doctor",
]
