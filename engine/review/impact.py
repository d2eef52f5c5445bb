"""Decision impact: decide every request on both sides, group the differences, classify them.

Permissiveness is a fixed order of outcomes, from least to most permissive:

    deny  <  escalate  <  approval_required  <  allow

A change up that order is *widening* (the actor may do more, or more easily), down it is
*narrowing*. Between two `approval_required` outcomes, fewer required approvers (a strict
subset) is widening and more (a strict superset) is narrowing; any other change of approvers,
and any change of escalation target, is *changed*: neither more nor less permissive, but a
different person now decides.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replygate.engine.models import CheckRequest, Decision
from replygate.engine.review.causes import Attribution, Cause
from replygate.engine.review.redacted import changed_rules, reason_rules, unreplayable_rules
from replygate.engine.review.space import Case, Space
from replygate.engine.review.traits import Traits
from replygate.engine.review.words import outcome_words, summary

if TYPE_CHECKING:
    from replygate.engine.review import NamedRequest, Side
    from replygate.engine.review.rules import RuleChange

PERMISSIVENESS = ("deny", "escalate", "approval_required", "allow")
CLASSES = ("widening", "narrowing", "changed")
# Example candidates kept per group, to pick varied examples from: so many actors, so many each.
POOL_ACTORS = 16
POOL_PER_ACTOR = 8
# The changed cases of each group tried again with every value of an attribute a thinned joint
# cut; and past those, at most so many requests in all.
THINNED_PER_GROUP = 4
THINNED_RETRIES = 5_000
# The changed cases of each group an approval can join tried again with each approval rule's
# trigger added (`Space.triggered`): one case per actor, channel, weekday, hour and reach, at
# most so many per group (the first four alone named a class by one channel and weekday of the
# several it holds), while so many requests last in all.
TRIGGERED_PER_GROUP = 64
TRIGGERED_RETRIES = 5_000
# Outcomes an approval joins: an allow becomes approval_required, an approval needs one more.
_JOINABLE = frozenset({"allow", "approval_required"})


@dataclass(frozen=True, order=True)
class Outcome:
    """What a decision lets the actor do: the outcome, its approvers and escalation target."""

    decision: str
    approvers: tuple[str, ...] = ()
    escalate_to: str | None = None

    def __str__(self) -> str:
        if self.decision == "approval_required":
            return f"approval_required[{', '.join(self.approvers)}]"
        if self.decision == "escalate":
            return f"escalate[{self.escalate_to}]"
        return self.decision


def outcome_of(decision: Decision) -> Outcome:
    """The part of a decision that review compares (reasons and deadlines are not compared)."""
    return Outcome(decision.decision, tuple(decision.approvers), decision.escalate_to)


def classify(before: Outcome, after: Outcome) -> str:
    """`widening`, `narrowing` or `changed`: where `after` stands to `before` in permissiveness."""
    old, new = PERMISSIVENESS.index(before.decision), PERMISSIVENESS.index(after.decision)
    if new != old:
        return "widening" if new > old else "narrowing"
    if before.decision == "approval_required":
        was, now = set(before.approvers), set(after.approvers)
        if now < was:
            return "widening"
        if now > was:
            return "narrowing"
    return "changed"


def deciding_rule(decision: Decision) -> str:
    """The rule that decided (the first reason), or the reason's code in parentheses."""
    if not decision.reasons:
        return "(none)"
    first = decision.reasons[0]
    return first.rule if first.rule is not None else f"({first.code})"


@dataclass(frozen=True)
class Example:
    """One concrete request of a group, with the rule that decided it on each side."""

    case: Case
    request: CheckRequest
    rule_before: str
    rule_after: str


@dataclass
class Group:
    """All requests whose outcome moved from `before` to `after` for one cause."""

    before: Outcome
    after: Outcome
    klass: str
    cause: Cause = field(default_factory=lambda: Cause("declarations"))
    count: int = 0
    examples: list[Example] = field(default_factory=list)
    traits: Traits = field(default_factory=Traits)
    summary: str = ""  # the group in words (see `words`)


@dataclass
class Impact:
    """The decision impact over the generated space."""

    requests: int
    decisions: int
    seconds: float
    zone: str
    groups: list[Group]

    def count(self, klass: str) -> int:
        """How many requests changed in the given class."""
        return sum(g.count for g in self.groups if g.klass == klass)

    @property
    def changed(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def widening(self) -> int:
        return self.count("widening")

    @property
    def narrowing(self) -> int:
        return self.count("narrowing")


NOT_REPLAYABLE = "not_replayable"


@dataclass(frozen=True)
class NamedChange:
    """A scenario or logged request whose outcome changes."""

    name: str
    source: str
    before: Outcome
    after: Outcome
    klass: str
    rule_before: str
    rule_after: str


def _varied(pool: Mapping[str, list[Example]], wanted: int) -> list[Example]:
    """Up to `wanted` examples: one per actor in turn, each actor's different attributes first."""
    queues: list[list[Example]] = []
    for examples in pool.values():
        seen: set[Case] = set()
        fresh: list[Example] = []
        repeats: list[Example] = []
        # Requests without approvals read most simply; sorting is stable, so order is kept.
        for example in sorted(examples, key=lambda e: bool(e.case.approvals)):
            key = example.case._replace(channel="", account=None, approvals=())
            (repeats if key in seen else fresh).append(example)
            seen.add(key)
        queues.append(fresh + repeats)
    chosen: list[Example] = []
    for turn in itertools.count():
        row = [queue[turn] for queue in queues if turn < len(queue)]
        if not row or len(chosen) >= wanted:
            break
        chosen += row[: wanted - len(chosen)]
    return chosen


GroupKey = tuple[Outcome, Outcome, Cause]


def decision_impact(
    base: Side,
    head: Side,
    space: Space,
    examples: int = 3,
    changes: Sequence[RuleChange] = (),
) -> Impact:
    """Decide every case on both sides; group the differences by (before -> after, cause)."""
    started = time.perf_counter()
    groups: dict[GroupKey, Group] = {}
    pools: dict[GroupKey, dict[str, list[Example]]] = {}
    attribution = Attribution(base, head, changes)
    old_decide, new_decide = base.policy.decide, head.policy.decide
    # A case tried for one actor of several with the same roles, or on one channel of several
    # (rules varied together), is tried for the others where its decision changes: the
    # sentence names every actor and channel it concerns.
    tried: set[Case] | None = None
    twins: list[Case] = []
    widened: dict[GroupKey, int] = {}
    joined: dict[GroupKey, set[tuple[object, ...]]] = {}
    spare, spare_joins = THINNED_RETRIES, TRIGGERED_RETRIES
    for case in itertools.chain(space.cases, _draining(twins)):
        request = case.request()
        old, new = old_decide(request), new_decide(request)
        if (
            old.decision == new.decision
            and old.approvers == new.approvers
            and old.escalate_to == new.escalate_to
        ):
            continue
        before, after = outcome_of(old), outcome_of(new)
        cause = attribution.cause(request, old, new)
        key = (before, after, cause)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(before, after, classify(before, after), cause)
            pools[key] = {}
            widened[key] = 0
            joined[key] = set()
        if space.twins or space.spread or space.thinned or space.triggers:
            tried = set(space.cases) if tried is None else tried
            for twin in space.twins_of(case):
                if twin not in tried:
                    tried.add(twin)
                    twins.append(twin)
            # A thinned attribute's every value: for the first few cases of each group, enough
            # to name its range (judy on duty 18:00-19:59); past them while a budget lasts, for
            # the classes they find (a competitor named at 20:00 needs marketing). Every case's
            # were tens of thousands of requests for a change that does not depend on it.
            first = widened[key] < THINNED_PER_GROUP
            if case in space.thinned and (first or spare > 0):
                widened[key] += 1
                for other in space.thinned_of(case):
                    if other not in tried:
                        tried.add(other)
                        twins.append(other)
                        spare -= 0 if first else 1
            # Another approval rule matching too: approvers add up, so a class with one more
            # approver (deny -> approval_required[comms_lead, legal]) that no rule's cases hold.
            joinable = before.decision in _JOINABLE or after.decision in _JOINABLE
            kind = (case.actor, case.channel, case.at.weekday(), case.at.hour, case.reach)
            seen = joined[key]
            if (
                joinable
                and kind not in seen
                and len(seen) < TRIGGERED_PER_GROUP
                and spare_joins > 0
            ):
                seen.add(kind)
                needed = frozenset(before.approvers) & frozenset(after.approvers)
                # And approvals given, one required role at a time: a deny that became
                # approval_required[marketing] is an allow where marketing has signed, and
                # approval_required[comms_lead] where another rule asks the comms lead too.
                asked = frozenset(before.approvers) | frozenset(after.approvers)
                retried = itertools.chain(space.triggered(case, needed), space.signed(case, asked))
                for other in retried:
                    if other not in tried:
                        tried.add(other)
                        twins.append(other)
                        spare_joins -= 1
        group.count += 1
        group.traits.add(case)
        pool = pools[key]
        mine = pool.get(case.actor)
        if mine is None and len(pool) < POOL_ACTORS:
            mine = pool[case.actor] = []
        if mine is not None and len(mine) < POOL_PER_ACTOR:
            mine.append(Example(case, request, deciding_rule(old), deciding_rule(new)))
    for key, group in groups.items():
        group.examples = _varied(pools[key], examples)
    _summarise(groups.values(), space, base, head)
    ordered = sorted(
        groups.values(),
        key=lambda g: (CLASSES.index(g.klass), -g.count, str(g.before), str(g.after), g.cause),
    )
    requests = len(space) + (0 if tried is None else len(tried) - len(space.cases))
    return Impact(
        requests=requests,
        decisions=2 * requests,
        seconds=time.perf_counter() - started,
        zone=space.zone,
        groups=ordered,
    )


def _draining(queue: list[Case]) -> Iterator[Case]:
    """The cases appended to `queue`, also those appended while it is read."""
    index = 0
    while index < len(queue):
        yield queue[index]
        index += 1


def _summarise(groups: Iterable[Group], space: Space, base: Side, head: Side) -> None:
    """Each group's sentence, against the traits of the whole space."""
    groups = list(groups)
    if not groups or space.baseline is None:
        return
    every = Traits.of(space.cases)

    def roles_of(actor: str, member_of: tuple[str, ...]) -> frozenset[str]:
        return base.policy.roles_of(actor, member_of) | head.policy.roles_of(actor, member_of)

    for group in groups:
        before = outcome_words(
            group.before.decision, group.before.approvers, group.before.escalate_to, past=True
        )
        after = outcome_words(group.after.decision, group.after.approvers, group.after.escalate_to)
        group.summary = summary(group.traits, every, space.baseline, roles_of, before, after)


def named_changes(base: Side, head: Side, named: Sequence[NamedRequest]) -> list[NamedChange]:
    """The named requests (scenarios, logged decisions) whose outcome differs between the sides.

    A logged request whose redacted fields a rule of either side reads (for its action, channel
    and roles) gets the class `not_replayable`, never a change class: the difference may be the
    redaction's doing. `rule_after` then names those rules.
    """
    found = []
    changed: set[str] | None = None
    for item in named:
        old, new = base.policy.decide(item.request), head.policy.decide(item.request)
        before, after = outcome_of(old), outcome_of(new)
        if before == after:
            continue
        hidden: list[str] = []
        if item.redacted:
            if changed is None:
                changed = changed_rules(base.policy, head.policy)
            involved = changed | reason_rules(old) | reason_rules(new)
            hidden = sorted(
                {
                    *unreplayable_rules(base.policy, item.request, item.redacted, involved),
                    *unreplayable_rules(head.policy, item.request, item.redacted, involved),
                }
            )
        found.append(
            NamedChange(
                item.name,
                item.source,
                before,
                after,
                NOT_REPLAYABLE if hidden else classify(before, after),
                deciding_rule(old),
                ", ".join(hidden) if hidden else deciding_rule(new),
            )
        )
    return found


@dataclass(frozen=True)
class Expectation:
    """The outcome a scenario's Then step expects, as plain data, and where that step is written."""

    decision: str  # allow | deny | escalate | approval_required
    roles: tuple[str, ...] = ()  # the escalation target, or the approvers (sorted)
    negated: bool = False  # "is not allowed"
    where: str | None = None  # file:line of the Then step

    def holds(self, outcome: Outcome) -> bool:
        """Whether an outcome is what the step expects (checked as the scenario step does)."""
        if self.negated:
            return outcome.decision != self.decision
        if outcome.decision != self.decision:
            return False
        if self.decision == "escalate":
            return (outcome.escalate_to,) == self.roles[:1]
        if self.decision == "approval_required":
            return outcome.approvers == self.roles
        return True

    def __str__(self) -> str:
        if self.negated:
            return "not allowed"
        if self.decision == "escalate":
            return f"escalate[{', '.join(self.roles)}]"
        if self.decision == "approval_required":
            return f"approval_required[{', '.join(self.roles)}]"
        return self.decision


@dataclass(frozen=True)
class BrokenScenario:
    """A scenario whose expected outcome HEAD no longer gives."""

    name: str
    where: str | None
    expected: Expectation
    base: Outcome
    head: Outcome
    rule_after: str
    held_on_base: bool  # False: it already failed on BASE; the change did not break it


def broken_scenarios(base: Side, head: Side, named: Sequence[NamedRequest]) -> list[BrokenScenario]:
    """The named requests with an expectation that HEAD's decision does not meet."""
    found = []
    for item in named:
        if item.expected is None:
            continue
        new = head.policy.decide(item.request)
        after = outcome_of(new)
        if item.expected.holds(after):
            continue
        before = outcome_of(base.policy.decide(item.request))
        found.append(
            BrokenScenario(
                item.name,
                item.expected.where,
                item.expected,
                before,
                after,
                deciding_rule(new),
                item.expected.holds(before),
            )
        )
    return found
