"""Text patterns (`matches /…/i`) compiled with RE2: linear time on untrusted text, no backtracking."""

from __future__ import annotations

from typing import Any

import re2


def compile_pattern(pattern: str, ignore_case: bool) -> Any:
    """Compile a policy pattern; raises `PatternError` with RE2's reason in words."""
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print to stderr; we report the error ourselves
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None


class PatternError(ValueError):
    """A pattern RE2 cannot compile (unbalanced parentheses, backreferences, lookaround, …)."""
