"""What several commands share: where the policy comes from, and its errors for a person."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy
    from replygate.engine.source import PolicySource


def fail(message: str, code: int = 2) -> int:
    """Print `replygate: error: …` on stderr and return the exit code."""
    print(f"replygate: error: {message}", file=sys.stderr)
    return code


def report(error: Exception, source: PolicySource | None = None) -> int:
    """Print a loading error (any of the `PolicyError` family, or a bad option) and return 2.

    A problem outside the files (git, a revision) is one `replygate: error:` line with its code;
    errors in the files are printed each with its location, source line and caret.
    """
    from replygate.engine.errors import PolicyError, SourceError

    if isinstance(error, SourceError):
        return fail(f"{error} [{error.code}]")
    if not isinstance(error, PolicyError):
        return fail(str(error))
    print(error.render(), file=sys.stderr)
    if source is not None and source.is_git:
        return fail(f"the policy at '{source.ref}' does not compile")
    return 2


def policy_source(
    policy: str | Path | None = None,
    *,
    repo: str | Path | None = None,
    ref: str | None = None,
    as_of: datetime | None = None,
    policy_dir: str | None = None,
) -> PolicySource:
    """The source the usual options name: `--repo` (with `--ref`, `--as-of`, `--policy-dir`),
    else the folder `--policy`. Raises `PolicyError` (a bad revision) or `ValueError`."""
    from replygate.engine.source import PolicySource

    if repo is None:
        return PolicySource.folder(policy if policy is not None else "policies")
    return PolicySource.git(repo, ref or "HEAD", as_of=as_of, policy_dir=policy_dir)


def load_or_report(source: PolicySource | str | Path) -> CompiledPolicy | None:
    """Compile the policy of `source` (a `PolicySource`, or a folder path), or print every
    error and return None."""
    from replygate.engine.errors import PolicyError
    from replygate.engine.source import PolicySource

    if not isinstance(source, PolicySource):
        source = PolicySource.folder(source)
    try:
        return source.load()
    except PolicyError as error:
        report(error, source)
        return None
