"""Which actors and approvals matter: every person and group on either side, a member of each
pair of groups, an outsider, the ids rules name; and approvals that do or do not satisfy a
requirement (a holder of the role, the actor themselves, someone without the role).

Actors are not merged into classes as channels are: a reviewer reads examples by name.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from replygate.engine.review.cases import ApprovalItem, Case, Dimension, Profile
from replygate.engine.review.facts import asks_duty, facts, rule_versions
from replygate.engine.review.values import literal_variants
from replygate.policy_dsl import ast

if TYPE_CHECKING:
    from replygate.engine.review import Side

MAX_GROUP_PAIRS = 66  # members of two groups at once: the first pairs only (12 groups' worth)
MAX_PEOPLE_IN_GROUPS = 66  # people also in a group, each with roles no other profile holds


class Actors:
    """The actors both sides know, with the roles they hold on either side."""

    def __init__(
        self, sides: Sequence[Side], lists: Mapping[str, ast.NamedList] | None = None
    ) -> None:
        self.sides = tuple(sides)
        self.lists = dict(lists or {})
        self.profiles, self.outsider = self._profiles()
        self._approvals: dict[
            tuple[str, tuple[str, ...], tuple[Any, ...]], tuple[ApprovalItem, ...]
        ] = {}
        self._changes: dict[str, list[int]] = {}

    def roles_of(self, actor: str, groups: tuple[str, ...]) -> frozenset[str]:
        """Roles held on either side."""
        held: frozenset[str] = frozenset()
        for side in self.sides:
            held |= side.policy.roles_of(actor, groups)
        return held

    def _profiles(self) -> tuple[list[Profile], Profile]:
        """Every person and group on either side, a member of each pair of groups, an outsider."""
        people: list[str] = []
        groups: list[str] = []
        for side in reversed(self.sides):
            people += [p for p in side.result.symbols.people.names() if p not in people]
            groups += [g for g in side.result.symbols.groups.names() if g not in groups]
        profiles = [Profile(p, (), self.roles_of(p, ())) for p in people]
        taken = set(people)

        def fresh(name: str) -> str:
            while name in taken:
                name += "-x"
            taken.add(name)
            return name

        for group in groups:
            profiles.append(
                Profile(fresh(f"someone-in-{group}"), (group,), self.roles_of("", (group,)))
            )
        pairs = itertools.islice(itertools.combinations(groups, 2), MAX_GROUP_PAIRS)
        for first, second in pairs:
            pair = (first, second)
            profiles.append(
                Profile(fresh(f"someone-in-{first}-and-{second}"), pair, self.roles_of("", pair))
            )
        profiles += self._people_in_groups(people, groups, profiles)
        outsider = Profile(fresh("outsider"), (), frozenset())
        profiles.append(outsider)
        return profiles, outsider

    def _people_in_groups(
        self, people: Sequence[str], groups: Sequence[str], known: Sequence[Profile]
    ) -> list[Profile]:
        """A person who is also in a group (or two or three), where that gives a set of roles
        (on either side) no other profile holds: frank (marketing) in care-team (agent) may
        reply as an agent unless a deny for marketing stops him, which frank alone and the group
        alone never show. A
        person a rule tells apart by id (or by duty) is tried wherever the group adds a role:
        `deny … when actor.id == "erin"` removed lets erin in care-team reply as an agent."""
        held = {self._held(p.id, p.groups) for p in known}
        apart = self._told_apart()
        found: list[Profile] = []
        for person, group in itertools.product(people, groups):
            roles = self._held(person, (group,))
            adds = roles != self._held(person, ())
            named = adds and (apart is None or person in apart)
            if (roles not in held or named) and len(found) < MAX_PEOPLE_IN_GROUPS:
                held.add(roles)
                found.append(Profile(person, (group,), self.roles_of(person, (group,))))
        # In two or three groups at once, where only that holds the roles (frank, marketing, in
        # care-team and legal-team, past `unless actor is agent and actor is legal`).
        several = [
            combination
            for size in (2, 3)
            for combination in itertools.islice(
                itertools.combinations(groups, size), MAX_GROUP_PAIRS
            )
        ]
        # One person of each set of roles: the others gain the same from the same groups.
        alike: dict[tuple[frozenset[str], ...], str] = {}
        for person in people:
            alike.setdefault(self._held(person, ()), person)
        for person, member_of in itertools.product(alike.values(), several):
            roles = self._held(person, member_of)
            if roles not in held and len(found) < MAX_PEOPLE_IN_GROUPS:
                held.add(roles)
                found.append(Profile(person, member_of, self.roles_of(person, member_of)))
        return found

    def _told_apart(self) -> frozenset[str] | None:
        """The ids a rule on either side names; None (every one) when a rule matches ids by a
        pattern or asks who is on duty."""
        every = [rule for versions in self._rules.values() for rule in versions]
        if "actor.id" in facts(every, self.lists).patterns or self._asks_duty:
            return None
        return frozenset(self._named_ids(every))

    def _named_ids(self, rules: Sequence[ast.Rule]) -> list[str]:
        """The actor ids the rules' conditions name (`actor.id == "zoe"`, `in [..]`, a list)."""
        return [
            str(v) for v in literal_variants(facts(rules, self.lists).values.get("actor.id", []))
        ]

    def _held(self, actor: str, groups: tuple[str, ...]) -> tuple[frozenset[str], ...]:
        return tuple(side.policy.roles_of(actor, groups) for side in self.sides)

    def _kind(self, profile: Profile) -> tuple[object, ...]:
        """What the rules see of an actor apart from the id: roles on each side, groups, and
        when they are on duty (judy, added to a late roster, stood in for by alice: the change
        to `actor on duty` was never tried on judy)."""
        duty = self._duty(profile.id) if self._asks_duty else ()
        return (self._held(profile.id, profile.groups), profile.groups, duty)

    @functools.cached_property
    def _asks_duty(self) -> bool:
        return asks_duty([rule for versions in self._rules.values() for rule in versions])

    @functools.cached_property
    def _rules(self) -> dict[str, list[ast.Rule]]:
        return rule_versions(self.sides)

    def _duty(self, person: str) -> tuple[tuple[str, str | None], ...]:
        """Per side, the rosters that can put the person on duty; with the id where the roster
        tells its members apart (a rotation, an override naming them)."""
        found: list[tuple[str, str | None]] = []
        for index, side in enumerate(self.sides):
            for name, roster in side.policy.duty.rosters.items():
                if person in roster.persons:
                    alone = roster.rotation is not None or any(
                        override.person == person for override in roster.overrides
                    )
                    found.append((f"{index}:{name}", person if alone else None))
        return tuple(found)

    def standing_for(self, profiles: Sequence[Profile]) -> list[Profile]:
        """The first of the profiles with each set of roles (on each side) and groups."""
        seen: set[tuple[object, ...]] = set()
        kept: list[Profile] = []
        for profile in profiles:
            key = self._kind(profile)
            if key not in seen:
                seen.add(key)
                kept.append(profile)
        return kept

    def twins(self) -> dict[tuple[str, tuple[str, ...]], tuple[tuple[str, tuple[str, ...]], ...]]:
        """Per profile that `standing_for` keeps, the others it stands for."""
        found: dict[tuple[object, ...], list[tuple[str, tuple[str, ...]]]] = {}
        for profile in self.profiles:
            found.setdefault(self._kind(profile), []).append((profile.id, profile.groups))
        alone = {actor: same for same in found.values() for actor in same if not actor[1]}
        # A person tried in a group stands for the people alike in that group too (carol in
        # care-team for ivan in it), who are no profile of their own.
        for profile in self.profiles:
            if not profile.groups or (profile.id, ()) not in alone:
                continue
            kind = self._kind(profile)
            for other, _ in alone[profile.id, ()]:
                twin = Profile(other, profile.groups, self.roles_of(other, profile.groups))
                known = (other, profile.groups) in found[kind]
                if other != profile.id and not known and self._kind(twin) == kind:
                    found[kind].append((other, profile.groups))
        return {same[0]: tuple(same[1:]) for same in found.values() if len(same) > 1}

    def profile(self, actor: str) -> Profile:
        """The profile of an id a rule names: the person when it is one, else a bare id."""
        for profile in self.profiles:
            if profile.id == actor and not profile.groups:
                return profile
        return Profile(actor, (), self.roles_of(actor, ()))

    def targeted(self, rules: Sequence[ast.Rule]) -> list[Profile]:
        """The actors a rule (any version) can apply to, plus the ids its conditions name."""
        if any(rule.roles is None for rule in rules):
            actors = list(self.profiles)
        else:
            roles = {r.value for rule in rules for r in rule.roles or ()}
            actors = [p for p in self.profiles if p.roles & roles]
        known = {p.id for p in actors}
        return actors + [self.profile(n) for n in self._named_ids(rules) if n not in known]

    # ---- approvals ---------------------------------------------------------------------------
    def approval_dimensions(self, rules: Sequence[ast.Rule]) -> list[Dimension]:
        """No approval, the actor's own, a holder of each required role, someone without it, all."""
        required = sorted(
            {
                r.value
                for rule in rules
                if rule.effect.kind == "approval_required"
                for r in rule.effect.roles
            }
        )
        if not required:
            return []
        specs: list[tuple[Any, ...]] = [(), ("self",)]
        specs += [("valid", r) for r in required] + [("without", r) for r in required]
        # Someone who holds the role on one side only: a person who gains an approver role can
        # now sign off (a widening) and was never tried as an approver. One who gains it and
        # one who loses it: when the comms lead moved from dave to erin, only dave was tried.
        # (Where nobody does, the spec stands for no approval, as it always did: a dimension one
        # value shorter let other rules' combinations fit whole, 15% more requests for nothing.)
        specs += [("changed", r, side) for r in required for side in self._changing(r) or [0]]
        if len(required) > 1:
            specs.append(("all", tuple(required)))
        # `require 2 approvals from legal`: as many distinct holders as it asks for, for each
        # count either version asks (3 lowered to 2 needs 2 tried; only 3 was).
        counts = {
            (r.value, rule.effect.count)
            for rule in rules
            if rule.effect.kind == "approval_required"
            for r in rule.effect.roles
            if rule.effect.count > 1
        }
        specs += [("several", role, n) for role, n in sorted(counts)]
        return [Dimension("approvals", [{"approvals": s} for s in specs])]

    def signing(self, case: Case, role: str) -> tuple[ApprovalItem, ...]:
        """Approvals of `role` that satisfy it for this case: as many holders (other than the
        actor, and besides those who approve already) as a rule of either side asks of it."""
        given = set(case.approvals)
        have = sum(1 for by, groups in given if role in self.roles_of(by, groups))
        # Holders on both sides first (one who holds it on one side only signs off there
        # only), people before group members.
        holders = sorted(
            (p for p in self.profiles if p.id != case.actor and role in p.roles),
            key=lambda p: (
                not all(role in held for held in self._held(p.id, p.groups)),
                bool(p.groups),
            ),
        )
        approving = {by for by, _ in given}
        fresh: dict[str, ApprovalItem] = {}
        for p in holders:
            if p.id not in approving:
                fresh.setdefault(p.id, (p.id, p.groups))
        return tuple(fresh.values())[: max(self._counts.get(role, 1) - have, 0)]

    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        """The most approvals of each role a rule of either side asks for."""
        found: dict[str, int] = {}
        for versions in self._rules.values():
            for rule in versions:
                if rule.effect.kind == "approval_required":
                    for role in rule.effect.roles:
                        found[role.value] = max(found.get(role.value, 1), rule.effect.count)
        return found

    def _approver(self, role: str, actor: str) -> Profile | None:
        holders = [p for p in self.profiles if p.id != actor and role in p.roles]
        both = [
            p for p in holders if all(role in s.policy.roles_of(p.id, p.groups) for s in self.sides)
        ]
        chosen = both or holders
        return chosen[0] if chosen else None

    def _changing(self, role: str) -> list[int]:
        """The sides on which someone holds `role` who does not hold it on the other."""
        known = self._changes.get(role)
        if known is None:
            found: set[int] = set()
            for profile in self.profiles:
                held = [role in side for side in self._held(profile.id, profile.groups)]
                if any(held) and not all(held):
                    found.add(held.index(True))
            known = self._changes[role] = sorted(found)
        return known

    def _changed_holder(self, role: str, actor: str, side: int) -> Profile | None:
        """Someone other than `actor` who holds `role` on side `side` only."""
        for profile in self.profiles:
            held = [role in s.policy.roles_of(profile.id, profile.groups) for s in self.sides]
            if profile.id != actor and held[side] and not all(held):
                return profile
        return None

    def approvals(self, case: Case, spec: tuple[Any, ...]) -> tuple[ApprovalItem, ...]:
        """The approvals an approval spec stands for, for this case's actor: found once per
        actor and spec (every case of a rule asks again, a third of building the space)."""
        key = (case.actor, case.groups, spec)
        found = self._approvals.get(key)
        if found is None:
            found = self._approvals[key] = self._approvals_for(case, spec)
        return found

    def _approvals_for(self, case: Case, spec: tuple[Any, ...]) -> tuple[ApprovalItem, ...]:
        if not spec:
            return ()
        kind = spec[0]
        if kind == "self":
            return ((case.actor, case.groups),)
        if kind == "without":
            role = spec[1]
            lacking = next(
                (
                    p
                    for p in self.profiles
                    if p.id != case.actor and role not in p.roles and not p.groups
                ),
                self.outsider,
            )
            return ((lacking.id, lacking.groups),)
        if kind == "changed":
            changed = self._changed_holder(spec[1], case.actor, spec[2])
            return () if changed is None else ((changed.id, changed.groups),)
        if kind == "several":
            role, count = spec[1], spec[2]
            holders = [p for p in self.profiles if p.id != case.actor and role in p.roles]
            return tuple((p.id, p.groups) for p in holders[:count])
        roles = (spec[1],) if kind == "valid" else spec[1]
        found: list[ApprovalItem] = []
        for role in roles:
            approver = self._approver(role, case.actor)
            if approver is not None and (approver.id, approver.groups) not in found:
                found.append((approver.id, approver.groups))
        return tuple(found)
