"""The generated request space: every case the two policy versions could decide differently.

The space is built rule by rule, not as one cartesian product. For each rule (both versions
of it together) and each actor, action and channel the rule can apply to, the attributes the
rule's conditions mention are varied jointly around a base request (for a rule where that would
exceed `MAX_CASES_PER_RULE`, each attribute alone and every pair together, and one actor of each
kind in a thinned joint: the largest attributes cut to a spread of their values). Cases are
deduplicated, so the space grows linearly with the number of rules.

Each question has its own module, and this one assembles their answers into requests:

    facts     what a rule's conditions mention
    values    which attribute values and thresholds matter (texts: `patterns`)
    times     which times matter: calendar edges, closed dates, daylight saving, deadlines
    actors    which actors and approvals matter
    channels  which channels and accounts matter (indistinguishable channels merged)
    cases     the hashable `Case` each request is generated as
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from replygate.engine.calendars import strftime
from replygate.engine.review.actors import Actors
from replygate.engine.review.cases import (
    BASE_REACH,
    BASE_SENTIMENT,
    CONTEXT_KEY,
    NEUTRAL_TEXT,
    REPLY_GAP,
    UNDECLARED_ACCOUNT,
    Baseline,
    Case,
    Dimension,
    Patch,
    Profile,
)
from replygate.engine.review.channels import Channels
from replygate.engine.review.facts import (
    asks_duty,
    facts,
    mentioned,
    named_lists,
    response_conditions,
    rule_versions,
)
from replygate.engine.review.patterns import pattern_texts
from replygate.engine.review.times import Times
from replygate.engine.review.triggers import Triggers, smallest_changes
from replygate.engine.review.values import (
    flag_dimensions,
    label_dimension,
    literal_variants,
    pattern_dimensions,
    value_dimensions,
)
from replygate.policy_dsl import ast
from replygate.policy_dsl.schema import ACTIONS, CATEGORIES

if TYPE_CHECKING:
    from replygate.engine.review import Side

# The category of the base request: the first one no rule mentions, the most ordinary first.
CATEGORY_PREFERENCE = ("question", "praise", *sorted(CATEGORIES))
# A rule's attributes are varied jointly while that makes at most this many cases per action
# (counting every actor and channel); beyond it, each attribute alone and every pair together.
MAX_CASES_PER_RULE = 20_000
# Rules varied together in pairs (see `generate_space`): at most this many pairs, and at most
# MAX_CASES_PER_RULE cases from all of them, so a change touching every deny rule of a large
# policy stays fast (docs/review.md).
MAX_CROSSED_PAIRS = 200
MAX_CROSSED_CASES = MAX_CASES_PER_RULE
# Past the joint limit, pairs never show a deny that needs four attributes at once (one of them
# the 84 on-duty edges of a week): one actor of each kind still gets every attribute together,
# the largest ones thinned, at most this many cases per rule (`_thinned`).
MAX_THINNED_CASES_PER_RULE = 2_000
# And for the stand-ins of rules varied together whose every combination is more than their
# share, at most this many in all, shared out as the crossed cases are.
MAX_THINNED_CROSSED_CASES = 10_000
# Each attribute alone and in pairs: at most this many values of one pair, and of all pairs of
# a rule (shared out). The largest pair of the probes' policies was 196 on-duty edges by 147
# deadlines (28,812); a calendar of hundreds of ranges a day made pairs of millions.
MAX_PATCHES_PER_PAIR = 65_536
MAX_PAIRED_PATCHES = 200_000

__all__ = ["Case", "Space", "describe", "generate_space", "pattern_texts"]

# A combination split for applying (`_prepare`), and the channels (with accounts) a case stands for.
Prepared = tuple[Patch, list[tuple[str, Any]]]
Spread = tuple[tuple[str, str | None], ...]
# A thinned joint per action, and every value of the dimensions it thinned (`_thinned_joint`).
Joint = tuple[dict[str, list[Prepared]], dict[str, list[Patch]]]


@dataclass
class Space:
    """The generated cases, in generation order, and the zone their times are best read in."""

    cases: list[Case]
    zone: str
    rules: int = 0  # how many rules (both versions counted once) contributed
    baseline: Baseline | None = None
    # The actors (id, groups) each one with the same roles and groups stands for (`twins`).
    twins: Mapping[tuple[str, tuple[str, ...]], tuple[tuple[str, tuple[str, ...]], ...]] = field(
        default_factory=dict
    )
    # Cases tried on one channel for others too (`_Universe.spread`).
    spread: Mapping[Case, Spread] = field(default_factory=dict)
    # Cases of a thinned joint: the values of the thinned attributes they stand for (`_thinned`).
    thinned: Mapping[Case, Sequence[Patch]] = field(default_factory=dict)
    # What makes each approval rule ask for its approval (`triggers`).
    triggers: Triggers | None = None

    def twins_of(self, case: Case) -> Iterator[Case]:
        """Where `case` changed, what it stands for: the case for each actor `case.actor` stands
        for (an approval by either swapped), and on each channel it was tried for."""
        me = (case.actor, case.groups)
        for twin in self.twins.get(me, ()):
            swap = {me: twin, twin: me}
            approvals = tuple(swap.get(item, item) for item in case.approvals)
            yield case._replace(actor=twin[0], groups=twin[1], approvals=approvals)
        for channel, account in self.spread.get(case, ()):
            yield case._replace(channel=channel, account=account)

    def thinned_of(self, case: Case) -> Iterator[Case]:
        """The case with each value of an attribute its thinned joint cut (`_thinned`)."""
        for patch in self.thinned.get(case, ()):
            yield case._replace(**patch)

    def triggered(self, case: Case, approvers: frozenset[str]) -> Iterator[Case]:
        """The case with each approval rule's trigger added (`Triggers.added_to`)."""
        if self.triggers:
            yield from self.triggers.added_to(case, approvers)

    def signed(self, case: Case, roles: frozenset[str]) -> Iterator[Case]:
        """The case approved by holders of each of `roles` in turn (`Triggers.signed`)."""
        if self.triggers is not None:
            yield from self.triggers.signed(case, roles)

    def __len__(self) -> int:
        return len(self.cases)


class _Universe:
    """The answers of the question modules for both sides, assembled into each rule's cases."""

    def __init__(self, base: Side, head: Side) -> None:
        sides = self.sides = (base, head)
        self.rules = rule_versions(sides)
        self.lists = named_lists(sides)
        self.times = Times(sides)
        self.actors = Actors(sides, self.lists)
        self.channels = Channels(sides, self.rules, self.lists)
        self.accounts = {c: self.channels.base_account(c) for c in self.channels.channels}
        taken = mentioned(self.rules.values(), "post.category", self.lists)
        # A request names a declared category only (else `check` and the playground refuse an
        # example): the plain one is a declared category no rule names, when there is one.
        self.categories = declared_categories(sides)
        preference: Sequence[str] = CATEGORY_PREFERENCE
        if self.categories is not None:
            first = [c for c in ("question", "praise") if c in self.categories]
            preference = [*first, *sorted(self.categories - set(first))]
        fallback = preference[0] if self.categories is not None else "general"
        self.base_category = next((c for c in preference if c not in taken), fallback)
        self._shared: dict[tuple[tuple[int, ...], tuple[int, ...]], list[Profile]] = {}
        self._names: dict[tuple[int, ...], frozenset[str]] = {}
        # Cases tried in every combination on one channel, with the other channels (and
        # accounts) the two rules share: where one changes, it is tried there too.
        self.spread: dict[Case, Spread] = {}
        self.thinned: dict[Case, Sequence[Patch]] = {}
        self._plain: dict[Case, tuple[frozenset[str] | None, ...]] = {}
        self._limits_by_channel: dict[str, list[ast.Rule]] | None = None
        # Each limit's own cases (deny, escalation, approval), and where each one bites.
        self.own: dict[str, list[Case]] = {}
        self._bitten: dict[str, list[tuple[str, Patch]]] = {}
        self.response_conditions = response_conditions(sides)

    def dimensions(self, rules: Sequence[ast.Rule]) -> list[Dimension]:
        """The attributes the rule's conditions mention, each with the values to try."""
        found = facts(rules, self.lists)
        if found.deadline and self.response_conditions:
            # Which deadline holds depends on the response times' own `when` (reach, labels):
            # at the base request only the plain one was ever in force.
            found = facts(rules, self.lists, also=self.response_conditions)
        dims: list[Dimension] = []
        for dotted, literals in found.values.items():
            found_dims = value_dimensions(dotted, literals, self.base_category, self.times.base_at)
            dims += [self._declared_only(d) for d in found_dims]
        for owner, labels in found.labels.items():
            dims.append(label_dimension(owner, labels))
        for dotted in dict.fromkeys([*found.patterns, *found.phrases]):
            patterns = found.patterns.get(dotted, [])
            dims += pattern_dimensions(dotted, patterns, found.phrases.get(dotted, []))
        for dotted in dict.fromkeys(found.flags):
            dims += flag_dimensions(dotted)
        dims += self.times.now_dimensions(found.clocks)
        # A roster's hours, hand-overs and overrides move `actor on duty`: its edges are tried.
        if asks_duty(rules):
            dims += self.times.duty_dimensions()
        if found.deadline:
            variants = literal_variants(found.values.get("post.category", []))
            dims = [d for d in dims if d.name != "post.category"]
            patches = self.times.deadline_patches(self.declared(str(v)) for v in variants)
            dims.append(Dimension("deadline", patches, reply_only=True))
        dims += self.actors.approval_dimensions(rules)
        return dims

    def declared(self, category: str) -> str:
        """`category` if the policy accepts it, else the plain category (no rule names it: it
        stands for the "one value no condition names" a request may still carry)."""
        if self.categories is None or category in self.categories:
            return category
        return self.base_category

    def _declared_only(self, dimension: Dimension) -> Dimension:
        if dimension.name != "post.category" or self.categories is None:
            return dimension
        patches: list[Patch] = []
        for patch in dimension.patches:
            kept = {**patch, "category": self.declared(str(patch["category"]))}
            if kept not in patches:
                patches.append(kept)
        return replace(dimension, patches=patches)

    def share_actors(self, first: Sequence[ast.Rule], second: Sequence[ast.Rule]) -> bool:
        """Whether some actor the one rule targets is one the other targets too."""
        return bool(self._shared_actors(first, second))

    def _shared_actors(
        self, first: Sequence[ast.Rule], second: Sequence[ast.Rule]
    ) -> list[Profile]:
        # Asked once per pair of rules: every limit meets every allow rule.
        key = (tuple(id(rule) for rule in first), tuple(id(rule) for rule in second))
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = [
                actor
                for actor in self.actors.targeted([*first, *second])
                if _applies_to(first, actor) and _applies_to(second, actor)
            ]
        return found

    def base_case(self, actor: Profile, action: str, channel: str) -> Case:
        """The plain request every variation starts from."""
        account = self.accounts.get(channel)
        at = self.times.base_at
        if action != "reply":
            return Case(actor.id, actor.groups, action, channel, account, at)
        return Case(
            actor.id,
            actor.groups,
            action,
            channel,
            account,
            at,
            sentiment=BASE_SENTIMENT,
            category=self.base_category,
            reach=BASE_REACH,
            received_at=at - REPLY_GAP,
        )

    def plain(self, case: Case) -> Case:
        """The plain request `case` was varied from."""
        start = self.base_case(
            Profile(case.actor, case.groups, frozenset()), case.action, case.channel
        )
        return start._replace(account=case.account)

    def apply(self, case: Case, plain: Patch, special: Sequence[tuple[str, Any]]) -> Case:
        """The case with one prepared combination of attribute values applied."""
        if plain:
            case = case._replace(**plain)
        for key, value in special:
            if key == "+groups":
                case = case._replace(groups=tuple(sorted({*case.groups, value})))
            elif key.startswith(CONTEXT_KEY):
                name = key[len(CONTEXT_KEY) :]
                rest = tuple(c for c in case.context if c[0] != name)
                context = rest if value is None else tuple(sorted((*rest, value)))
                case = case._replace(context=context)
            elif key == "approvals":
                case = case._replace(approvals=self.actors.approvals(case, value))
        return case

    def rule_cases(self, rules: Sequence[ast.Rule]) -> Iterator[Case]:
        """Every case of one rule: its actors, actions and channels, times its attribute values;
        past the joint limit, each alone and in pairs, and a thinned joint for one actor of each
        kind on its quietest channel (a change found there is tried on the others)."""
        actors = self.actors.targeted(rules)
        channels = self.channels.used_by(rules)
        if not actors or not channels:
            return
        limit = MAX_CASES_PER_RULE // (len(actors) * len(channels))
        dims = self.dimensions(rules)
        usable = {action: _usable(dims, action) for action in sorted(_actions(rules))}
        if any(rule.effect.kind != "allow" for rule in rules):
            # Kept to find where the rule bites (`_bites`), for choosing quiet channels.
            own = self.own[str(rules[0].name)] = list(self._cases(actors, usable, channels, limit))
            yield from own
        else:
            yield from self._cases(actors, usable, channels, limit)
        wide = [action for action, d in usable.items() if _product_size(d) > limit]
        starts = self._starts(wide, channels, actors)
        if not starts:
            return
        chosen, elsewhere = self._quiet_starts(actors, starts, rules)
        target = MAX_THINNED_CASES_PER_RULE // len(chosen)
        wide_dims = {a: usable[a] for a in wide}
        mine = self._joints_by_actor(chosen, wide_dims, target)
        shared = all(start.actor in mine for _, start in chosen)
        joint, others = ({}, {}) if shared else _thinned_joint(wide_dims, target)
        yield from self._jointly(chosen, joint, MAX_THINNED_CASES_PER_RULE, elsewhere, others, mine)

    def _jointly(
        self,
        starts: Sequence[tuple[str, Case]],
        combinations: Mapping[str, Sequence[Prepared]],
        budget: int,
        elsewhere: Mapping[tuple[str, tuple[str, ...]], Spread],
        others: Mapping[str, Sequence[Patch]] | None = None,
        mine: Mapping[str, Joint] | None = None,
    ) -> Iterator[Case]:
        """The starts with their combinations (`_round_robin`; an actor's own in `mine`), each
        case noted with the channels and thinned values it stands for."""
        own = {actor: joint for actor, (joint, _) in (mine or {}).items()}
        for start, case in _round_robin(starts, combinations, budget, self.apply, own):
            self.spread[case] = elsewhere[start.actor, start.groups]
            values = mine[start.actor][1] if mine and start.actor in mine else others
            if values and values.get(case.action):
                self.thinned[case] = values[case.action]
            yield case

    def _joints_by_actor(
        self,
        starts: Sequence[tuple[str, Case]],
        usable: Mapping[str, Sequence[Dimension]],
        target: int,
    ) -> dict[str, Joint]:
        """For a rule that asks who is on duty, each start's actor's own thinned joint: the
        on-duty edges of its own turns kept first (`Times.duty_dimension_for`)."""
        if not any(d.name == "duty" for dims in usable.values() for d in dims):
            return {}
        found: dict[str, Joint] = {}
        for _, start in starts:
            if start.actor in found:
                continue
            duty = self.times.duty_dimension_for(start.actor)
            if duty is not None:
                dims = {
                    a: [duty if d.name == "duty" else d for d in ds] for a, ds in usable.items()
                }
                found[start.actor] = _thinned_joint(dims, target)
        return found

    def _starts(
        self, actions: Sequence[str], channels: Sequence[str], actors: Sequence[Profile]
    ) -> list[tuple[str, Case]]:
        """The plain request of each action, channel (with each account to try) and actor."""
        return [
            (action, self.base_case(actor, action, channel)._replace(account=account))
            for action in actions
            for channel in channels
            for account in self.channels.accounts_to_try(channel)
            for actor in actors
        ]

    def _quiet_starts(
        self,
        actors: Sequence[Profile],
        starts: Sequence[tuple[str, Case]],
        rules: Sequence[ast.Rule],
    ) -> tuple[list[tuple[str, Case]], dict[tuple[str, tuple[str, ...]], Spread]]:
        """The starts of one actor of each set of roles and groups, on that actor's quietest
        channel; and per such actor, the other channels (and accounts) it was not tried on."""
        chosen: list[tuple[str, Case]] = []
        elsewhere: dict[tuple[str, tuple[str, ...]], Spread] = {}
        for actor in self.actors.standing_for(actors):
            key = (actor.id, actor.groups)
            own = [(a, s) for a, s in starts if (s.actor, s.groups) == key]
            if not own:
                continue
            quiet = self._quietest(own, rules)
            chosen += [(a, s) for a, s in own if s.channel == quiet]
            others = ((s.channel, s.account) for _, s in own if s.channel != quiet)
            elsewhere[key] = tuple(dict.fromkeys(others))
        return chosen, elsewhere

    def crossed_cases(
        self,
        first: Sequence[ast.Rule],
        second: Sequence[ast.Rule],
        budget: int,
        thin_budget: int = 0,
    ) -> tuple[list[Case], list[Case]]:
        """At most `budget` cases of two rules varied together, where both can apply: the actors,
        actions and channels they share; and at most `thin_budget` more in thinned joints.

        Every attribute combination on every channel when that fits; else every combination on
        the channel fewest other limits name, for one actor of each set of roles and groups (a
        deny that needs four attributes at once was missed by pairs; `decision_impact` tries
        the others with the same roles where such a case changes), and each attribute alone and
        in pairs for the rest; else alone and in pairs everywhere. Each start (actor, action,
        channel, account) gets the same combinations, the ones crossing an attribute of the one
        rule with one of the other first: a prefix in generation order (the first channel only)
        missed the rest. The stand-ins whose every combination did not fit get a thinned joint
        from `thin_budget` (taken from `budget`, it cost other pairs their classes)."""
        actors = self._shared_actors(first, second)
        theirs = set(self.channels.used_by(second))
        channels = [c for c in self.channels.used_by(first) if c in theirs]
        starts = self._starts(sorted(_actions(first) & _actions(second)), channels, actors)
        if not starts:
            return [], []
        dims = self.dimensions([*first, *second])
        usable = {action: _usable(dims, action) for action, _ in starts}
        own = (self._dimension_names(first), self._dimension_names(second))

        def prepared(limit: int) -> dict[str, list[Prepared]]:
            return {
                action: _prepared(_combinations(d, limit, own), action)
                for action, d in usable.items()
            }

        sizes = {action: _product_size(d) for action, d in usable.items()}
        if sum(sizes[action] for action, _ in starts) <= budget:
            return [c for _, c in _round_robin(starts, prepared(budget), budget, self.apply)], []
        # As many actors as the budget takes every combination for, one of each set of roles
        # and groups, each on its own quietest channel with every action (one full set beats
        # two halves); a case that changes is tried on the others (`spread`).
        chosen, elsewhere = self._quiet_starts(actors, starts, [*first, *second])
        fitting: list[tuple[str, Case]] = []
        thin: list[tuple[str, Case]] = []
        room = budget
        for action, start in chosen:
            if sizes[action] <= room:
                fitting.append((action, start))
                room -= sizes[action]
            else:
                thin.append((action, start))
        cases = list(self._jointly(fitting, prepared(budget), budget, elsewhere))
        tried = set(fitting)
        rest = [s for s in starts if s not in tried]
        if rest and len(cases) < budget:
            more = _round_robin(rest, prepared(0), budget - len(cases), self.apply)
            cases += (case for _, case in more)
        thinned: list[Case] = []
        if thin and thin_budget:
            target = thin_budget // len(thin)
            mine = self._joints_by_actor(thin, usable, target)
            shared = all(start.actor in mine for _, start in thin)
            joint, others = ({}, {}) if shared else _thinned_joint(usable, target)
            thinned = list(self._jointly(thin, joint, thin_budget, elsewhere, others, mine))
        return cases, thinned

    def _quietest(self, starts: Sequence[tuple[str, Case]], pair: Sequence[ast.Rule]) -> str:
        """The channel where another rule is least likely to hide what the two rules do
        together: the fewest sides and actions for which a plain request there is denied by a
        third rule (marketing posts only on LinkedIn: the pair's every combination on twitter
        showed nothing), then the fewest other limits naming it by `via`; the first of equals."""
        mine = {str(rule.name) for rule in pair}
        bites = [bite for name in sorted(mine) for bite in self._bites(name)]

        def hidden(channel: str) -> tuple[int, int]:
            # Each action's first start there: a post and a reply can differ.
            first: dict[str, Case] = {}
            for action, start in starts:
                if start.channel == channel:
                    first.setdefault(action, start)
            # There, and where a rule of the pair bites: a third rule that denies only there
            # (product managers' big promos, on twitter) hid every case that changed.
            tried = [
                *first.values(),
                *(
                    start._replace(**patch)
                    for action, start in first.items()
                    for acting, patch in bites
                    if acting == action
                ),
            ]
            denied = sum(
                1
                for start in tried
                for deciding in self._denied_by(start)
                if deciding is not None and deciding - mine
            )
            named = sum(1 for rule in self._via_limits().get(channel, ()) if rule not in pair)
            return denied, named

        return min(dict.fromkeys(start.channel for _, start in starts), key=hidden)

    def _bites(self, name: str) -> list[tuple[str, Patch]]:
        """Per action, the smallest changes to a plain request that make the limit `name`
        decide on either side (`smallest_changes`); none for a rule without own cases kept."""
        found = self._bitten.get(name)
        if found is None:
            versions = self.rules[name]
            cases = self.own.get(name, [])
            kinds = [rule.effect.kind for rule in versions if rule.effect.kind != "allow"]
            found = self._bitten[name] = (
                smallest_changes(self.sides, versions, cases, self.plain, kinds[0])
                if cases and kinds
                else []
            )
        return found

    def _denied_by(self, start: Case) -> tuple[frozenset[str] | None, ...]:
        """Per side, the rules that deny the plain request (None: not denied). A start recurs in
        every pair its actor shares: decided once."""
        found = self._plain.get(start)
        if found is None:
            decisions = [side.policy.decide(start.request()) for side in self.sides]
            found = self._plain[start] = tuple(
                frozenset(r.rule for r in d.reasons if r.rule is not None)
                if d.decision == "deny"
                else None
                for d in decisions
            )
        return found

    def _via_limits(self) -> dict[str, list[ast.Rule]]:
        """Per channel, the rule versions other than allows that name it by `via`."""
        if self._limits_by_channel is None:
            self._limits_by_channel = {}
            for versions in self.rules.values():
                for rule in versions:
                    if rule.effect.kind != "allow":
                        for channel in dict.fromkeys(c.value for c in rule.channels or ()):
                            self._limits_by_channel.setdefault(channel, []).append(rule)
        return self._limits_by_channel

    def _dimension_names(self, rules: Sequence[ast.Rule]) -> frozenset[str]:
        key = tuple(id(rule) for rule in rules)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = frozenset(d.name for d in self.dimensions(rules))
        return found

    def _cases(
        self,
        actors: Sequence[Profile],
        usable: Mapping[str, Sequence[Dimension]],
        channels: Sequence[str],
        limit: int,
    ) -> Iterator[Case]:
        """The cases of each action's dimensions for these actors and channels, varied jointly
        while that makes at most `limit` combinations, else each alone and in pairs."""
        accounts = {c: self.channels.accounts_to_try(c) for c in channels}
        for action, dims in usable.items():
            prepared = _prepared(_combinations(dims, limit), action)
            for channel in channels:
                for account in accounts[channel]:
                    for actor in actors:
                        base = self.base_case(actor, action, channel)._replace(account=account)
                        for plain, special in prepared:
                            yield self.apply(base, plain, special)

    def baseline(self) -> Iterator[Case]:
        """Each actor, action and channel with nothing varied; and each channel's accounts."""
        accounts = self.channels.accounts
        for actor in self.actors.profiles:
            for action in sorted(ACTIONS):
                for channel in [*self.channels.channels, self.channels.undeclared]:
                    base = self.base_case(actor, action, channel)
                    yield base
                    if channel in accounts:
                        for account in [*accounts[channel], None, UNDECLARED_ACCOUNT]:
                            yield base._replace(account=account)


def _prepare(patch: Patch, reply: bool) -> Prepared:
    """A combination split into plain field values and the ones that depend on the case."""
    plain: Patch = {}
    special: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith("+") or key == "approvals":
            special.append((key, value))
        elif reply or key != "received_at":  # a new post answers no post: it has no receipt time
            plain[key] = value
    return plain, special


def _prepared(patches: Sequence[Patch], action: str) -> list[Prepared]:
    return [_prepare(patch, action == "reply") for patch in patches]


def _usable(dims: Sequence[Dimension], action: str) -> list[Dimension]:
    """The dimensions an action's request carries (a new post answers no post)."""
    return [d for d in dims if action == "reply" or not d.reply_only]


def _thinned_joint(
    usable: Mapping[str, Sequence[Dimension]], target: int
) -> tuple[dict[str, list[Prepared]], dict[str, list[Patch]]]:
    """Per action, the thinned joint of its dimensions (`_thinned`), and every value of the
    dimensions it thinned (those that apply as plain fields: times, reach), to try a changed
    case with."""
    joint: dict[str, list[Prepared]] = {}
    others: dict[str, list[Patch]] = {}
    for action, dims in usable.items():
        combinations, thinned = _thinned(dims, target)
        joint[action] = _prepared(combinations, action)
        values = _prepared([p for d in thinned for p in d.patches], action)
        others[action] = [plain for plain, special in values if plain and not special]
    return joint, others


def _thinned(dims: Sequence[Dimension], target: int) -> tuple[list[Patch], list[Dimension]]:
    """Every combination of the dimensions' values with the largest dimension cut, in turn,
    to an even spread of its values (its first and last kept) until there are at most `target`
    combinations, and the dimensions it cut; none when that would leave a dimension fewer than
    two values. The values where the sides differ (`keep`) are cut last: a roster's 44 changed
    on-duty edges cut to 2 (next to 9 texts kept whole) missed where carol's evenings end."""
    if target < 1:
        return [], []
    sizes = [len(d.patches) for d in dims]
    product = _product_size(dims)
    for floors in ([max(2, d.keep) for d in dims], [2] * len(dims)):
        while product > target:
            cuttable = [i for i, size in enumerate(sizes) if size > floors[i]]
            if not cuttable:
                break
            largest = max(cuttable, key=sizes.__getitem__)
            rest = product // sizes[largest]
            sizes[largest] = max(floors[largest], min(sizes[largest] - 1, target // rest))
            product = rest * sizes[largest]
    if product > target:
        return [], []
    kept = [
        replace(d, patches=_kept(d, n)) if n < len(d.patches) else d
        for d, n in zip(dims, sizes, strict=True)
    ]
    cut = [d for d, n in zip(dims, sizes, strict=True) if n < len(d.patches)]
    return _combinations(kept, product), cut


def _kept(dimension: Dimension, count: int) -> list[Patch]:
    """`count` of the dimension's values: the ones where the sides differ (`keep`) first, then
    the others in the dimension's `cut_order`, or an even spread of them."""
    changed, rest = dimension.patches[: dimension.keep], dimension.patches[dimension.keep :]
    if count <= len(changed):
        return _evenly(changed, count)
    if dimension.cut_order:
        order = [i for i in dimension.cut_order if i >= dimension.keep][: count - len(changed)]
        return [*changed, *(dimension.patches[i] for i in sorted(order))]
    return [*changed, *_evenly(rest, count - len(changed))]


def _evenly(values: Sequence[Patch], count: int) -> list[Patch]:
    """`count` of the values, evenly spaced from the first to the last."""
    if count <= 1 or len(values) <= 1:
        return list(values[:count])
    step = (len(values) - 1) / (count - 1)
    return [values[round(i * step)] for i in range(min(count, len(values)))]


def _product_size(dims: Sequence[Dimension]) -> int:
    size = 1
    for dim in dims:
        size *= max(1, len(dim.patches))
    return size


def _round_robin(
    starts: Sequence[tuple[str, Case]],
    prepared: Mapping[str, Sequence[Prepared]],
    budget: int,
    apply: Callable[[Case, Patch, Sequence[tuple[str, Any]]], Case],
    mine: Mapping[str, Mapping[str, Sequence[Prepared]]] | None = None,
) -> Iterator[tuple[Case, Case]]:
    """Each start with its action's combinations (its actor's own in `mine`), the first
    combination of every start before the second of any, until `budget` cases are made:
    (start, case)."""
    lists = [
        (start, (mine[start.actor] if mine and start.actor in mine else prepared)[action])
        for action, start in starts
    ]
    made = 0
    for index in range(max((len(combinations) for _, combinations in lists), default=0)):
        for start, combinations in lists:
            if index < len(combinations):
                if made == budget:
                    return
                made += 1
                yield start, apply(start, *combinations[index])


def _combinations(
    dims: Sequence[Dimension], limit: int, own: tuple[frozenset[str], ...] = ()
) -> list[Patch]:
    """Every combination of the dimensions' values, or beyond `limit`, each alone and in pairs.

    With `own` (the dimension names of each of two rules varied together), the pairs no single
    rule has come first: the ones its own cases have tried already come last."""
    if _product_size(dims) <= limit:
        return [
            {k: v for patch in combo for k, v in patch.items()}
            for combo in itertools.product(*(d.patches or [{}] for d in dims))
        ]
    found: list[Patch] = [{}]
    for dim in dims:
        found += dim.patches
    pairs = list(itertools.combinations(dims, 2))
    if own:
        pairs.sort(key=lambda pair: any({pair[0].name, pair[1].name} <= names for names in own))
    budget = MAX_PAIRED_PATCHES
    for done, (first, second) in enumerate(pairs):
        # A fair share of what is left: 720 opening ranges a day made two dimensions of ten
        # thousand values each, and their pair a hundred million requests (24 GB).
        share = min(MAX_PATCHES_PER_PAIR, budget // (len(pairs) - done))
        paired = [{**a, **b} for a, b in _pairs(first, second, share)]
        budget -= len(paired)
        found += paired
    return found


def _pairs(first: Dimension, second: Dimension, most: int) -> Iterator[tuple[Patch, Patch]]:
    """Every pair of the two dimensions' values, or past `most`, the pairs of a thinned set of
    each (`_kept`: where the sides differ first), the smaller one kept whole while it can be."""
    a, b = first.patches, second.patches
    if len(a) * len(b) > most:
        side = max(math.isqrt(most), 1)
        if len(a) <= side:
            b = _kept(second, max(most // len(a), 1))
        elif len(b) <= side:
            a = _kept(first, max(most // len(b), 1))
        else:
            a, b = _kept(first, side), _kept(second, side)
    return itertools.product(a, b)


def generate_space(base: Side, head: Side) -> Space:
    """The deduplicated request space of the two sides, in a stable order."""
    universe = _Universe(base, head)
    seen: dict[Case, None] = dict.fromkeys(universe.baseline())
    actors = universe.actors
    triggers = Triggers(universe.sides, universe.plain, actors.roles_of, actors.signing)
    for rules in universe.rules.values():
        cases = list(universe.rule_cases(rules))
        seen.update(dict.fromkeys(cases))
        triggers.add(rules, cases)
    # Two rules varied together where the rule-by-rule space cannot show what a change does:
    # - a deny, escalation or approval rule removed or changed, with each allow rule that
    #   could let the same people act: where it stopped someone whom only a rule with other
    #   conditions allows (a category it never names), its removal widens;
    # - two escalation rules whose order the change swapped (a rule moved to another file):
    #   when both match and neither target inherits the other, the first one's is named.
    limits = (
        (limit, allowing)
        for limit in _weakened_limits(base, head, universe.rules)
        for allowing in _laxer_rules(universe.rules, limit)
        if universe.share_actors(limit, allowing)
    )
    pairs = list(
        itertools.islice(
            itertools.chain(limits, _swapped_escalations(base, head, universe.rules)),
            MAX_CROSSED_PAIRS,
        )
    )
    # Shared out, what a pair leaves passing on: one large pair (an overdue-reply rule crossed
    # with every deadline) used it all up, and the pairs after it were never tried.
    budget, thin_budget = MAX_CROSSED_CASES, MAX_THINNED_CROSSED_CASES
    for done, (first, second) in enumerate(pairs):
        left = len(pairs) - done
        crossed, thinned = universe.crossed_cases(
            first, second, budget // left, thin_budget // left
        )
        budget -= len(dict.fromkeys(crossed))
        thin_budget -= len(thinned)
        seen.update(dict.fromkeys([*crossed, *thinned]))
    times = universe.times
    baseline = Baseline(
        BASE_SENTIMENT,
        universe.base_category,
        BASE_REACH,
        times.base_at,
        times.zone,
        universe.channels.members,
    )
    twins = universe.actors.twins()
    return Space(
        list(seen),
        times.zone,
        len(universe.rules),
        baseline,
        twins,
        universe.spread,
        universe.thinned,
        triggers,
    )


def declared_categories(sides: Sequence[Side]) -> frozenset[str] | None:
    """The categories a request may name on either side (None: any word, nothing declared).

    Either, not both: a category the head adds (and a rule for it) is exactly what a review
    must try; kept to the common ones, a new `refund` allow rule passed as no change. Such a
    request is decided by the other side's rules as written (its API would refuse the word)."""
    declared = [side.policy.categories for side in sides if side.policy.categories]
    if not declared:
        return None
    return frozenset.union(*declared)


def _weakened_limits(
    base: Side, head: Side, rules: Mapping[str, list[ast.Rule]]
) -> Iterator[list[ast.Rule]]:
    """The versions of each rule that limits (deny, escalate, approval) on either side and was
    removed or changed by the change (a rule added can only limit more)."""
    before = base.result.symbols.rules.items
    after = head.result.symbols.rules.items
    for name, versions in rules.items():
        changed = name in before and (
            len(versions) > 1 or name not in after or _reads_changed(versions, base, head)
        )
        if changed and any(rule.effect.kind != "allow" for rule in versions):
            yield versions


def _reads_changed(versions: Sequence[ast.Rule], base: Side, head: Side) -> bool:
    """Whether a rule reads a declaration the change edits (a calendar, period, list, roster or
    response time): its text is the same, what it limits is not. A calendar open an hour longer
    lifts `deny … unless now in office` for whatever another rule allows at that hour."""
    sides = (base.result.symbols, head.result.symbols)
    read: set[tuple[str, str]] = set()
    for node in ast.walk([c for rule in versions for c in (*rule.when, *rule.unless)]):
        match node:
            case ast.NowIn(name=name):
                read.add(("times", name.value))
            case ast.InList(list=name) | ast.Mentions(list=name):
                read.add(("lists", name.value))
            case ast.ActorOnDuty(roster=roster):
                names = (
                    [roster.value] if roster else [*sides[0].rosters.items, *sides[1].rosters.items]
                )
                read.update(("rosters", n) for n in names)
            case ast.DeadlinePassed():
                if sides[0].response_rules != sides[1].response_rules:
                    return True
                read.update(
                    ("times", r.calendar.value) for r in sides[1].response_rules if r.calendar
                )
    for kind, declared in list(read):
        if kind == "rosters":  # a roster on a calendar's hours changes with the calendar
            for symbols in sides:
                on_duty = symbols.rosters.items.get(declared)
                if on_duty is not None and on_duty.calendar is not None:
                    read.add(("times", on_duty.calendar.value))
    return any(
        getattr(sides[0], kind).items.get(declared) != getattr(sides[1], kind).items.get(declared)
        for kind, declared in read
    )


def _swapped_escalations(
    base: Side, head: Side, rules: Mapping[str, list[ast.Rule]]
) -> Iterator[tuple[list[ast.Rule], list[ast.Rule]]]:
    """Pairs of escalation rules (their versions) in one order on one side and the other order
    on the other."""
    places = [
        {rule.name: place for place, rule in enumerate(side.policy.rules)} for side in (base, head)
    ]
    escalations = sorted(
        name
        for name, versions in rules.items()
        if any(rule.effect.kind == "escalate" for rule in versions)
        and all(name in place for place in places)
    )
    for first, second in itertools.combinations(escalations, 2):
        before = places[0][first] < places[0][second]
        if before != (places[1][first] < places[1][second]):
            yield rules[first], rules[second]


def _laxer_rules(
    rules: Mapping[str, list[ast.Rule]], limit: Sequence[ast.Rule]
) -> Iterator[list[ast.Rule]]:
    """The rules (their versions) that share an action with a version of `limit` and decide
    something other than a deny: what decides once the limit no longer does. Allow rules first;
    then escalations and approvals (an outsider exempted from a deny is escalated on a crisis)."""
    acts = _actions(limit)
    others = [v for v in rules.values() if v is not limit and acts & _actions(v)]
    kinds = [{rule.effect.kind for rule in versions} for versions in others]
    yield from (v for v, k in zip(others, kinds, strict=True) if "allow" in k)
    yield from (
        v for v, k in zip(others, kinds, strict=True) if k - {"allow", "deny"} and "allow" not in k
    )


def _applies_to(rules: Sequence[ast.Rule], actor: Profile) -> bool:
    """Whether a version of the rule can apply to the actor by the roles it holds on either side
    (an id a rule names but no side declares holds none: only a rule for anyone applies)."""
    return any(rule.roles is None or actor.roles & {r.value for r in rule.roles} for rule in rules)


def _actions(rules: Sequence[ast.Rule]) -> set[str]:
    found: set[str] = set()
    for rule in rules:
        found |= set(ACTIONS) if rule.actions is None else {a.value for a in rule.actions}
    return found


def describe(case: Case, zone: str) -> Mapping[str, str]:
    """The attributes a reader needs to recognise a case, in reading order."""
    tz = ZoneInfo(zone)

    def when(value: datetime) -> str:
        return strftime(value.astimezone(tz), "%a %Y-%m-%d %H:%M %z")

    shown: dict[str, str] = {"actor": case.actor}
    if case.groups:
        shown["groups"] = ", ".join(case.groups)
    shown["action"] = case.action
    shown["channel"] = case.channel
    if case.account is not None:
        shown["account"] = case.account
    if case.sentiment is not None:
        shown["post"] = f"{case.sentiment} {case.category}, reach {case.reach}"
        if case.post_labels:
            shown["post labels"] = ", ".join(case.post_labels)
        if case.post_text is not None:
            shown["post text"] = case.post_text
        if case.received_at is not None and case.at - case.received_at != REPLY_GAP:
            shown["received"] = when(case.received_at)
    if case.content_labels:
        shown["labels"] = ", ".join(case.content_labels)
    if case.content_text is None:
        shown["text"] = "(none)"
    elif case.content_text != NEUTRAL_TEXT:
        shown["text"] = case.content_text
    for name, _, value in case.context:
        shown[f"context.{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    if case.approvals:
        shown["approved by"] = ", ".join(by for by, _ in case.approvals)
    shown["at"] = when(case.at)
    return shown
