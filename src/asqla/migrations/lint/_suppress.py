"""``# asqla: ignore[rule-name] reason`` comments.

An ignore applies to the statement it ends (any line of it) or, alone on its
line, to the statement right below. The reason is required: a comment
without one, or naming an unknown rule, is itself reported
(``invalid-ignore``) and silences nothing.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

_IGNORE = re.compile(r"^#\s*asqla:\s*ignore\b(?P<rest>.*)$")
_BRACKETS = re.compile(r"^\[(?P<rules>[^\]]*)\]\s*(?P<reason>.*)$")


@dataclass(frozen=True)
class Ignore:
    """One ignore comment: the line it is on, the rules it names, and whether it stands alone."""

    line: int
    rules: frozenset[str]
    reason: str
    alone: bool


@dataclass(frozen=True)
class BadIgnore:
    line: int
    problem: str


def read_ignores(source: str, known: set[str]) -> tuple[list[Ignore], list[BadIgnore]]:
    """The valid and the invalid ignore comments of ``source``."""
    ignores: list[Ignore] = []
    bad: list[BadIgnore] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return ignores, bad
    for token in tokens:
        if token.type != tokenize.COMMENT or not (match := _IGNORE.match(token.string)):
            continue
        line = token.start[0]
        brackets = _BRACKETS.match(match["rest"].strip())
        if brackets is None:
            bad.append(BadIgnore(line, "names no rule: write # asqla: ignore[rule-name] reason"))
            continue
        rules = frozenset(r.strip() for r in brackets["rules"].split(",") if r.strip())
        unknown = sorted(rules - known)
        reason = brackets["reason"].strip()
        if not rules or unknown:
            bad.append(BadIgnore(line, f"names unknown rules {unknown or ['(none)']!r}"))
        elif not reason:
            bad.append(BadIgnore(line, "gives no reason: say why the operation is safe here"))
        else:
            alone = token.line.strip().startswith("#")
            ignores.append(Ignore(line, rules, reason, alone))
    return ignores, bad


def is_ignored(ignores: list[Ignore], rule: str, first: int, last: int) -> bool:
    """Whether an ignore for ``rule`` covers a finding on lines ``first`` to ``last``."""
    return any(
        rule in ignore.rules
        and (first <= ignore.line <= last or (ignore.alone and ignore.line == first - 1))
        for ignore in ignores
    )
