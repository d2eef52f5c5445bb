"""Why one request's decision changed: the rule changes behind it.

For a request whose outcome differs, the rules that match it are found on each side (names on
BASE read as HEAD names through renames). A rule *differs* for the request when it matches on
one side only, or on both with another effect. Of those, the ones that decided on either side
are the cause; the text changes of those rules (from `rules.rule_changes`) name it. When no
changed rule is among them, the decision moved through a declaration (a calendar, a response
time, a channel) or through authority (who holds which role), and the cause says which.

Grouping by cause keeps apart two unrelated edits that happen to move requests the same way
(say `deny -> allow` through one removed rule and one added grant).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from replygate.engine.evaluator import CompiledPolicy, CompiledRule, Evaluation
from replygate.engine.models import CheckRequest, Decision

if TYPE_CHECKING:
    from replygate.engine.review import Side
    from replygate.engine.review.rules import RuleChange

RULES, AUTHORITY, DECLARATIONS = "rules", "authority", "declarations"


@dataclass(frozen=True, order=True)
class Cause:
    """What moved a group's decisions: changed rules (HEAD names), authority or declarations."""

    kind: str  # RULES | AUTHORITY | DECLARATIONS
    rules: tuple[str, ...] = ()


def matched(policy: CompiledPolicy, request: CheckRequest) -> dict[str, CompiledRule]:
    """Every rule whose target and conditions match the request, by name."""
    actor = request.actor
    roles = policy.roles_of(actor.id, tuple(actor.groups))
    evaluation = Evaluation(policy, request, roles)
    return {
        rule.name: rule
        for rule in policy.candidates(request, roles)
        if rule.test is None or rule.test(evaluation)
    }


def _deciding(decision: Decision) -> set[str]:
    return {reason.rule for reason in decision.reasons if reason.rule is not None}


class Attribution:
    """Finds the cause of each changed decision between two sides."""

    def __init__(self, base: Side, head: Side, changes: Sequence[RuleChange]) -> None:
        self.base, self.head = base, head
        self.renamed = {c.old_name: c.rule for c in changes if c.old_name is not None}
        self.changed = {c.rule for c in changes if c.change != "renamed"}

    def _head_names(self, names: Iterable[str]) -> set[str]:
        return {self.renamed.get(name, name) for name in names}

    def cause(self, request: CheckRequest, old: Decision, new: Decision) -> Cause:
        """The cause of the change from `old` (BASE) to `new` (HEAD) for this request."""
        before = {self.renamed.get(n, n): r for n, r in matched(self.base.policy, request).items()}
        after = matched(self.head.policy, request)
        differing = set(before) ^ set(after)
        differing |= {
            name
            for name in set(before) & set(after)
            # The count too: `require 3 approvals` lowered to 2 is a change of this rule.
            if (before[name].effect, before[name].roles, before[name].count)
            != (after[name].effect, after[name].roles, after[name].count)
        }
        deciding = self._head_names(_deciding(old)) | _deciding(new)
        relevant = (differing & deciding) or differing
        rules = tuple(sorted(relevant & self.changed))
        if rules:
            return Cause(RULES, rules)
        if self._authority_moved(request):
            return Cause(AUTHORITY)
        return Cause(DECLARATIONS)

    def _authority_moved(self, request: CheckRequest) -> bool:
        """The actor, or an approver, holds other roles on HEAD than on BASE."""
        people = [(request.actor.id, tuple(request.actor.groups))]
        people += [(a.by, tuple(a.groups)) for a in request.approvals]
        return any(
            self.base.policy.roles_of(*who) != self.head.policy.roles_of(*who) for who in people
        )
