"""Coverage: where the promised response times have nobody on duty who may answer.

For each class of post the rules tell apart (category with a response-time rule, sentiment,
channel, the bands of reach that conditions tell apart, the post labels and context values
they test; the conditions of rules that take replies and of response-time rules) the arrival
times in [start, end)
at which a post would not be covered (see `engine.routing`) are computed exactly, as intervals.

A person p covers an arrival at t when p is on duty at some moment of [t, d(t)), d being the
deadline. For one on-duty interval [s, e) of p that holds exactly for t in (t*, e), where t* is
the latest arrival whose deadline is at or before s (`s - within` in real time, the inverse of
business-time counting on a calendar). The candidate's covered set is the union of those; an
approval adds the intersection, per required role, with the arrivals that enough of its other
holders cover (one for `require approval from R`, N for `require N approvals from R`). The
open left end is kept as one microsecond: arrivals are compared with whole instants.

Classes with the same deadline rule and the same candidates (with their approvers) share one
computation, so the cost grows with what the rules distinguish, not with the product of values.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from replygate.engine.calendars import HORIZON_DAYS, _merge
from replygate.engine.evaluator import CompiledPolicy, ResponseRule
from replygate.engine.models import LATEST_DUTY, Content, OutOfRange, Post, RouteRequest
from replygate.engine.routing import candidates, route_index
from replygate.policy_dsl import ast

__all__ = [
    "ClassCoverage",
    "CoverageReport",
    "PostClass",
    "channels_phrase",
    "coverage",
    "covered_arrivals",
    "post_classes",
]

Interval = tuple[datetime, datetime]
_TICK = timedelta(microseconds=1)
SENTIMENTS = ("positive", "neutral", "negative")


@dataclass(frozen=True, slots=True)
class PostClass:
    """One kind of post: what the rules can tell apart."""

    category: str
    sentiment: str
    channel: str
    reach: int
    # A channel that declares accounts takes posts to those only: without one every decision
    # was a deny, and coverage reported the whole range as a gap.
    account: str | None = None
    # The post's labels and the request's context values that conditions test (`post has
    # label vip`, `context.urgent`), as (name, value) pairs: ("label", "vip"), ("context.tier",
    # "gold"). A response time promised under such a condition is a class of its own.
    traits: tuple[tuple[str, Any], ...] = ()


@dataclass
class ClassCoverage:
    """The arrival windows of one group of classes that nobody can answer in time."""

    category: str
    sentiments: list[str]
    channels: list[str]
    reach: str
    response_time: ResponseRule  # of `response_times`, the earliest at the range's start
    gaps: list[Interval]
    single: list[tuple[Interval, str]]
    classes: list[PostClass] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)  # "labelled vip", … (empty: any)
    # Every response time that holds for these posts: each arrival is due by the earliest of
    # their deadlines, which need not be the same rule's all week (24h against 1h in office).
    response_times: tuple[ResponseRule, ...] = ()

    @property
    def promise(self) -> str:
        """The response times in words: `within 30m`, or `the earlier of within 24h and …`."""
        # In source order, whichever is earliest at the start: a title does not move with it.
        rules = sorted(
            self.response_times or (self.response_time,),
            key=lambda r: (
                (r.reason.source.file, r.reason.source.line) if r.reason.source else ("", 0)
            ),
        )
        said = [r.reason.message.split(": ", 1)[-1] for r in rules]
        return said[0] if len(said) == 1 else "the earlier of " + " and ".join(said)

    @property
    def rest_phrase(self) -> str:
        """What a title adds when the group holds only some of the combinations it lists."""
        return " (the combinations no other class of this category takes)" if self.partial else ""

    @property
    def partial(self) -> bool:
        """Whether the group holds only some combinations of the sentiments, reach bands,
        channels and traits its title lists: `any sentiment, any reach` beside a group of
        `positive or neutral, 10,000 followers or more` means the other combinations."""
        if not self.classes:
            return False
        product = (
            len({k.sentiment for k in self.classes})
            * len({k.reach for k in self.classes})
            * len({(k.channel, k.account) for k in self.classes})
            * len({k.traits for k in self.classes})
        )
        return len(set(self.classes)) < product

    @property
    def gap_hours(self) -> float:
        return _hours(self.gaps)

    @property
    def single_hours(self) -> float:
        return _hours([window for window, _ in self.single])


@dataclass
class CoverageReport:
    """Every class's gaps and single-person windows, and the staffed hours per roster and week."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    classes: list[ClassCoverage]
    staffed: dict[str, dict[str, float]]  # roster -> ISO week -> hours with someone on duty
    channels: tuple[str, ...] = ()  # every channel of the policy: a class of all says "any"
    notes: tuple[str, ...] = ()  # what was not tried exhaustively (`combination_note`)

    @property
    def has_gaps(self) -> bool:
        return any(c.gaps for c in self.classes)


def channels_phrase(channels: Sequence[str], every: Iterable[str]) -> str:
    """How a report names a group's channels: "any channel" only when it holds every channel
    of the policy (a group without one, shown beside a group of that one, read as if it held
    it too), else their names."""
    if len(channels) > 1 and set(channels) == set(every):
        return "any channel"
    return ", ".join(channels)


def _hours(intervals: Iterable[Interval]) -> float:
    return round(sum((e - s).total_seconds() for s, e in intervals) / 3600, 2)


# ---- interval sets ----------------------------------------------------------------------------


def _union(sets: Iterable[Sequence[Interval]]) -> list[Interval]:
    return _merge(i for found in sets for i in found)


def _at_least(sets: Sequence[Sequence[Interval]], count: int) -> list[Interval]:
    """Where at least `count` of the sets cover (each set merged: one per person)."""
    if count <= 1:
        return _union(sets)
    events = sorted(
        (moment, step)
        for found in sets
        for start, end in found
        for moment, step in ((start, 1), (end, -1))
    )  # at one instant an end (-1) sorts before a start: intervals are half-open
    found: list[Interval] = []
    depth = 0
    opened: datetime | None = None
    for moment, step in events:
        depth += step
        if depth >= count and opened is None:
            opened = moment
        elif depth < count and opened is not None:
            if opened < moment:
                found.append((opened, moment))
            opened = None
    return _merge(found)


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    found: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            found.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return found


def _complement(covered: Sequence[Interval], start: datetime, end: datetime) -> list[Interval]:
    found: list[Interval] = []
    moment = start
    for begin, finish in covered:
        if begin > moment:
            found.append((moment, min(begin, end)))
        moment = max(moment, finish)
        if moment >= end:
            break
    if moment < end:
        found.append((moment, end))
    return [(s, e) for s, e in found if s < e]


# ---- who covers which arrivals ----------------------------------------------------------------


def _latest_arrival(rule: ResponseRule, due: datetime) -> datetime | None:
    """The latest arrival whose deadline is at or before `due` (None: no arrival is)."""
    calendar = rule.deadline.calendar
    if calendar is None:
        try:
            return due - rule.deadline.within
        except OverflowError:  # before year 1: no arrival is due by then
            return None
    return calendar.subtract_open_time(due, rule.deadline.within)


def _last_deadline(rule: ResponseRule, end: datetime) -> datetime:
    """A moment by which every arrival before `end` is due: on-duty stretches that begin later
    cover none of them. Deadlines grow with the arrival time, so it is the deadline of `end`
    (weeks away for `within 60d`: a fixed look-ahead missed those), or when that cannot be
    computed, the farthest a deadline is looked for; never past what rosters compute."""
    try:
        due = rule.deadline.due(end)
    except OutOfRange:
        due = None
    if due is None:
        farthest = timedelta(days=HORIZON_DAYS)
        due = LATEST_DUTY if end > LATEST_DUTY - farthest else end + farthest
    return min(due, LATEST_DUTY)


def _unreachable(rule: ResponseRule, start: datetime, end: datetime) -> list[Interval]:
    """The arrivals in [start, end) whose deadline cannot be computed."""
    calendar = rule.deadline.calendar
    if calendar is None:
        return []  # real time: every deadline within what coverage computes exists
    return calendar.unreachable(start, end, rule.deadline.within)


def covered_arrivals(
    policy: CompiledPolicy, person: str, rule: ResponseRule, start: datetime, end: datetime
) -> list[Interval]:
    """The arrival times in [start, end) whose deadline `person` is on duty before."""
    horizon = _last_deadline(rule, end)
    found = []
    for begin, finish in policy.duty.duty_between(person, start, horizon):
        latest = _latest_arrival(rule, begin)
        low = start if latest is None else max(start, latest + _TICK)
        high = min(finish, end)
        if low < high:
            found.append((low, high))
        if begin >= end:
            break
    return _merge(found)


def _class_cover(
    policy: CompiledPolicy,
    rules: Sequence[ResponseRule],
    answering: Sequence[tuple[str, tuple[tuple[str, int], ...]]],
    start: datetime,
    end: datetime,
    unreachable: Sequence[Interval],
) -> tuple[list[Interval], list[tuple[Interval, str]]]:
    """Covered arrivals of a class and the windows only one person covers, given the arrivals
    whose deadline cannot be computed. With several response times the earliest deadline
    holds: [arrival, earliest) lies inside every rule's [arrival, deadline), so an arrival is
    covered under it exactly when it is under each."""
    cache: dict[str, list[Interval]] = {}

    def of(person: str) -> list[Interval]:
        if person not in cache:
            covered = covered_arrivals(policy, person, rules[0], start, end)
            for rule in rules[1:]:
                covered = _intersect(covered, covered_arrivals(policy, person, rule, start, end))
            cache[person] = covered
        return cache[person]

    holders = route_index(policy).holders
    # Arrivals whose deadline cannot be computed are covered by nobody, as `route` says.
    computable = _complement(unreachable, start, end) if unreachable else None
    per_person: list[tuple[str, list[Interval]]] = []
    for person, approvers in answering:
        covered = of(person)
        if computable is not None:
            covered = _intersect(covered, computable)
        for role, needed in approvers:
            others = [of(h) for h in holders.get(role, ()) if h != person]
            covered = _intersect(covered, _at_least(others, needed))
        per_person.append((person, covered))
    return _union(c for _, c in per_person), _single(per_person)


def _single(per_person: Sequence[tuple[str, Sequence[Interval]]]) -> list[tuple[Interval, str]]:
    """The windows in which exactly one person covers arrivals, with that person."""
    events: list[tuple[datetime, int, str]] = []
    for person, covered in per_person:
        for start, end in covered:
            events.append((start, 1, person))
            events.append((end, -1, person))
    events.sort(key=lambda e: (e[0], e[1]))
    active: dict[str, int] = defaultdict(int)
    # The persons with a positive count, kept as counts change: listing them anew at every
    # event cost events times persons (hundreds of persons with hourly turns: seconds).
    alive: set[str] = set()
    found: list[tuple[Interval, str]] = []
    previous: datetime | None = None
    for moment, step, person in events:
        if previous is not None and moment > previous and len(alive) == 1:
            (only,) = alive
            if found and found[-1][0][1] == previous and found[-1][1] == only:
                found[-1] = ((found[-1][0][0], moment), only)
            else:
                found.append(((previous, moment), only))
        active[person] += step
        if active[person] > 0:
            alive.add(person)
        else:
            alive.discard(person)
        previous = moment
    return found


# ---- classes ----------------------------------------------------------------------------------


def _tested(policy: CompiledPolicy) -> dict[str, set[Any]]:
    """What the conditions that can decide a reply compare each attribute with: the rules that
    take replies (`on reply`, `on any`) and the response-time rules. `post.author_reach` ->
    {10000}; `label vip` -> {True} (`post has label vip`); `context.tier` -> {"gold"}."""
    return {dotted: {value for _, value in pairs} for dotted, pairs in _comparisons(policy).items()}


def _comparisons(policy: CompiledPolicy) -> dict[str, set[tuple[str, Any]]]:
    """`_tested` with each value's operator: `post.author_reach` -> {(">=", 10000)}."""
    found: dict[str, set[tuple[str, Any]]] = defaultdict(set)

    def visit(expr: ast.Expr) -> None:
        match expr:
            case ast.HasLabel(path=path, label=label) if path.dotted == "post":
                found["label " + str(label.value)].add(("==", True))
            case ast.Truthy(path=path):
                found[path.dotted].add(("==", True))
            case ast.Compare(path=path, op=op, value=value):
                found[path.dotted].add((op, value.value))
            # `in [5000]` and `in sizes` tell values apart as much as `== 5000` does.
            case ast.Member(path=path, values=values):
                found[path.dotted].update(("==", literal.value) for literal in values)
            case ast.InList(path=path, list=name):
                named = policy.lists.get(name.value)
                found[path.dotted].update(("==", v.value) for v in (named.values if named else ()))
            case ast.Not(operand=operand):
                visit(operand)
            case ast.And(operands=operands) | ast.Or(operands=operands):
                for operand in operands:
                    visit(operand)

    for rule in policy.rules:
        actions = rule.source.actions
        if actions is None or any(action.value == "reply" for action in actions):
            for expr in (*rule.source.when, *rule.source.unless):
                visit(expr)
    for expr in policy_response_conditions(policy):
        visit(expr)
    return found


def _numbers(values: Iterable[Any]) -> list[int | float]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _reach_thresholds(policy: CompiledPolicy) -> list[int]:
    """Where a band of reach starts that the conditions tell apart from the one below it: the
    least value on the other side of each comparison (`>= 10000` and `< 10000` -> 10000,
    `> 10000` and `<= 10000` -> 10001, `== 10000` and `in [10000]` -> both). 250 thresholds
    made 754 reach values as a neighbour either side of each; a band each makes 251."""
    cuts: set[int] = set()
    for op, value in _comparisons(policy).get("post.author_reach", ()):
        if not _numbers([value]):
            continue
        first_above = math.floor(value) + 1
        if op in (">=", "<"):
            cuts.add(math.ceil(value))
        elif op in (">", "<="):
            cuts.add(first_above)
        elif value == math.floor(value):  # equal to a whole number: that number is a band
            cuts |= {int(value), first_above}
    return sorted(cut for cut in cuts if cut > 0)


def policy_response_conditions(policy: CompiledPolicy) -> list[ast.Expr]:
    """The conditions of every response-time rule."""
    return [e for rules in policy.response_rules.values() for r in rules for e in r.conditions]


def _reach_values(thresholds: Sequence[int]) -> list[int]:
    """The least reach of each band (`_reach_thresholds`), which stands for the band."""
    return sorted({0, *thresholds})


def post_classes(policy: CompiledPolicy) -> list[PostClass]:
    """Every class of post the rules tell apart, for categories with a response time."""
    reach = _reach_values(_reach_thresholds(policy))
    traits = trait_combinations(policy)
    return [
        PostClass(category, sentiment, channel, value, account, combination)
        for category in sorted(policy.response_rules)
        for sentiment in SENTIMENTS
        for channel in sorted(policy.channels)
        for account in _accounts(policy, channel)
        for value in reach
        for combination in traits
    ]


# Every combination of labels and context values is tried up to this many; past it, each value
# alone (and none) is, so a policy testing twenty flags does not make a million classes.
MAX_TRAIT_COMBINATIONS = 64


def trait_combinations(policy: CompiledPolicy) -> list[tuple[tuple[str, Any], ...]]:
    """The post labels and context values the conditions tell apart, combined.

    Each tested post label is present or not; each tested `context.KEY` is absent or one of
    the values conditions compare it with (for numbers, also one either side, as for reach).
    """
    options = _trait_options(policy)
    if _combination_count(options) <= MAX_TRAIT_COMBINATIONS:
        combined: list[tuple[tuple[str, Any], ...]] = [()]
        for name, values in sorted(options.items()):
            combined = [(*c, (name, v)) for c in combined for v in (None, *values)]
        return [tuple(t for t in c if t[1] is not None) for c in combined]
    return [(), *(((name, v),) for name, values in sorted(options.items()) for v in values)]


def _combination_count(options: dict[str, list[Any]]) -> int:
    count = 1
    for values in options.values():
        count *= len(values) + 1  # each value, or absent
    return count


def combination_note(policy: CompiledPolicy) -> str | None:
    """What a report says when the labels and context values were tried one at a time."""
    options = _trait_options(policy)
    count = _combination_count(options)
    if count <= MAX_TRAIT_COMBINATIONS:
        return None
    return (
        f"the rules test {len(options)} post labels and context keys, {count:,} combinations "
        f"(more than {MAX_TRAIT_COMBINATIONS}): each value was tried alone, not together"
    )


# Attributes a class of post does not vary: a post is tried without text, with one id, and
# with the channel's declared accounts only.
UNTRIED = ("post.text", "post.id", "account")


def untried_note(policy: CompiledPolicy) -> str | None:
    """What a report says when a response time or a rule that decides replies tests something
    the classes do not vary: `within 10m when post.text mentions any of competitors` is not
    looked at (posts are tried without text), and no gap of that promise is reported."""
    conditions = [*policy_response_conditions(policy)]
    for rule in policy.rules:
        actions = rule.source.actions
        if actions is None or any(action.value == "reply" for action in actions):
            conditions += [*rule.source.when, *rule.source.unless]
    declared = {handle for handles in policy.accounts.values() for handle in handles}
    found: set[str] = set()
    for node in ast.walk(conditions):
        path = getattr(node, "path", None)
        if not isinstance(path, ast.Path) or path.dotted not in UNTRIED:
            continue
        # A declared account is a class of its own: only another one goes untried.
        compared = [*getattr(node, "values", ()), getattr(node, "value", None)]
        named = {v.value for v in compared if isinstance(v, ast.Literal)}
        # `account in LIST` names no literal here: counted as untried, to be safe.
        if path.dotted != "account" or not named or not named <= declared:
            found.add(path.dotted)
    tested = sorted(found)
    if not tested:
        return None
    return (
        f"conditions test {', '.join(tested)}, which coverage does not vary (posts are tried "
        "without text, with one id and the channels' declared accounts): a response time or "
        "rule that holds only for some of them is not reflected here; `replygate route` "
        "answers for one post"
    )


def _trait_options(policy: CompiledPolicy) -> dict[str, list[Any]]:
    """Per tested post label and `context.KEY` (one level deep), the values worth trying: the
    ones compared with, and for numbers one either side."""
    options: dict[str, list[Any]] = {}
    for name, values in _tested(policy).items():
        parts = name.split(".")
        if not (name.startswith("label ") or (len(parts) == 2 and parts[0] == "context")):
            continue
        tried = set(values)
        tried.update(v + step for v in _numbers(values) for step in (-1, 1))
        options[name] = sorted(tried, key=repr)
    return options


def _trait_words(name: str, values: Sequence[Any]) -> str:
    """One label's or context key's values in a group: `labelled vip`, `without context.x`."""
    if name.startswith("label "):
        label = name.removeprefix("label ")
        return f"labelled {label}" if values == [True] else f"not labelled {label}"
    shown = [v for v in values if v is not None]
    if not shown:
        return f"without {name}"
    written = " or ".join(json.dumps(v) for v in shown)
    text = name if shown == [True] else f"{name} = {written}"
    return text + (" or without it" if None in values else "")


def traits_phrase(
    kinds: Sequence[PostClass], every: Sequence[tuple[tuple[str, Any], ...]]
) -> list[str]:
    """How a group's labels and context read: nothing when it holds every combination, else
    what its classes have in common per label or key (`labelled vip`, `without
    context.urgent`), or, when they have no such shape, each combination."""
    present = {k.traits for k in kinds}
    if len(every) <= 1 or present == set(every):
        return []
    names = sorted({name for combination in every for name, _ in combination})
    options = {
        name: [None, *sorted({v for c in every for n, v in c if n == name}, key=repr)]
        for name in names
    }
    held = {
        name: [v for v in options[name] if any(dict(c).get(name) == v for c in present)]
        for name in names
    }
    box = 1
    for values in held.values():
        box *= len(values)
    if box == len(present):  # every mix of the values held: say each key's own
        return [
            "; ".join(
                _trait_words(name, values)
                for name, values in held.items()
                if values != options[name]
            )
        ]
    return [
        "; ".join(_trait_words(name, [dict(c).get(name)]) for name in names)
        for c in sorted(present, key=repr)
    ]


def _accounts(policy: CompiledPolicy, channel: str) -> list[str | None]:
    """The accounts a channel's posts can reach: its declared ones, else any (None)."""
    declared: list[str | None] = [*sorted(policy.accounts.get(channel, ()))]
    return declared or [None]


def _request(kind: PostClass, at: datetime) -> RouteRequest:
    labels = [name.removeprefix("label ") for name, _ in kind.traits if name.startswith("label ")]
    context = {
        name.removeprefix("context."): value
        for name, value in kind.traits
        if name.startswith("context.")
    }
    post = Post.model_construct(
        id="coverage",
        sentiment=kind.sentiment,
        category=kind.category,
        author_reach=kind.reach,
        received_at=at,
        labels=labels,
        text=None,
    )
    return RouteRequest.model_construct(
        action="reply",
        channel=kind.channel,
        account=kind.account,
        post=post,
        content=Content(),
        context=context,
        at=at,
    )


def _describe_reach(values: Iterable[int], thresholds: Sequence[int]) -> str:
    """The reach bands whose least values are `values`, in words."""
    every = _reach_values(thresholds)
    chosen = set(values)
    if chosen >= set(every) or not thresholds:
        return "any reach"
    # Runs of neighbouring bands, each as (least reach, greatest reach or None: no limit).
    runs: list[tuple[int, int | None]] = []
    for index, low in enumerate(every):
        if low not in chosen:
            continue
        high = every[index + 1] - 1 if index + 1 < len(every) else None
        if runs and index and every[index - 1] in chosen:
            runs[-1] = (runs[-1][0], high)
        else:
            runs.append((low, high))
    return " or ".join(_band(low, high) for low, high in runs)


def _band(low: int, high: int | None) -> str:
    if high is None:
        return f"{low:,} followers or more"
    if low == 0:
        return f"fewer than {high + 1:,} followers"
    return f"{low:,} followers" if low == high else f"{low:,} to {high:,} followers"


# Each candidate with, per role that must still approve, how many approvals are missing.
_Answering = tuple[tuple[str, tuple[tuple[str, int], ...]], ...]


def coverage(
    policy: CompiledPolicy, start: datetime, end: datetime, zone: str | None = None
) -> CoverageReport:
    """Gaps, single-person windows and staffed hours over [start, end)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    local = ZoneInfo(zone or _policy_zone(policy))
    found = list(_grouped(policy, post_classes(policy), start, end))
    found.sort(key=lambda c: (c.category, -c.gap_hours, c.sentiments, c.channels))
    staffed = _staffed(policy, start, end, local)
    notes = [note for note in (combination_note(policy), untried_note(policy)) if note]
    return CoverageReport(
        start, end, local, found, staffed, tuple(sorted(policy.channels)), tuple(notes)
    )


def class_gaps(
    policy: CompiledPolicy, kinds: Iterable[PostClass], start: datetime, end: datetime
) -> dict[PostClass, list[Interval]]:
    """The gaps of each given class (classes without a response time have none)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return {k: group.gaps for group in _grouped(policy, kinds, start, end) for k in group.classes}


def policy_zone(policy: CompiledPolicy) -> str:
    """The zone coverage is shown in: the rosters' most common zone (UTC without rosters)."""
    return _policy_zone(policy)


def _grouped(
    policy: CompiledPolicy, classes: Iterable[PostClass], start: datetime, end: datetime
) -> Iterable[ClassCoverage]:
    thresholds = _reach_thresholds(policy)
    every_trait = trait_combinations(policy)
    groups: dict[tuple[str, tuple[int, ...], _Answering], list[PostClass]] = {}
    rules: dict[tuple[str, tuple[int, ...], _Answering], list[ResponseRule]] = {}
    # Per rule, not per class: searching a calendar's horizon for each of 90,000 classes was
    # most of a large policy's report.
    unreachable_of: dict[int, list[Interval]] = {}

    def unreachable(holding: Sequence[ResponseRule]) -> list[Interval]:
        for rule in holding:
            if id(rule) not in unreachable_of:
                unreachable_of[id(rule)] = _unreachable(rule, start, end)
        return _union(unreachable_of[id(rule)] for rule in holding)

    for kind in classes:
        holding = policy.response_rules_for(_request(kind, start).as_check(""))
        if not holding:
            continue
        # Who may answer is decided once, at the first arrival whose deadline can be computed:
        # one that cannot counts as passed, and `deadline has passed` escalated every person
        # away for the whole range.
        never = unreachable(holding)
        probe = never[0][1] if never and never[0][0] <= start < never[0][1] else start
        request = _request(kind, min(probe, end))
        answering = tuple(
            (person, tuple(sorted(decision.approvals_missing.items())))
            for person, decision in candidates(policy, request)
        )
        holding = _undominated(holding, unreachable_of)
        # First the rule whose deadline is the earliest then: what `response_time` names.
        first = policy.response_time(request.as_check(""))[0]
        holding = sorted(holding, key=lambda rule: rule is not first)
        key = (kind.category, tuple(id(rule) for rule in holding), answering)
        groups.setdefault(key, []).append(kind)
        rules[key] = holding
    results: dict[
        tuple[tuple[int, ...], _Answering], tuple[list[Interval], list[tuple[Interval, str]]]
    ] = {}
    for key, kinds in groups.items():
        signature = (key[1], key[2])
        if signature not in results:
            never = unreachable(rules[key])
            covered, single = _class_cover(policy, rules[key], key[2], start, end, never)
            results[signature] = (_complement(covered, start, end), single)
        gaps, single = results[signature]
        yield (
            ClassCoverage(
                category=kinds[0].category,
                sentiments=[s for s in SENTIMENTS if any(k.sentiment == s for k in kinds)],
                channels=sorted({k.channel for k in kinds}),
                reach=_describe_reach((k.reach for k in kinds), thresholds),
                response_time=rules[key][0],
                response_times=tuple(rules[key]),
                gaps=gaps,
                single=single,
                classes=kinds,
                traits=traits_phrase(kinds, every_trait),
            )
        )


def _undominated(
    rules: Sequence[ResponseRule], unreachable_of: Mapping[int, Sequence[Interval]]
) -> list[ResponseRule]:
    """The rules whose deadline can be the earliest: of those counted on one clock (the same
    calendar, or real time), only the shortest (the first of equals), so a class with `within
    5m` and `within 10m` in real time is grouped with the one that has `within 5m` alone. A
    rule whose deadline cannot be computed for some arrival is kept: that arrival is due at
    once (fail closed), whatever the shorter one says."""
    shortest: dict[int, ResponseRule] = {}
    for rule in rules:
        clock = id(rule.deadline.calendar)
        if clock not in shortest or rule.deadline.within < shortest[clock].deadline.within:
            shortest[clock] = rule
    chosen = set(map(id, shortest.values()))
    return [r for r in rules if id(r) in chosen or unreachable_of[id(r)]]


def _policy_zone(policy: CompiledPolicy) -> str:
    zones = [r.zone.key for r in policy.duty.rosters.values()]
    return max(sorted(set(zones)), key=zones.count) if zones else "UTC"


def _staffed(
    policy: CompiledPolicy, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    # local date -> (the next local Monday 00:00 in UTC, the date's ISO week): the same for
    # every segment that starts on that date, of every roster (hundreds of rosters with
    # hourly turns converted each of their segments' weeks anew).
    weeks_of: dict[date, tuple[datetime, str]] = {}
    for name in sorted(policy.duty.rosters):
        roster = policy.duty.rosters[name]
        weeks: dict[str, float] = {}
        for day in range(start.toordinal(), end.toordinal() + 1):
            for segment in roster.segments(day):
                low, high = max(segment.start, start), min(segment.end, end)
                if low >= high or not segment.persons:
                    continue
                # Segments are UTC days: one can cross local Monday 00:00, and its hours
                # after it belong to the next week (a 24/7 roster had 169 h, then 167 h).
                while True:
                    local = low.astimezone(zone).date()
                    known = weeks_of.get(local)
                    if known is None:
                        known = weeks_of[local] = _local_week(local, zone)
                    boundary, label = known
                    piece_high = high if boundary >= high else boundary
                    hours = (piece_high - low).total_seconds() / 3600
                    weeks[label] = weeks.get(label, 0.0) + hours
                    if boundary >= high:
                        break
                    low = boundary
        found[name] = {week: round(hours, 2) for week, hours in sorted(weeks.items())}
    return found


def _local_week(local: date, zone: ZoneInfo) -> tuple[datetime, str]:
    """The first local Monday 00:00 after the local date `local` (in UTC), and its ISO week."""
    monday = local + timedelta(days=7 - local.weekday())
    boundary = datetime(monday.year, monday.month, monday.day, tzinfo=zone).astimezone(UTC)
    year, week, _ = local.isocalendar()
    return boundary, f"{year:04d}-W{week:02d}"
