"""The linter's one error type: a usage error the user fixes (exit status 2 in the CLI)."""

from __future__ import annotations

from ...exceptions import AsqlaError


class LintUsageError(AsqlaError, ValueError):
    """The linter cannot run: a bad option, an unreadable file or a migration that is not Python.

    The message is one paragraph that names the file and line when there is one.
    """
