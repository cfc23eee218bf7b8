"""What the model audit reports: `AuditFinding` and the `AuditReport` that holds them.

The JSON form is a contract (``asqla doctor audit --format json`` prints it)::

    {"dialect", "models": [...], "findings": [{"kind", "severity", "target",
                                               "location", "message", "fix"}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

__all__ = ["AUDIT_KEYS", "AUDIT_KINDS", "AuditFinding", "AuditKind", "AuditReport"]

AuditKind = Literal[
    "unindexed_foreign_key",
    "lazy_relationship",
    "dynamic_relationship",
    "joined_collection",
    "expire_on_commit",
    "naive_datetime",
    "unbounded_string",
    "soft_delete_unique",
]
"""The kinds of audit finding."""

AUDIT_KINDS: Final[tuple[AuditKind, ...]] = get_args(AuditKind)
"""Every audit kind, in the order the docs list them."""

AUDIT_KEYS: Final = ("kind", "severity", "target", "location", "message", "fix")
"""The keys of one audit finding in the JSON contract, in order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFinding:
    """One problem in the models.

    Attributes:
        kind: What was found (see `AuditKind`).
        severity: ``"warning"``, or ``"error"`` for what fails outright.
        target: What it is about: ``"Class.attribute"``, ``"table.column"``,
            ``"table"``, or ``"async_sessionmaker"``.
        location: ``"path:line"`` where it is declared, where known.
        message: What is wrong and what it costs, in one paragraph.
        fix: The fix, as code.
    """

    kind: AuditKind
    severity: Literal["warning", "error"]
    target: str
    location: str | None
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        """Return the finding in the JSON contract's shape."""
        return {key: getattr(self, key) for key in AUDIT_KEYS}


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The audit of a set of models.

    Attributes:
        dialect: The backend audited for, or ``None`` for every backend.
        models: The mapped classes audited, by name.
        findings: What was found, in declaration order.
    """

    dialect: str | None
    models: tuple[str, ...]
    findings: tuple[AuditFinding, ...]

    @property
    def exit_code(self) -> int:
        """1 when an error-severity finding exists, else 0 (for the command line)."""
        return 1 if any(f.severity == "error" for f in self.findings) else 0

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"dialect", "models", "findings": [...]}``, the JSON contract."""
        return {
            "dialect": self.dialect,
            "models": list(self.models),
            "findings": [finding.to_dict() for finding in self.findings],
        }

    def __str__(self) -> str:
        scope = f"for {self.dialect}" if self.dialect else "for every backend"
        head = f"asqla audit of {len(self.models)} model(s) {scope}"
        if not self.findings:
            return f"{head}: no findings."
        lines = [f"{head}: {len(self.findings)} finding(s):"]
        for finding in self.findings:
            where = f" ({finding.location})" if finding.location else ""
            lines.append(f"- [{finding.severity}] {finding.kind}: {finding.target}{where}")
            lines.append(f"    {finding.message}")
            lines += [
                f"    fix: {line}" if i == 0 else f"         {line}"
                for i, line in enumerate(finding.fix.splitlines())
            ]
        return "\n".join(lines)
