"""Routing: who should get this post, who is on duty to answer it, and whether anyone can in time.

A candidate is every declared person whose decision for the post (as the actor, without
approvals or content) is `allow` or `approval_required`. Persons whose roles are identical are
decided once when no rule looks at who the actor is (`actor.id`, `actor on duty`), which keeps a
route over hundreds of persons to a few decisions.

`covered` means some candidate can answer before `respond_by`: the candidate is on duty at some
moment in [at, respond_by), and for `approval_required` every required role has another holder
on duty in that span. Without a deadline, covered means a candidate is on duty now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from replygate.engine.evaluator import CompiledPolicy, PostContext
from replygate.engine.models import (
    Candidate,
    Decision,
    Inform,
    Route,
    RouteRequest,
    build_candidate,
)
from replygate.policy_dsl import ast

__all__ = ["RouteIndex", "candidates", "route", "route_index"]

_ANSWERING = ("allow", "approval_required")
_NEVER = datetime.max.replace(tzinfo=UTC)  # sorts an off-duty candidate with no next_on_duty last


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
            case ast.Compare(path=path) | ast.Member(path=path) | ast.Matches(path=path):
                return path.parts[0] == "actor"
            case ast.HasLabel(path=path):
                return path.parts[0] == "actor"
            case ast.Not(operand=operand):
                return personal(operand)
            case ast.And(operands=operands) | ast.Or(operands=operands):
                return any(personal(o) for o in operands)
        return False

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


def _holders_on_duty(policy: CompiledPolicy, role: str, candidate: str, at: datetime) -> list[str]:
    holders = [p for p in route_index(policy).holders.get(role, ()) if p != candidate]
    states = policy.duty.statuses(holders, at)
    return [person for person, (on_duty, _) in zip(holders, states, strict=True) if on_duty]


def _can_answer(
    policy: CompiledPolicy,
    person: str,
    approvers: Iterable[str],
    start: datetime,
    end: datetime | None,
) -> bool:
    duty = policy.duty
    if end is None:
        return duty.is_on_duty(person, start)
    if end <= start or not duty.anyone_between((person,), start, end):
        return False
    holders = route_index(policy).holders
    return all(
        duty.anyone_between([h for h in holders.get(role, ()) if h != person], start, end)
        for role in approvers
    )


def route(policy: CompiledPolicy, request: RouteRequest) -> Route:
    """Who can answer this post now, who later, whether anyone can in time, and who to inform."""
    at = request.at.astimezone(UTC)
    duty = policy.duty
    respond_by = policy.respond_by(request.as_check(""))
    on: list[tuple[int, str, Candidate]] = []
    off: list[tuple[int, datetime, str, Candidate]] = []
    covered = False
    on_duty_holders: dict[str, list[str]] = {}  # role -> holders on duty now, once per route
    rosters_of = duty.roster_names.get
    found = candidates(policy, request)
    for (person, decision), (on_duty_now, boundary) in zip(
        found, duty.statuses([person for person, _ in found], at), strict=True
    ):
        approvers = decision.approvers
        approvers_on_duty: dict[str, list[str]] = {}
        for role in approvers:
            holders = on_duty_holders.get(role)
            if holders is None:
                holders = on_duty_holders[role] = _holders_on_duty(policy, role, "", at)
            approvers_on_duty[role] = [p for p in holders if p != person]
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
        if not covered:
            covered = _can_answer(policy, person, approvers, at, respond_by)
    on.sort(key=lambda x: x[:2])
    off.sort(key=lambda x: x[:3])
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
    found = []
    for unit in units:
        persons = members.get(unit, ())
        states = policy.duty.statuses(persons, request.at)
        on_duty = [p for p, (on, _) in zip(persons, states, strict=True) if on]
        found.append(Inform.model_construct(unit=unit, on_duty=on_duty))
    return found
