"""Deciding one request against a compiled policy.

Precedence is fixed: deny > escalate > approval_required > allow, and no matching allow rule
means deny. Any failure while deciding denies too, with the reason: the engine fails closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from replygate.engine.calendars import HORIZON_DAYS, Calendar
from replygate.engine.conditions import Clock, Getter, NamedValues, Test
from replygate.engine.models import (
    LATEST,
    CheckRequest,
    DeadlineOutOfRange,
    Decision,
    Outcome,
    OutOfRange,
    PolicyVersion,
    Reason,
    build_decision,
)
from replygate.engine.rosters import DutyModel
from replygate.policy_dsl import ast

EFFECT_CODES: dict[ast.EffectKind, str] = {
    "deny": "forbidden",
    "escalate": "escalate",
    "approval_required": "approval_required",
    "allow": "allow",
}


@dataclass(slots=True, eq=False)
class CompiledRule:
    """A rule lowered for evaluation: its test is None when it has no condition."""

    name: str
    effect: ast.EffectKind
    roles: tuple[str, ...]  # escalation target or required approvers
    test: Test | None
    order: int
    reason: Reason
    source: ast.Rule
    count: int = 1  # approvals needed from each required role (`require 2 approvals from …`)


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


# A calendar looks this far ahead for a deadline (plus a few days of zone offsets); a post
# received later cannot have its deadline found, or ruled out, before the end of `datetime`.
_LAST_SEARCHABLE = LATEST - timedelta(days=HORIZON_DAYS + 7)


class Deadline:
    """A category's response time: a duration counted on a calendar (None: real time)."""

    __slots__ = ("calendar", "within")

    def __init__(self, within: timedelta, calendar: Calendar | None) -> None:
        self.within = within
        # An always-open calendar counts real time: the plain sum, without the calendar walk.
        self.calendar = None if calendar is None or calendar.always else calendar

    def due(self, received_at: datetime) -> datetime | None:
        """The deadline in UTC; None when the calendar does not open in time (fail closed)."""
        try:
            if self.calendar is None:
                # In UTC: the deadline of an instant cannot depend on how its offset is written.
                return received_at.astimezone(UTC) + self.within
            found = self.calendar.add_open_time(received_at, self.within)
        except OverflowError:
            raise DeadlineOutOfRange from None
        if found is None and received_at > _LAST_SEARCHABLE:
            raise DeadlineOutOfRange
        return found


@dataclass(slots=True, eq=False)
class ResponseRule:
    """A response-time rule lowered: its deadline, channels (None: every), condition, reason."""

    category: str
    deadline: Deadline
    channels: frozenset[str] | None
    test: Test | None
    reason: Reason
    order: int
    conditions: tuple[ast.Expr, ...] = ()


@dataclass(slots=True, eq=False)
class CompiledShare:
    """`share CATEGORIES with UNITS [when …]`: units that should see such posts."""

    categories: frozenset[str]
    units: tuple[str, ...]
    test: Test | None


class PostContext:
    """The context a response-time condition sees: the request, nobody's roles, no deadline."""

    __slots__ = ("request", "roles")

    def __init__(self, request: CheckRequest) -> None:
        self.request = request
        self.roles: frozenset[str] = frozenset()

    def deadline_passed(self) -> bool:  # pragma: no cover - the checker forbids it here
        return False

    def on_duty(self, roster: str | None) -> bool:  # pragma: no cover - the checker forbids it
        return False


class Evaluation:
    """One request being decided: what conditions may ask, computed at most once."""

    __slots__ = (
        "_deadline",
        "_deadline_known",
        "_deadline_reason",
        "_has_deadline",
        "policy",
        "request",
        "roles",
    )

    def __init__(
        self, policy: CompiledPolicy, request: CheckRequest, roles: frozenset[str]
    ) -> None:
        self.policy = policy
        self.request = request
        self.roles = roles
        self._deadline: datetime | None = None
        self._deadline_known = False
        self._deadline_reason: Reason | None = None
        self._has_deadline = False

    def deadline(self) -> datetime | None:
        """The response deadline of the post being answered, or None when no rule sets one."""
        if not self._deadline_known:
            rule, self._deadline = self.policy.response_time(self.request)
            self._has_deadline = rule is not None
            self._deadline_reason = None if rule is None else rule.reason
            self._deadline_known = True
        return self._deadline

    def deadline_reason(self) -> Reason | None:
        """The reason naming the response-time rule that set the deadline, if one did."""
        self.deadline()
        return self._deadline_reason

    def deadline_passed(self) -> bool:
        due = self.deadline()
        if not self._has_deadline:
            return False
        # A deadline that cannot be computed (the calendar never opens) counts as passed: fail closed.
        return due is None or self.request.at > due

    def on_duty(self, roster: str | None) -> bool:
        """Whether the actor is on duty (in `roster`, or any of theirs) at the request's time."""
        return self.policy.duty.is_on_duty(self.request.actor.id, self.request.at, roster)


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
    lists: dict[str, NamedValues] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()  # declared post categories (empty: any word)
    labels: frozenset[str] = frozenset()  # declared content and post labels (empty: any)
    flags: frozenset[str] = frozenset()  # context keys tested as bare flags: true or false only
    # Rosters, response-time rules by category (with their channels and conditions), shares.
    duty: DutyModel = field(default_factory=lambda: DutyModel(()))
    response_rules: dict[str, list[ResponseRule]] = field(default_factory=dict)
    shares: list[CompiledShare] = field(default_factory=list)

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
        return self.response_time(request)[1]

    def response_time(self, request: CheckRequest) -> tuple[ResponseRule | None, datetime | None]:
        """The response-time rule that sets the deadline, and the deadline.

        When several rules match a post the earliest deadline wins; a deadline that cannot be
        computed (its calendar never opens) counts as the earliest (fail closed). Without
        response-time rules for the category: the plain `deadlines` (policies built by hand).
        """
        post = request.post
        if request.action != "reply" or post is None:
            return None, None
        rules = self.response_rules.get(post.category)
        if rules is None:
            deadline = self.deadlines.get(post.category)
            return None, None if deadline is None else deadline.due(post.received_at)
        best: tuple[ResponseRule | None, datetime | None] = (None, None)
        for rule in self._holding(rules, request):
            due = rule.deadline.due(post.received_at)
            if due is None:
                return rule, None
            if best[0] is None or (best[1] is not None and due < best[1]):
                best = (rule, due)
        return best

    def response_rules_for(self, request: CheckRequest) -> list[ResponseRule]:
        """Every response-time rule whose category, `via` and `when` hold for the post, in
        source order: the earliest of their deadlines is the post's (`response_time`)."""
        post = request.post
        if request.action != "reply" or post is None:
            return []
        return list(self._holding(self.response_rules.get(post.category, ()), request))

    @staticmethod
    def _holding(rules: Iterable[ResponseRule], request: CheckRequest) -> Iterator[ResponseRule]:
        context: PostContext | None = None  # built only for a rule with a condition
        for rule in rules:
            if rule.channels is not None and request.channel not in rule.channels:
                continue
            if rule.test is not None:
                context = context or PostContext(request)
                if not rule.test(context):
                    continue
            yield rule

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
        except OutOfRange as error:
            # Fail closed, with a code the API and the CLI turn into "post.received_at: …".
            return self._refuse(request, error.code, error.message)
        except Exception as exc:  # fail closed: a crash must not become a publication
            return self._refuse(
                request,
                "evaluation_error",
                f"the engine could not decide this request ({type(exc).__name__}); denied to be safe",
            )

    def _refuse(
        self,
        request: CheckRequest,
        code: str,
        message: str,
        evaluation: Evaluation | None = None,
    ) -> Decision:
        # The evaluation already found the deadline and the response-time rule that set it.
        respond_by = deadline_reason = None
        if evaluation is not None:
            respond_by = evaluation.deadline()
            if respond_by is not None:
                deadline_reason = evaluation.deadline_reason()
        return Decision.model_construct(
            decision="deny",
            approvers=[],
            approvals_missing={},
            escalate_to=None,
            respond_by=respond_by,
            sla_breached=respond_by is not None and request.at > respond_by,
            reasons=[
                Reason.model_construct(
                    rule=None, effect="deny", code=code, message=message, source=None
                ),
                *([] if deadline_reason is None else [deadline_reason]),
            ],
            policy=self.version,
        )

    def _decide(self, request: CheckRequest) -> Decision:
        actor = request.actor
        roles = self.roles_of(actor.id, tuple(actor.groups))
        evaluation = Evaluation(self, request, roles)
        respond_by = evaluation.deadline()
        unknown = self.unknown_destination(request)
        if unknown is not None:
            code, _, message = unknown
            return self._refuse(request, code, message, evaluation)

        matched = [
            rule
            for rule in self.candidates(request, roles)
            if rule.test is None or rule.test(evaluation)
        ]
        by_effect: dict[str, list[CompiledRule]] = {}
        for rule in matched:
            by_effect.setdefault(rule.effect, []).append(rule)

        breached = respond_by is not None and request.at > respond_by
        outcome, approvers, escalate_to, reasons, missing = self._outcome(request, roles, by_effect)
        deadline_reason = evaluation.deadline_reason()
        # The reason names the rule that set `respond_by`: none when the deadline cannot be
        # computed (it counts as passed), as in `_refuse`.
        if deadline_reason is not None and respond_by is not None:
            reasons = [*reasons, deadline_reason]
        return build_decision(
            outcome, approvers, escalate_to, respond_by, breached, reasons, self.version, missing
        )

    def _outcome(
        self, request: CheckRequest, roles: frozenset[str], by_effect: dict[str, list[CompiledRule]]
    ) -> tuple[Outcome, list[str], str | None, list[Reason], dict[str, int]]:
        if "deny" in by_effect:
            return "deny", [], None, [r.reason for r in by_effect["deny"]], {}
        if "escalate" in by_effect:
            rules = by_effect["escalate"]
            return "escalate", [], self._escalation_target(rules), [r.reason for r in rules], {}
        if "allow" not in by_effect:
            return "deny", [], None, [self._not_permitted(request)], {}
        approval_rules = by_effect.get("approval_required", ())
        unmet, notes, met_rules = self._approvals(request, roles, approval_rules)
        if unmet:
            pending = [r.reason for r in approval_rules if r not in met_rules]
            missing = {role: unmet[role] for role in sorted(unmet)}
            return "approval_required", sorted(unmet), None, pending + notes, missing
        allowed = [r.reason for r in by_effect["allow"]]
        return "allow", [], None, allowed + [r.reason for r in met_rules] + notes, {}

    def _escalation_target(self, rules: Sequence[CompiledRule]) -> str:
        """One role: the target that inherits every other target, else the first rule's."""
        targets = [rule.roles[0] for rule in rules]
        for target in targets:
            if all(other in self.closure.get(target, ()) for other in targets):
                return target
        return targets[0]

    def _approvals(
        self, request: CheckRequest, roles: frozenset[str], rules: Sequence[CompiledRule]
    ) -> tuple[dict[str, int], list[Reason], list[CompiledRule]]:
        """How many more approvals each role needs, notes on ignored approvals, the rules met.

        A role needed N times is met by N distinct people holding it: the actor when they hold
        it, and approvers other than the actor. One approval counts for every role its approver
        holds; several rules requiring one role need the largest N among them.
        """
        if not rules:
            return {}, [], []
        needed: dict[str, int] = {}
        for rule in rules:
            for role in rule.roles:
                needed[role] = max(needed.get(role, 0), rule.count)
        have = {role: 1 if role in roles else 0 for role in needed}
        # Whether an approval counts does not depend on the others or on their order (README,
        # "Decision semantics"): a person's approvals are taken together, and the person counts
        # once for every required role any of them shows them holding. Taking the first one
        # alone made `[{erin}, {erin, groups: [mkt]}]` and its reverse decide differently.
        united: dict[str, set[str]] = {}
        for approval in request.approvals:
            if approval.by != request.actor.id:
                useful = set(needed) & self.roles_of(approval.by, tuple(approval.groups))
                united.setdefault(approval.by, set()).update(useful)
        for useful in united.values():
            for role in useful:
                have[role] += 1
        notes: list[Reason] = []
        noted: set[str] = set()
        for approval in request.approvals:
            by = approval.by
            if by == request.actor.id:
                notes.append(
                    self._note(f"approval by {by} ignored: nobody approves their own publication")
                )
            elif not united[by]:
                wanted = " or ".join(sorted(set(needed) - roles) or needed)
                notes.append(
                    self._note(
                        f"approval by {by} ignored: it is needed from {wanted}, which {by} does not hold"
                    )
                )
            elif by in noted:
                notes.append(
                    self._note(
                        f"approval by {by} ignored: {by} already approved, and each approval must "
                        "come from a different person"
                    )
                )
            else:
                noted.add(by)
        met_rules = [rule for rule in rules if all(have[r] >= rule.count for r in rule.roles)]
        unmet = {role: n - have[role] for role, n in needed.items() if have[role] < n}
        return unmet, notes, met_rules

    def unknown_destination(self, request: CheckRequest) -> tuple[str, str, str] | None:
        """(code, field, message) when the channel, or the account on it, is not declared: a
        check is then denied with that code, a route refused naming the field."""
        if request.channel not in self.channels:
            message = f"channel '{request.channel}' is not declared in the policy"
            return "unknown_channel", "channel", message
        known_accounts = self.accounts.get(request.channel)
        if known_accounts is not None and request.account not in known_accounts:
            message = (
                f"no account given, and {request.channel} takes only its declared accounts: "
                + ", ".join(sorted(known_accounts))
                if request.account is None
                else f"account '{request.account}' is not declared for {request.channel}"
            )
            return "unknown_account", "account", message
        return None

    def undeclared_values(self, request: CheckRequest) -> list[dict[str, str]]:
        """Categories and labels the policy does not declare, and flags it tests that are not
        true or false, as `{field, message}` pairs.

        A policy that declares categories or labels knows every one there is: a request with
        another is a mistake in the calling tool (a typo would silently match no rule), so the
        adapters refuse it like any other bad field. Nothing declared: everything is accepted.
        """
        found: list[dict[str, str]] = []
        post = request.post
        if self.categories and post is not None and post.category not in self.categories:
            found.append(
                _undeclared(
                    "post.category", "category", "categories", post.category, self.categories
                )
            )
        if self.labels:
            owners = [("content.labels", request.content.labels)]
            if post is not None:
                owners.append(("post.labels", post.labels))
            for field_name, labels in owners:
                for index, label in enumerate(labels):
                    if label not in self.labels:
                        found.append(
                            _undeclared(
                                f"{field_name}.{index}", "label", "labels", label, self.labels
                            )
                        )
        for flag in self.flags:
            # `when context.crisis` holds for JSON true only: a tool that sends "true" or 1
            # would silently switch a deny off. Refused instead, naming the field (fail closed).
            value = request.context.get(flag)
            if value is not None and not isinstance(value, bool):
                found.append(
                    {
                        "field": f"context.{flag}",
                        "message": "the policy tests this flag: it must be true or false "
                        f"(or absent), not {json.dumps(value)}",
                    }
                )
        return found

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


def _undeclared(
    field_name: str, kind: str, kinds: str, value: str, declared: frozenset[str]
) -> dict[str, str]:
    return {
        "field": field_name,
        "message": f"{kind} '{value}' is not declared in the policy; declared {kinds}: "
        + ", ".join(sorted(declared)),
    }
