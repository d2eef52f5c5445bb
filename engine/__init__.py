"""Compilation, calendars and evaluation of replygate policies (imports policy_dsl, never api)."""

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_sources, load_policy
from replygate.engine.models import CheckRequest, Decision
from replygate.engine.source import PolicySource

__all__ = [
    "CheckRequest",
    "CompiledPolicy",
    "Decision",
    "PolicySource",
    "compile_sources",
    "load_policy",
]
