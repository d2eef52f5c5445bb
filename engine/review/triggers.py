"""What makes each approval rule ask for its approval, to add to a request that changed.

Approvers add up: a request that two approval rules match needs both approvals. A change that
turns a deny into `approval_required[comms_lead]` also turns it into
`approval_required[comms_lead, legal]` where the legal rule matches too, but neither the rule's
own cases nor two rules varied together hold three rules' conditions at once. So each approval
rule's *trigger* (the smallest change to a plain request that makes it ask, found among its own
cases) is added to the changed requests whose outcome an approval can join (`decision_impact`).
The same search finds where a limit bites, to choose a channel no third rule hides it on
(`smallest_changes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from replygate.engine.review.cases import NEUTRAL_TEXT, ApprovalItem, Case, Patch

if TYPE_CHECKING:
    from replygate.engine.review import Side
    from replygate.policy_dsl import ast

# A rule's cases looked at for its triggers (the first ones: its plainest), how many of the
# smallest are decided (and as many more spread over the larger ones while too few are
# found), and how many triggers a rule keeps: each per action.
TRIGGER_CANDIDATES = 2_000
TRIGGER_CHECKS = 16
TRIGGERS_PER_RULE = 2
# The fields a trigger may set: not who acts, how, where (the changed request keeps those), nor
# approvals given (they satisfy a requirement, the opposite of a trigger).
_KEPT = frozenset({"actor", "groups", "action", "channel", "account", "approvals"})
_FIELDS = tuple(f for f in Case._fields if f not in _KEPT)
# Labels add up; a context flag replaces the flag of its name only; a text is appended to one
# the case varied.
_UNIONED = frozenset({"post_labels", "content_labels"})
_TEXTS = frozenset({"post_text", "content_text"})
_PLAIN_TEXTS = frozenset({None, "", NEUTRAL_TEXT})
# A candidate change, as hashable (field, value) pairs.
_Key = tuple[tuple[str, object], ...]


class Trigger(NamedTuple):
    """A change to a request (of `action`) that makes an approval rule ask for `roles`."""

    action: str
    roles: frozenset[str]
    patch: Patch

    def added_to(self, case: Case, kept: frozenset[str] = frozenset()) -> Case:
        """`case` with this trigger's values: labels, context flags and varied texts joined,
        others set, except the fields in `kept`, whose value (or flag) the case keeps."""
        updates: Patch = {}
        for key, value in self.patch.items():
            mine = getattr(case, key)
            if key in _UNIONED:
                updates[key] = tuple(sorted({*mine, *value}))
            elif key in _TEXTS and mine not in _PLAIN_TEXTS:
                # Both texts, so that what the case's own text matched still matches.
                updates[key] = f"{mine} {value}"
            elif key == "context":
                flags = {item[0]: item for item in mine}
                for item in value:
                    if key not in kept or item[0] not in flags:
                        flags[item[0]] = item
                updates[key] = tuple(sorted(flags.values()))
            elif key not in kept:
                updates[key] = value
        return case._replace(**updates)


class Triggers:
    """The approval rules of both sides, each with its cases; a rule's triggers are found the
    first time a changed request it can apply to needs them (`added_to`), so a change that
    concerns few of a large policy's approval rules costs only theirs."""

    def __init__(
        self,
        sides: Sequence[Side],
        plain: Callable[[Case], Case],
        roles_of: Callable[[str, tuple[str, ...]], frozenset[str]],
        signing: Callable[[Case, str], tuple[ApprovalItem, ...]] | None = None,
    ) -> None:
        self._sides = tuple(sides)
        self._plain = plain
        self._roles_of = roles_of
        self._signing = signing
        self._rules: list[tuple[Sequence[ast.Rule], list[Case]]] = []
        self._found: dict[int, list[Trigger]] = {}

    def add(self, versions: Sequence[ast.Rule], cases: list[Case]) -> None:
        """Keep `cases` of a rule if a version of it asks for approval."""
        if any(rule.effect.kind == "approval_required" for rule in versions):
            self._rules.append((versions, cases))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def added_to(self, case: Case, approvers: frozenset[str]) -> Iterator[Case]:
        """`case` with each trigger added of the approval rules that can apply to it and ask
        for an approval besides `approvers` (one the outcome already needs changes nothing)."""
        roles = self._roles_of(case.actor, case.groups)
        # A value the trigger sets may be the very one the case varied to change (a negative
        # post with 10,000 followers set on one with 99,999 lifted the deny that held there):
        # the trigger is tried once more with the case's own values kept, where they differ.
        start = self._plain(case)
        varied = frozenset(f for f in _FIELDS if getattr(case, f) != getattr(start, f))
        for index, (versions, cases) in enumerate(self._rules):
            if not _targets(versions, case, roles):
                continue
            found = self._found.get(index)
            if found is None:
                found = self._found[index] = _triggers_of(self._sides, versions, cases, self._plain)
            for trigger in found:
                if trigger.action == case.action and not trigger.roles <= approvers:
                    joined = trigger.added_to(case)
                    yield joined
                    if varied & trigger.patch.keys():
                        mine = trigger.added_to(case, varied)
                        if mine not in (joined, case):
                            yield mine

    def signed(self, case: Case, roles: Iterable[str]) -> Iterator[Case]:
        """`case` approved by holders of each of `roles` in turn, besides its own approvals."""
        if self._signing is None:
            return
        for role in sorted(roles):
            extra = self._signing(case, role)
            if extra:
                yield case._replace(approvals=(*case.approvals, *extra))


def _targets(versions: Sequence[ast.Rule], case: Case, roles: frozenset[str]) -> bool:
    """Whether a version of the rule can apply to the case's action, channel and actor."""
    return any(
        (rule.actions is None or case.action in {a.value for a in rule.actions})
        and (rule.channels is None or case.channel in {c.value for c in rule.channels})
        and (rule.roles is None or bool(roles & {r.value for r in rule.roles}))
        for rule in versions
    )


def _triggers_of(
    sides: Sequence[Side],
    versions: Sequence[ast.Rule],
    cases: Iterable[Case],
    plain: Callable[[Case], Case],
) -> list[Trigger]:
    """Up to `TRIGGERS_PER_RULE` triggers of one approval rule (both its versions) per action
    (`smallest_changes`)."""
    roles = frozenset(str(role) for rule in versions for role in rule.effect.roles)
    found = smallest_changes(sides, versions, cases, plain, "approval_required")
    return [Trigger(action, roles, patch) for action, patch in found]


def smallest_changes(
    sides: Sequence[Side],
    versions: Sequence[ast.Rule],
    cases: Iterable[Case],
    plain: Callable[[Case], Case],
    effect: str,
) -> list[tuple[str, Patch]]:
    """Up to `TRIGGERS_PER_RULE` changes per action that make the rule decide (`effect`) on
    either side: each the difference between one of its `cases` and the plain request it was
    varied from (`plain`), smallest first.

    Per action: a rule's cases come action by action, and the first 2,000 of a rule for any
    action were all posts (which only marketing may make), so a reply never had a trigger."""
    name = str(versions[0].name)
    candidates: dict[str, dict[_Key, tuple[int, Case, Patch]]] = {}
    looked: dict[str, int] = {}
    starts: dict[tuple[object, ...], Case] = {}
    for case in cases:
        if looked.get(case.action, 0) == TRIGGER_CANDIDATES:
            continue
        looked[case.action] = looked.get(case.action, 0) + 1
        # The plain request depends on who acts, how and where only: made once for each.
        where = (case.actor, case.groups, case.action, case.channel, case.account)
        start = starts.get(where)
        if start is None:
            start = starts[where] = plain(case)
        patch = {f: getattr(case, f) for f in _FIELDS if getattr(case, f) != getattr(start, f)}
        key = tuple(sorted(patch.items(), key=lambda item: item[0]))
        mine = candidates.setdefault(case.action, {})
        if patch and key not in mine:
            mine[key] = (len(patch), case, patch)
    found: list[tuple[str, Patch]] = []
    for action in sorted(candidates):
        smallest = sorted(candidates[action].values(), key=lambda item: item[0])
        # Past the smallest, an even spread up to the largest: a deny of big accounts' refund
        # promos needs three values at once, and the 16 smallest changes had at most two.
        rest = smallest[TRIGGER_CHECKS:]
        step = max(len(rest) / TRIGGER_CHECKS, 1.0)
        spread = [rest[int(i * step)] for i in range(min(TRIGGER_CHECKS, len(rest)))]
        kept = 0
        for _, case, patch in [*smallest[:TRIGGER_CHECKS], *spread]:
            if _decides(sides, case, name, effect):
                found.append((action, patch))
                kept += 1
                if kept == TRIGGERS_PER_RULE:
                    break
    return found


def _decides(sides: Sequence[Side], case: Case, name: str, effect: str) -> bool:
    request = case.request()
    for side in sides:
        decision = side.policy.decide(request)
        if decision.decision == effect and any(
            reason.rule == name and reason.effect == effect for reason in decision.reasons
        ):
            return True
    return False
