"""The query doctor: N+1 detection that names the fix, query budgets, index advice, model audit.

Watch any block with `doctor` (a request, a test, a script); every
statement it runs is captured through SQLAlchemy's events, which are
installed only while some scope is active, and analysed when it exits::

    async with doctor(mode="raise") as report:
        ...

Bound a block's statements with `assert_max_queries`. The findings'
JSON form (``report.to_dict()``) is a documented contract. `explain` and
`advise` read a statement's plan and suggest the index that removes a full
scan; `audit_models` reads the models for what will fail or degrade;
`DoctorMiddleware` watches every request of a development server, and
`run_script` a whole script (``asqla doctor run``).
"""

from ._advice import advise as advise
from ._audit import audit_models as audit_models
from ._audit_report import AUDIT_KINDS as AUDIT_KINDS
from ._audit_report import AuditFinding as AuditFinding
from ._audit_report import AuditKind as AuditKind
from ._audit_report import AuditReport as AuditReport
from ._errors import DoctorError as DoctorError
from ._errors import DoctorWarning as DoctorWarning
from ._errors import ImplicitIOError as ImplicitIOError
from ._errors import LazyLoadError as LazyLoadError
from ._errors import QueryBudgetExceededError as QueryBudgetExceededError
from ._explain import Plan as Plan
from ._explain import PlanNode as PlanNode
from ._explain import explain as explain
from ._findings import KINDS as KINDS
from ._findings import Finding as Finding
from ._findings import Kind as Kind
from ._findings import Report as Report
from ._findings import Severity as Severity
from ._findings import Statement as Statement
from ._index_advice import Advice as Advice
from ._index_advice import IndexAdvice as IndexAdvice
from ._middleware import DoctorMiddleware as DoctorMiddleware
from ._options import DoctorOptions as DoctorOptions
from ._options import Mode as Mode
from ._scope import doctor as doctor
from ._script import ScriptRun as ScriptRun
from ._script import run_script as run_script
from .budget import assert_max_queries as assert_max_queries

__all__ = [
    "AUDIT_KINDS",
    "KINDS",
    "Advice",
    "AuditFinding",
    "AuditKind",
    "AuditReport",
    "DoctorError",
    "DoctorMiddleware",
    "DoctorOptions",
    "DoctorWarning",
    "Finding",
    "ImplicitIOError",
    "IndexAdvice",
    "Kind",
    "LazyLoadError",
    "Mode",
    "Plan",
    "PlanNode",
    "QueryBudgetExceededError",
    "Report",
    "ScriptRun",
    "Severity",
    "Statement",
    "advise",
    "assert_max_queries",
    "audit_models",
    "doctor",
    "explain",
    "run_script",
]
