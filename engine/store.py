"""The git store's old address: everything now lives in `engine.git`, one module a question."""

from replygate.engine.errors import GitError, NotARepository, UnknownRevision
from replygate.engine.git import CacheStats, PolicyRepo, RuleChange
from replygate.engine.gitrefs import InvalidRef

__all__ = [
    "CacheStats",
    "GitError",
    "InvalidRef",
    "NotARepository",
    "PolicyRepo",
    "RuleChange",
    "UnknownRevision",
]
