"""Deciding one request against a compiled policy.

Precedence is fixed: deny > escalate > approval_required > allow, and no matching allow rule
means deny. Any failure while deciding denies too, with the reason: the engine fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from replygate.engine.conditions import Clock, Getter, Test
from replygate.engine.models import (
    CheckRequest,
    Decision,
    Outcome,
    PolicyVersion,
    Reason,
    build_decision,
)
from replygate.policy_dsl import ast

EFFECT_CODES = {
    "deny": "forbidden",
    "escalate": "escalate",
    "approval_required": "approval_required",
    "allow": "allow",
}


@dataclass(slots=True, eq=False)
class CompiledRule:
    """A rule lowered for evaluation: its test is None when it has no condition."""

    name: str
    effect: str
    roles: tuple[str, ...]  # escalation target or required approvers
    test: Test | None
    order: int
    reason: Reason
    source: ast.Rule


@dataclass(slots=True)
class Slot:
    """The rules one role (or anyone) may trigger for one action and channel.

    Rules with an equality test on a discrete attribute (account, actor id, category, sentiment)
    sit in `keyed`, so thousands of per-account grants cost one dictionary look-up.
    """

    plain: list[CompiledRule] = field(default_factory=list)
    keyed: dict[str, tuple[Getter, dict[Any, list[CompiledRule]]]] = field(default_factory=dict)

    def collect(self, request: CheckRequest, into: list[CompiledRule]) -> None:
        into.extend(self.plain)
        for get, table in self.keyed.values():
            found = table.get(get(request))
            if found:
                into.extend(found)


class Deadline:
    """A category's response time: a duration counted on a calendar (None: real time)."""

    __slots__ = ("add", "within")

    def __init__(
        self, within: timedelta, add: Callable[[datetime, timedelta], datetime | None] | None
    ) -> None:
        self.within = within
        self.add = add

    def due(self, received_at: datetime) -> datetime | None:
        if self.add is None:
            return (received_at + self.within).astimezone(UTC)
        return self.add(received_at, self.within)


class Evaluation:
    """One request being decided: what conditions may ask, computed at most once."""

    __slots__ = ("_deadline", "_deadline_known", "policy", "request", "roles")

    def __init__(
        self, policy: CompiledPolicy, request: CheckRequest, roles: frozenset[str]
    ) -> None:
        self.policy = policy
        self.request = request
        self.roles = roles
        self._deadline: datetime | None = None
        self._deadline_known = False

    def deadline(self) -> datetime | None:
        """The response deadline of the post being answered, or None when no rule sets one."""
        if not self._deadline_known:
            self._deadline = self.policy.respond_by(self.request)
            self._deadline_known = True
        return self._deadline

    def deadline_passed(self) -> bool:
        post = self.request.post
        if post is None or post.category not in self.policy.deadlines:
            return False
        due = self.deadline()
        # A deadline that cannot be computed (the calendar never opens) counts as passed: fail closed.
        return due is None or self.request.at > due


@dataclass
class CompiledPolicy:
    """A checked policy set, indexed for evaluation. Immutable once built; safe to share."""

    version: PolicyVersion
    rules: list[CompiledRule]
    index: dict[tuple[str, str], dict[str | None, Slot]]
    people: dict[str, frozenset[str]]
    groups: dict[str, frozenset[str]]
    closure: dict[str, frozenset[str]]
    deadlines: dict[str, Deadline]
    accounts: dict[str, frozenset[str]]
    channels: frozenset[str]
    clocks: dict[str, Clock] = field(default_factory=dict)
    units: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.roles_of = lru_cache(maxsize=4096)(self._roles_of)

    # ---- facts about the request ------------------------------------------------------------
    def _roles_of(self, person: str, groups: tuple[str, ...]) -> frozenset[str]:
        """Every role a person holds: assigned to them or their groups, plus what those inherit."""
        held = set(self.people.get(person, ()))
        for group in groups:
            held.update(self.groups.get(group, ()))
        return frozenset(held)

    def respond_by(self, request: CheckRequest) -> datetime | None:
        post = request.post
        if request.action != "reply" or post is None:
            return None
        deadline = self.deadlines.get(post.category)
        return None if deadline is None else deadline.due(post.received_at)

    def candidates(self, request: CheckRequest, roles: frozenset[str]) -> list[CompiledRule]:
        """The rules that target this action, channel and one of the actor's roles, in source order."""
        slots = self.index.get((request.action, request.channel))
        if slots is None:
            return []
        found: list[CompiledRule] = []
        anyone = slots.get(None)
        if anyone is not None:
            anyone.collect(request, found)
        for role in roles:
            slot = slots.get(role)
            if slot is not None:
                slot.collect(request, found)
        if len(found) > 1:
            # Several slots (roles, keyed tables) feed the list: restore source order, once each.
            unique = {rule.order: rule for rule in found}
            found = [unique[order] for order in sorted(unique)]
        return found

    # ---- the decision -----------------------------------------------------------------------
    def decide(self, request: CheckRequest) -> Decision:
        """Decide one request. Never raises: an internal failure is a deny that says so."""
        try:
            return self._decide(request)
        except Exception as exc:  # fail closed: a crash must not become a publication
            return self._refuse(
                request,
                "evaluation_error",
                f"the engine could not decide this request ({type(exc).__name__}); denied to be safe",
            )

    def _refuse(
        self, request: CheckRequest, code: str, message: str, respond_by: datetime | None = None
    ) -> Decision:
        return Decision.model_construct(
            decision="deny",
            approvers=[],
            escalate_to=None,
            respond_by=respond_by,
            sla_breached=respond_by is not None and request.at > respond_by,
            reasons=[
                Reason.model_construct(
                    rule=None, effect="deny", code=code, message=message, source=None
                )
            ],
            policy=self.version,
        )

    def _decide(self, request: CheckRequest) -> Decision:
        actor = request.actor
        roles = self.roles_of(actor.id, tuple(actor.groups))
        evaluation = Evaluation(self, request, roles)
        respond_by = evaluation.deadline()
        if request.channel not in self.channels:
            return self._refuse(
                request,
                "unknown_channel",
                f"channel '{request.channel}' is not declared in the policy",
                respond_by,
            )
        known_accounts = self.accounts.get(request.channel)
        if known_accounts is not None and request.account not in known_accounts:
            return self._refuse(
                request,
                "unknown_account",
                f"account '{request.account}' is not declared for {request.channel}",
                respond_by,
            )

        matched = [
            rule
            for rule in self.candidates(request, roles)
            if rule.test is None or rule.test(evaluation)
        ]
        by_effect: dict[str, list[CompiledRule]] = {}
        for rule in matched:
            by_effect.setdefault(rule.effect, []).append(rule)

        breached = respond_by is not None and request.at > respond_by
        outcome, approvers, escalate_to, reasons = self._outcome(request, roles, by_effect)
        return build_decision(
            outcome, approvers, escalate_to, respond_by, breached, reasons, self.version
        )

    def _outcome(
        self, request: CheckRequest, roles: frozenset[str], by_effect: dict[str, list[CompiledRule]]
    ) -> tuple[Outcome, list[str], str | None, list[Reason]]:
        if "deny" in by_effect:
            return "deny", [], None, [r.reason for r in by_effect["deny"]]
        if "escalate" in by_effect:
            rules = by_effect["escalate"]
            return "escalate", [], self._escalation_target(rules), [r.reason for r in rules]
        if "allow" not in by_effect:
            return "deny", [], None, [self._not_permitted(request)]
        approval_rules = by_effect.get("approval_required", ())
        unmet, notes, met_rules = self._approvals(request, roles, approval_rules)
        if unmet:
            pending = [r.reason for r in approval_rules if r not in met_rules]
            return "approval_required", sorted(unmet), None, pending + notes
        allowed = [r.reason for r in by_effect["allow"]]
        return "allow", [], None, allowed + [r.reason for r in met_rules] + notes

    def _escalation_target(self, rules: Sequence[CompiledRule]) -> str:
        """One role: the target that inherits every other target, else the first rule's."""
        targets = [rule.roles[0] for rule in rules]
        for target in targets:
            if all(other in self.closure.get(target, ()) for other in targets):
                return target
        return targets[0]

    def _approvals(
        self, request: CheckRequest, roles: frozenset[str], rules: Sequence[CompiledRule]
    ) -> tuple[set[str], list[Reason], list[CompiledRule]]:
        """Unmet required roles, notes on ignored approvals, and the rules fully satisfied."""
        if not rules:
            return set(), [], []
        required = {role for rule in rules for role in rule.roles}
        met = {role for role in required if role in roles}
        notes: list[Reason] = []
        for approval in request.approvals:
            if approval.by == request.actor.id:
                notes.append(
                    self._note(
                        f"approval by {approval.by} ignored: nobody approves their own publication"
                    )
                )
                continue
            # Whether an approval counts does not depend on the others or on their order: it
            # meets every required role its approver holds, and is ignored (and noted) only when
            # the approver holds none of them (README, "Decision semantics").
            useful = required & self.roles_of(approval.by, tuple(approval.groups))
            if useful:
                met |= useful
            else:
                wanted = " or ".join(sorted(required - roles) or required)
                notes.append(
                    self._note(
                        f"approval by {approval.by} ignored: it is needed from {wanted}, which {approval.by} does not hold"
                    )
                )
        met_rules = [rule for rule in rules if all(role in met for role in rule.roles)]
        return required - met, notes, met_rules

    @staticmethod
    def _note(message: str) -> Reason:
        return Reason.model_construct(
            rule=None,
            effect="approval_required",
            code="approval_ignored",
            message=message,
            source=None,
        )

    @staticmethod
    def _not_permitted(request: CheckRequest) -> Reason:
        message = f"no rule permits {request.actor.id} to {request.action} on {request.channel}"
        return Reason.model_construct(
            rule=None, effect="deny", code="not_permitted", message=message, source=None
        )
