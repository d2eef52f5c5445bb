"""Policies kept in git, one module a question (see `repo.py` for how they fit together).

`PolicyRepo` is the facade callers use; `engine.source.PolicySource` is the usual way in.
"""

from replygate.engine.errors import (
    GitError,
    InvalidRevision,
    NotARepository,
    SourceError,
    UnknownRevision,
)
from replygate.engine.git.cache import CacheStats
from replygate.engine.git.history import RuleChange
from replygate.engine.git.repo import PolicyRepo

__all__ = [
    "CacheStats",
    "GitError",
    "InvalidRevision",
    "NotARepository",
    "PolicyRepo",
    "RuleChange",
    "SourceError",
    "UnknownRevision",
]
