"""Routing: who should get this post, who is on duty to answer it, and whether anyone can in time.

A candidate is every declared person whose decision for the post (as the actor, without
approvals, with the request's content if it gives one) is `allow` or `approval_required`.
Persons whose roles are identical are decided once when no rule looks at who the actor is
(`actor.id`, `actor on duty`), which keeps a route over hundreds of persons to a few decisions.

`covered` means some candidate can answer before `respond_by`: the candidate is on duty at some
moment in [at, respond_by), and for `approval_required` every role that must still approve has
as many other holders on duty in that span as approvals are missing (two for `require 2
approvals from R` when the candidate does not hold R). Without a deadline, covered means a
candidate is on duty now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

from replygate.engine.evaluator import CompiledPolicy, PostContext
from replygate.engine.models import (
    LATEST_DUTY,
    Candidate,
    Decision,
    Inform,
    OutOfRange,
    Route,
    RouteRequest,
    build_candidate,
)
from replygate.engine.rosters import LOOKAHEAD
from replygate.policy_dsl import ast

__all__ = [
    "RouteIndex",
    "answers_in_time",
    "candidates",
    "route",
    "route_index",
    "route_or_refusal",
]

_ANSWERING = ("allow", "approval_required")
_NEVER = datetime.max.replace(tzinfo=UTC)  # sorts an off-duty candidate with no next_on_duty last
_first_two = itemgetter(0, 1)
_first_three = itemgetter(0, 1, 2)


@dataclass(frozen=True, slots=True)
class RouteIndex:
    """What routing needs about a policy beyond deciding: built once per compiled policy."""

    persons: tuple[str, ...]  # sorted
    # Persons grouped by their roles: without a rule that looks at who the actor is, one
    # decision per group answers for all of its persons.
    classes: tuple[tuple[frozenset[str], tuple[str, ...]], ...]
    holders: dict[str, tuple[str, ...]]  # role -> persons holding it (inheritance included)
    unit_members: dict[str, tuple[str, ...]]
    by_identity: bool  # some rule looks at who the actor is: decide every person on their own


def _identity_conditions(policy: CompiledPolicy) -> bool:
    def personal(expr: ast.Expr) -> bool:
        match expr:
            case ast.ActorOnDuty():
                return True
            case ast.Not(operand=operand):
                return personal(operand)
            case ast.And(operands=operands) | ast.Or(operands=operands):
                return any(personal(o) for o in operands)
        # Every other condition reads one attribute: `actor.id in vips` looks at who the actor
        # is as much as `actor.id == "x"` (a kind listed by name here was once missed).
        path = getattr(expr, "path", None)
        return isinstance(path, ast.Path) and path.parts[0] == "actor"

    return any(personal(e) for r in policy.rules for e in (*r.source.when, *r.source.unless))


def route_index(policy: CompiledPolicy) -> RouteIndex:
    """The routing index of a policy, built on first use and kept with the policy."""
    cached = vars(policy).get("_route_index")
    if isinstance(cached, RouteIndex):
        return cached
    persons = tuple(sorted(policy.people))
    holders: dict[str, list[str]] = {}
    for person in persons:
        for role in policy.people[person]:
            holders.setdefault(role, []).append(person)
    members = {
        unit: tuple(p for p in persons if not roles.isdisjoint(policy.people[p]))
        for unit, roles in policy.units.items()
    }
    classes: dict[frozenset[str], list[str]] = {}
    for person in persons:
        classes.setdefault(policy.people[person], []).append(person)
    index = RouteIndex(
        persons,
        tuple((roles, tuple(found)) for roles, found in classes.items()),
        {role: tuple(found) for role, found in holders.items()},
        members,
        _identity_conditions(policy),
    )
    vars(policy)["_route_index"] = index
    return index


def candidates(policy: CompiledPolicy, request: RouteRequest) -> list[tuple[str, Decision]]:
    """Every declared person whose decision for the post is allow or approval_required."""
    index = route_index(policy)
    if index.by_identity:
        decided = ((p, policy.decide(request.as_check(p))) for p in index.persons)
        return [(p, d) for p, d in decided if d.decision in _ANSWERING]
    found: list[tuple[str, Decision]] = []
    for _, persons in index.classes:
        decision = policy.decide(request.as_check(persons[0]))
        if decision.decision in _ANSWERING:
            found.extend((person, decision) for person in persons)
    return found


def _on_duty_now(policy: CompiledPolicy, persons: Sequence[str], at: datetime) -> list[str]:
    states = policy.duty.statuses(persons, at)
    return [person for person, (on_duty, _) in zip(persons, states, strict=True) if on_duty]


class _Lookups:
    """One route's look-ups, each made once: a role's holders on duty now and within the deadline."""

    def __init__(self, policy: CompiledPolicy, at: datetime, respond_by: datetime | None) -> None:
        self.policy = policy
        self.holders = route_index(policy).holders
        self.at = at
        self.respond_by = respond_by
        self._by_role: dict[str, tuple[list[str], list[str]]] = {}
        self._later: frozenset[str] | None = None

    def _of(self, role: str) -> tuple[list[str], list[str]]:
        """(holders on duty now, holders on duty at some moment of [at, respond_by))."""
        found = self._by_role.get(role)
        if found is None:
            holders = self.holders.get(role, ())
            now: list[str] = []
            span: list[str] = []
            for person, (on_duty, boundary) in zip(
                holders, self.policy.duty.statuses(holders, self.at), strict=True
            ):
                if on_duty:
                    now.append(person)
                if self.on_duty_before(person, on_duty, boundary):
                    span.append(person)
            found = self._by_role[role] = (now, span)
        return found

    def on_duty_before(self, person: str, on_duty: bool, boundary: datetime | None) -> bool:
        """Whether `person` is on duty at some moment of [at, respond_by), from their `status`:
        a stretch that starts past the look-ahead (a deadline weeks away) is searched for."""
        due = self.respond_by
        if due is None:
            return False
        if on_duty or (boundary is not None and boundary < due):
            return True
        if boundary is not None:
            return False
        if self._later is None:
            # Everyone on duty between the end of the look-ahead and the deadline, once a
            # route; rosters say nothing past LATEST_DUTY.
            horizon, until = self.at + LOOKAHEAD, min(due, LATEST_DUTY)
            self._later = (
                self.policy.duty.persons_on_duty_between(horizon, until)
                if horizon < until
                else frozenset()
            )
        return person in self._later

    def holders_on_duty(self, role: str) -> list[str]:
        return self._of(role)[0]

    def can_answer(
        self, decision: Decision, person: str, on_duty: bool, boundary: datetime | None
    ) -> bool:
        """Whether `person` can answer before the deadline: on duty at some moment before it,
        with enough other holders of each role that must still approve on duty in that span.
        Without a deadline: whether they are on duty now."""
        respond_by = self.respond_by
        if respond_by is None:
            return on_duty
        if respond_by <= self.at:
            return False
        if not self.on_duty_before(person, on_duty, boundary):
            return False
        for role, needed in decision.approvals_missing.items():
            span = self._of(role)[1]
            if len(span) - (person in span) < needed:
                return False
        return True


def answers_in_time(policy: CompiledPolicy, request: RouteRequest, person: str) -> bool:
    """Whether `person` can answer the post before its deadline, by the rule `covered` uses:
    may answer it, is on duty at some moment before the deadline, and every role that must
    still approve has enough other holders on duty then. A deadline that cannot be computed
    counts as passed."""
    at = request.at.astimezone(UTC)
    respond_by, overdue = _deadline(policy, request)
    if overdue:
        return False
    decision = policy.decide(request.as_check(person))
    if decision.decision not in _ANSWERING:
        return False
    ((on_duty, boundary),) = policy.duty.statuses([person], at)
    return _Lookups(policy, at, respond_by).can_answer(decision, person, on_duty, boundary)


def _deadline(policy: CompiledPolicy, request: RouteRequest) -> tuple[datetime | None, bool]:
    """The post's response deadline, and whether it is overdue from the start: a response time
    applies but its deadline cannot be computed, which README says "counts as passed" (nobody
    can answer in time; not "no deadline, someone on duty is enough")."""
    timed_by, respond_by = policy.response_time(request.as_check(""))
    return respond_by, timed_by is not None and respond_by is None


def route_or_refusal(
    policy: CompiledPolicy, request: RouteRequest
) -> tuple[Route | None, list[dict[str, str]]]:
    """The route, or the fields that make the post one this policy cannot route.

    The checks a decision's callers make (an undeclared channel or account, undeclared
    categories and labels, flags that are not true or false, times past the ends of what
    rosters and deadlines can compute), once for every caller of `route`: the API, the CLI,
    the scenarios and the playground.
    """
    check = request.as_check("")
    refused = policy.undeclared_values(check)
    unknown = policy.unknown_destination(check)
    if unknown is not None:
        # A check would be denied (`unknown_channel`): a route with no candidates and no reason
        # would read as "nobody can answer", when the tool's channel name is wrong.
        _, field, message = unknown
        refused = [{"field": field, "message": message}, *refused]
    if refused:
        return None, refused
    try:
        return route(policy, request), []
    except OutOfRange as error:
        return None, [error.as_field_error()]


def route(policy: CompiledPolicy, request: RouteRequest) -> Route:
    """Who can answer this post now, who later, whether anyone can in time, and who to inform."""
    at = request.at.astimezone(UTC)
    duty = policy.duty
    respond_by, overdue = _deadline(policy, request)
    lookups = _Lookups(policy, at, respond_by)
    on: list[tuple[int, str, Candidate]] = []
    off: list[tuple[int, datetime, str, Candidate]] = []
    covered = False
    rosters_of = duty.roster_names.get
    found = candidates(policy, request)
    for (person, decision), (on_duty_now, boundary) in zip(
        found, duty.statuses([person for person, _ in found], at), strict=True
    ):
        approvers = decision.approvers
        approvers_on_duty: dict[str, list[str]] = {}
        for role in approvers:
            holders = lookups.holders_on_duty(role)
            approvers_on_duty[role] = (
                [p for p in holders if p != person] if person in holders else list(holders)
            )
        candidate = build_candidate(
            person,
            decision.decision,
            list(approvers),
            approvers_on_duty,
            on_duty_now,
            boundary,
            list(rosters_of(person, ())),
        )
        rank = 1 if approvers else 0  # allow before approval_required
        if on_duty_now:
            on.append((rank, person, candidate))
        else:
            off.append((rank, _NEVER if boundary is None else boundary, person, candidate))
        if not covered and not overdue:
            covered = lookups.can_answer(decision, person, on_duty_now, boundary)
    on.sort(key=_first_two)
    off.sort(key=_first_three)
    ordered = [item[-1] for item in on]
    ordered += [item[-1] for item in off]
    return Route.model_construct(
        respond_by=respond_by,
        sla_breached=respond_by is not None and at > respond_by,
        candidates=ordered,
        covered=covered,
        inform=inform(policy, request),
        policy=policy.version,
    )


def inform(policy: CompiledPolicy, request: RouteRequest) -> list[Inform]:
    """The units that `share` clauses name for this post, each with its members on duty now."""
    check = request.as_check("")
    context = PostContext(check)
    units: list[str] = []
    for share in policy.shares:
        if request.post.category not in share.categories:
            continue
        if share.test is not None and not share.test(context):
            continue
        units.extend(u for u in share.units if u not in units)
    members = route_index(policy).unit_members
    return [
        Inform.model_construct(
            unit=unit, on_duty=_on_duty_now(policy, members.get(unit, ()), request.at)
        )
        for unit in units
    ]
