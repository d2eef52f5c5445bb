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

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from replygate.engine.evaluator import CompiledPolicy, CompiledRule, Evaluation
from replygate.engine.models import CheckRequest, Decision

if TYPE_CHECKING:
    from replygate.engine.review import Side
    from replygate.engine.review.rules import RuleChange

RULES, AUTHORITY, ORDER, DECLARATIONS = "rules", "authority", "order", "declarations"


@dataclass(frozen=True, order=True)
class Cause:
    """What moved a group's decisions: changed rules (HEAD names), authority, the order of
    unchanged rules (`moves` says where each went), or declarations."""

    kind: str  # RULES | AUTHORITY | ORDER | DECLARATIONS
    rules: tuple[str, ...] = ()
    moves: tuple[str, ...] = ()  # ORDER: "NAME moved from FILE:LINE to FILE:LINE"


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
        self._moved_rules: set[str] | None = None
        self._order_cache: (
            tuple[
                dict[str, str],
                dict[str, CompiledRule],
                dict[str, CompiledRule],
                list[dict[str, int]],
            ]
            | None
        ) = None

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
        moved = self._reordered(set(before) & set(after) & deciding)
        if moved:
            return Cause(ORDER, tuple(sorted(moved)), tuple(moved[n] for n in sorted(moved)))
        return Cause(DECLARATIONS)

    def _reordered(self, names: set[str]) -> dict[str, str]:
        """Of the rules `names` (HEAD names, matching on both sides), those whose order among
        them differs between the sides, with where they were and are: files are read in path
        order, and the first matching escalation names the target, so moving a rule to another
        file can change a decision without changing a rule."""
        back, base_rules, head_rules, places = self._order()
        # Only escalations to different targets: the first one that matches names the target;
        # allows, denies, approvals and escalations to one role decide the same in any order.
        kept = sorted(
            n
            for n in names
            if all(n in place for place in places) and head_rules[n].effect == "escalate"
        )
        flipped: set[str] = set()
        for first, second in itertools.combinations(kept, 2):
            if head_rules[first].roles == head_rules[second].roles:
                continue
            if (places[0][first] < places[0][second]) != (places[1][first] < places[1][second]):
                flipped |= {first, second}
        found = {}
        for name in sorted((flipped & self._moved()) or flipped):
            was = base_rules[back.get(name, name)].source.span
            now = head_rules[name].source.span
            found[name] = f"{name} moved from {was.file}:{was.line} to {now.file}:{now.line}"
        return found

    def _order(
        self,
    ) -> tuple[
        dict[str, str], dict[str, CompiledRule], dict[str, CompiledRule], list[dict[str, int]]
    ]:
        """HEAD names to BASE names, each side's rules by name, and each side's places (HEAD
        names): built once, not for every changed request."""
        if self._order_cache is None:
            base, head = self.base.policy.rules, self.head.policy.rules
            self._order_cache = (
                {new: old for old, new in self.renamed.items()},
                {r.name: r for r in base},
                {r.name: r for r in head},
                [
                    {self.renamed.get(r.name, r.name): i for i, r in enumerate(base)},
                    {r.name: i for i, r in enumerate(head)},
                ],
            )
        return self._order_cache

    def _moved(self) -> set[str]:
        """The fewest rules (HEAD names) whose moving explains the new order: those outside the
        longest run of rules both sides keep in the same order. A rule that only shifted up
        because another left the file above it did not move."""
        if self._moved_rules is None:
            base_place, head_place = self._order()[3]
            order = [n for n in sorted(base_place, key=base_place.__getitem__) if n in head_place]
            self._moved_rules = set(order) - _longest_increasing(order, head_place)
        return self._moved_rules

    def _authority_moved(self, request: CheckRequest) -> bool:
        """The actor, or an approver, holds other roles on HEAD than on BASE."""
        people = [(request.actor.id, tuple(request.actor.groups))]
        people += [(a.by, tuple(a.groups)) for a in request.approvals]
        return any(
            self.base.policy.roles_of(*who) != self.head.policy.roles_of(*who) for who in people
        )


def _longest_increasing(names: Sequence[str], place: dict[str, int]) -> set[str]:
    """The names of a longest subsequence of `names` whose places increase (patience sorting,
    n log n: a policy of thousands of rules is reviewed in one pass)."""
    tails: list[int] = []  # tails[k]: index in `names` ending the best run of length k + 1
    keys: list[int] = []  # the places of those tails, for bisect
    parent: list[int] = [-1] * len(names)
    for index, name in enumerate(names):
        key = place[name]
        length = bisect.bisect_left(keys, key)
        if length > 0:
            parent[index] = tails[length - 1]
        if length == len(tails):
            tails.append(index)
            keys.append(key)
        else:
            tails[length] = index
            keys[length] = key
    kept: set[str] = set()
    index = tails[-1] if tails else -1
    while index >= 0:
        kept.add(names[index])
        index = parent[index]
    return kept
