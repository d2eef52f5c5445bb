"""Which rules could decide a logged request differently had its redacted fields been seen.

A decision log stores requests after redaction: `content.text` is a hash or gone. Deciding such
a request again, a rule that reads the field sees the hash, not the text, so a changed outcome
may only be the redaction's doing (a rule that denied the original text no longer matches its
hash). `unreplayable_rules` names the rules that make a request's outcome depend on a redacted
field: rules that read the field (or a field above or below it), target the request's action,
channel and one of the actor's roles, and are *involved*: named by a reason of one of the two
decisions compared (the rule matched the original, or matches the hash), or changed between
the two policies compared. A request with such rules whose outcome changes is "not replayable
for those rules": counted apart, never reported as a change.

What this cannot see: a rule that would have matched the original value and does not match its
hash, in neither decision's reasons (a rule added by the change under review that reads the
redacted field): the replay then misses that change. docs/decision-log.md says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from typing import Any

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest
from replygate.policy_dsl import ast
from replygate.policy_dsl.schema import LABEL_OWNERS

__all__ = [
    "EVERY_RULE",
    "IMPLICIT_READS",
    "changed_rules",
    "reason_rules",
    "related",
    "rules_reading",
    "unreplayable_rules",
]

# Request fields every policy reads without naming them in a condition: who (roles), what,
# where, the response deadline (category, received_at) and the time of the request.
IMPLICIT_READS = (
    "actor",
    "action",
    "channel",
    "account",
    "approvals",
    "at",
    "post.category",
    "post.received_at",
)
EVERY_RULE = "every rule (roles, action, channel, deadlines, time)"


def related(field_name: str, path: str) -> bool:
    """Whether a redacted field and a read path overlap (one is the other, or inside it)."""
    return (
        field_name == path or field_name.startswith(path + ".") or path.startswith(field_name + ".")
    )


def rules_reading(policy: CompiledPolicy) -> dict[str, set[str]]:
    """Request field -> the rules whose conditions read it (dotted, as in the request JSON)."""
    found: dict[str, set[str]] = defaultdict(set)
    for rule in policy.rules:
        for path in _reads(rule.source):
            found[path].add(rule.name)
    return dict(found)


def unreplayable_rules(
    policy: CompiledPolicy,
    request: CheckRequest,
    redacted: Iterable[str],
    involved: Collection[str],
) -> list[str]:
    """The involved rules whose part in deciding `request` a redaction hides, sorted.

    `redacted` holds the record's `field=mode` entries (or bare field names); `involved` the
    rules named by the compared decisions' reasons or changed between the compared policies. A
    redacted field that every decision reads (the actor, the action, the time…) hides every rule.
    """
    fields = [entry.partition("=")[0] for entry in redacted]
    if not fields:
        return []
    if any(related(name, path) for name in fields for path in IMPLICIT_READS):
        return [EVERY_RULE]
    actor = request.actor
    roles = policy.roles_of(actor.id, tuple(actor.groups))
    found = {
        rule.name
        for rule in policy.candidates(request, roles)
        if rule.name in involved
        and any(related(name, path) for name in fields for path in _reads(rule.source))
    }
    return sorted(found)


def reason_rules(decision: Any) -> set[str]:
    """The rules a decision's reasons name (a Decision, or a logged decision's dict)."""
    if isinstance(decision, dict):
        reasons = decision.get("reasons")
        if not isinstance(reasons, list):
            return set()
        return {
            reason["rule"]
            for reason in reasons
            if isinstance(reason, dict) and isinstance(reason.get("rule"), str)
        }
    return {reason.rule for reason in decision.reasons if reason.rule}


def changed_rules(base: CompiledPolicy, head: CompiledPolicy) -> set[str]:
    """Rules added, removed or changed in what they decide between two policies.

    A rule whose message alone changed decides every request as before: counted changed, it
    made any logged request it could read "not replayable", and the gate ignored a real
    widening elsewhere in the change.
    """
    before = {rule.name: replace(rule.source, message=None) for rule in base.rules}
    after = {rule.name: replace(rule.source, message=None) for rule in head.rules}
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def _reads(rule: ast.Rule) -> Iterator[str]:
    """The request fields a rule's conditions read (a named list's test and `mentions` too)."""
    for node in ast.walk((*rule.when, *rule.unless)):
        if isinstance(node, ast.HasLabel):
            dotted = node.path.dotted
            yield LABEL_OWNERS.get(dotted, dotted)
        elif isinstance(
            node, ast.Compare | ast.Member | ast.Matches | ast.Truthy | ast.InList | ast.Mentions
        ):
            yield node.path.dotted
