"""The one family of policy-loading errors: every failure has a code, a message and a location.

    PolicyError (policy_dsl.source)      every error of the files: syntax, checks, limits
    └── SourceError                      a failure that is not in a policy file
        ├── InvalidRevision  invalid_revision   a revision name refused before git sees it
        ├── UnknownRevision  unknown_revision   a well-formed name that names no commit
        ├── NotARepository   not_a_repository   the path is not a git repository
        ├── InvalidPolicyDir invalid_policy_dir the policy folder is not a path inside the repo
        └── GitError         git_error          git itself failed (corrupt object, fetch refused)

A caller catches `PolicyError` once and reads `error.diagnostics` (or `error.code`); the codes of
this module are the API's error codes too. A source error has no position in a file: its
diagnostic's span is `NO_POSITION`, rendered without a location and sent with `location: null`.
The revision classes also derive from `ValueError`, and `GitError` from `RuntimeError`, so code
written before the family existed keeps catching them.
"""

from __future__ import annotations

from typing import ClassVar

from replygate.policy_dsl.source import NO_POSITION, Diagnostic, PolicyError

__all__ = [
    "AmbiguousRevision",
    "GitError",
    "InvalidPolicyDir",
    "InvalidRevision",
    "NotARepository",
    "PolicyError",
    "SourceError",
    "UnknownRevision",
]


class SourceError(PolicyError):
    """A policy that cannot be loaded for a reason outside its files (git, a revision name)."""

    code: ClassVar[str] = "source_error"

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__([Diagnostic(self.code, message, NO_POSITION, help=help)])
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message,))


class InvalidRevision(SourceError, ValueError):
    """A revision name refused before it reaches git; the message says why."""

    code = "invalid_revision"


class UnknownRevision(SourceError, ValueError):
    """A well-formed revision that names no commit (or no commit at the requested time)."""

    code = "unknown_revision"


class AmbiguousRevision(UnknownRevision):
    """A short name that several refs answer to (a tag and a branch both called `main`).

    git would pick the tag; refused instead, so a pushed tag cannot replace a followed branch.
    """

    code = "ambiguous_revision"


class NotARepository(SourceError, ValueError):
    """The path is not a git repository."""

    code = "not_a_repository"


class InvalidPolicyDir(SourceError, ValueError):
    """The policy folder named for a repository is not a relative path inside it."""

    code = "invalid_policy_dir"


class GitError(SourceError, RuntimeError):
    """git itself failed (fetch refused, corrupt object, …); the message carries git's words."""

    code = "git_error"
