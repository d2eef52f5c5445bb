"""The generated request space: every case the two policy versions could decide differently.

The space is built rule by rule, not as one cartesian product. For each rule (both versions
of it together) and each actor, action and channel the rule can apply to, the attributes the
rule's conditions mention are varied jointly around a base request (for a rule where that would
exceed `MAX_CASES_PER_RULE`, each attribute alone and every pair together): each value a condition
names plus one it does not, the neighbours of every number (9,999 / 10,000 / 10,001), texts
that do and do not match each pattern, label sets, context flags true, false and absent, the
minutes around every opening and closing of a calendar (on a normal weekday, a weekend day,
each closed date and around each daylight-saving change), period window edges, the minutes
around each response deadline on both sides, and the approvals that do or do not satisfy a
requirement. Cases are deduplicated, so the space grows linearly with the number of rules.

Channels that no rule and no declaration tells apart are interchangeable: one channel of each
such class stands for the others, which keeps policies with many channels small. Actors are not
merged: every person and group is generated, since a reviewer reads examples by name.
"""

from __future__ import annotations

import importlib
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

import re2

from replygate.engine.models import Actor, Approval, CheckRequest, Content, Post
from replygate.policy_dsl import ast
from replygate.policy_dsl.schema import ACTIONS, CATEGORIES, LABEL_OWNERS, SENTIMENTS

if TYPE_CHECKING:
    from replygate.engine.review import Side

NEUTRAL_TEXT = "Thanks for your message, we are looking into it."
BASE_SENTIMENT = "positive"
BASE_REACH = 100
REPLY_GAP = timedelta(minutes=5)  # a reply 5 minutes after the post: no deadline is near
MINUTE = timedelta(minutes=1)
UNMENTIONED = "unmentioned"
# The category of the base request: the first one no rule mentions, the most ordinary first.
CATEGORY_PREFERENCE = ("question", "praise", *sorted(CATEGORIES))
# A rule's attributes are varied jointly while that makes at most this many cases per action
# (counting every actor and channel); beyond it, each attribute alone and every pair together.
MAX_CASES_PER_RULE = 20_000

ContextItem = tuple[str, str, Any]  # name, type tag (so True and 1 stay apart), value
ApprovalItem = tuple[str, tuple[str, ...]]
Patch = dict[str, Any]
TEXT_FIELDS = {"post.id": "post_id", "post.text": "post_text", "content.text": "content_text"}
CONTEXT_KEY = "+context:"  # patch keys that set (or, with None, remove) one context flag


class Case(NamedTuple):
    """One generated request in a hashable form, so the space can deduplicate."""

    actor: str
    groups: tuple[str, ...]
    action: str
    channel: str
    account: str | None
    at: datetime
    sentiment: str | None = None  # None: a new post, which answers no post
    category: str | None = None
    reach: int | None = None
    received_at: datetime | None = None
    post_labels: tuple[str, ...] = ()
    post_text: str | None = None
    post_id: str = "p-1"
    content_labels: tuple[str, ...] = ()
    content_text: str = NEUTRAL_TEXT
    context: tuple[ContextItem, ...] = ()
    approvals: tuple[ApprovalItem, ...] = ()

    def request(self) -> CheckRequest:
        """The request this case stands for (built without re-validating: it is valid by construction)."""
        post = None
        if self.sentiment is not None:
            post = Post.model_construct(
                id=self.post_id,
                sentiment=self.sentiment,
                category=self.category,
                author_reach=self.reach,
                received_at=self.received_at,
                labels=list(self.post_labels),
                text=self.post_text,
            )
        return CheckRequest.model_construct(
            actor=_actor(self.actor, self.groups),
            action=self.action,
            channel=self.channel,
            account=self.account,
            post=post,
            content=_content(self.content_labels, self.content_text),
            context={name: value for name, _, value in self.context},
            approvals=_approvals(self.approvals),
            at=self.at,
        )


# Most cases share their actor, content and approvals: build each of those once. The models are
# frozen and the evaluator only reads them, so sharing is safe.
@lru_cache(maxsize=4096)
def _actor(actor: str, groups: tuple[str, ...]) -> Actor:
    return Actor.model_construct(id=actor, groups=list(groups))


@lru_cache(maxsize=4096)
def _content(labels: tuple[str, ...], text: str) -> Content:
    return Content.model_construct(labels=list(labels), text=text)


def _approvals(approvals: tuple[ApprovalItem, ...]) -> list[Approval]:
    return [_approval(by, groups) for by, groups in approvals]


@lru_cache(maxsize=4096)
def _approval(by: str, groups: tuple[str, ...]) -> Approval:
    return Approval.model_construct(by=by, groups=list(groups))


@dataclass
class Space:
    """The generated cases, in generation order, and the zone their times are best read in."""

    cases: list[Case]
    zone: str
    rules: int = 0  # how many rules (both versions counted once) contributed

    def __len__(self) -> int:
        return len(self.cases)


@dataclass(frozen=True)
class Profile:
    """An actor the space uses: a person, a member of a group (or two), an outsider, an id a rule names."""

    id: str
    groups: tuple[str, ...]
    roles: frozenset[str]  # held on either side


@dataclass
class Dimension:
    """One attribute (or a few that move together) and the values to try for it."""

    name: str
    patches: list[Patch]
    reply_only: bool = False


@dataclass
class _Facts:
    """What a rule's conditions mention, collected over every version of the rule."""

    values: dict[str, list[ast.Literal]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    patterns: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    clocks: list[str] = field(default_factory=list)
    deadline: bool = False
    phrases: dict[str, list[str]] = field(default_factory=dict)  # `mentions any of` lists


# A phrase list can hold thousands of phrases; a few of them show whether the rule reacts.
PHRASES_TRIED = 3


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    yield expr
    if isinstance(expr, ast.Not):
        yield from _walk(expr.operand)
    elif isinstance(expr, ast.And | ast.Or):
        for operand in expr.operands:
            yield from _walk(operand)


def _facts(rules: Iterable[ast.Rule], lists: Mapping[str, ast.NamedList] | None = None) -> _Facts:
    facts = _Facts()
    for rule in rules:
        for expr in (*rule.when, *rule.unless):
            for node in _walk(expr):
                _collect(node, facts)
                _collect_list(node, facts, lists or {})
    return facts


def _collect_list(node: ast.Expr, facts: _Facts, lists: Mapping[str, ast.NamedList]) -> None:
    """A named list stands for its values (`in`) or a few of its phrases (`mentions any of`)."""
    if not isinstance(node, ast.InList | ast.Mentions) or node.list.value not in lists:
        return
    named = lists[node.list.value]
    if isinstance(node, ast.InList):
        facts.values.setdefault(node.path.dotted, []).extend(named.values)
    else:
        phrases = [str(v.value) for v in named.values[:PHRASES_TRIED]]
        facts.phrases.setdefault(node.path.dotted, []).extend(phrases)


def phrase_texts(phrase: str) -> list[str]:
    """Texts around a phrase of a list: it as written, in capitals, and inside a longer word."""
    return [f"We {phrase} it.", f"We {phrase.upper()} it.", f"We {phrase}s it."]


def _collect(node: ast.Expr, facts: _Facts) -> None:
    match node:
        case ast.Compare(path=path, value=value):
            facts.values.setdefault(path.dotted, []).append(value)
        case ast.Member(path=path, values=values):
            facts.values.setdefault(path.dotted, []).extend(values)
        case ast.HasLabel(path=path, label=label):
            owner = LABEL_OWNERS.get(path.dotted, path.dotted)
            facts.labels.setdefault(owner, []).append(str(label.value))
        case ast.Matches(path=path, pattern=pattern, ignore_case=ignore_case):
            facts.patterns.setdefault(path.dotted, []).append((pattern, ignore_case))
        case ast.Truthy(path=path):
            facts.flags.append(path.dotted)
        case ast.NowIn(name=name):
            facts.clocks.append(name.value)
        case ast.DeadlinePassed():
            facts.deadline = True


# ---- texts that match a pattern and texts that do not ----------------------------------------


def _parse_regex(pattern: str) -> Any:
    # The standard library's regex parser is the only one at hand that exposes a syntax tree;
    # RE2 syntax is close enough, and anything it cannot read falls back to literal words.
    parser: Any = importlib.import_module("re._parser")
    return parser.parse(pattern)


def _one_char(items: Sequence[tuple[Any, Any]]) -> str:
    """A character an `[...]` set accepts (a guess for negated sets; checked by RE2 later)."""
    for op, value in items:
        name = str(op)
        if name == "NEGATE":
            return "q"
        if name == "LITERAL":
            return chr(value)
        if name == "RANGE":
            return chr(value[0])
        if name == "CATEGORY":
            return _category_char(str(value))
    return "a"


def _category_char(category: str) -> str:
    if category.endswith(("NOT_DIGIT", "NOT_SPACE")):
        return "a"
    if category.endswith("NOT_WORD"):
        return " "
    if category.endswith("DIGIT"):
        return "1"
    if category.endswith("SPACE"):
        return " "
    return "a"


def _examples(tree: Any, limit: int = 4) -> list[str]:
    """Up to `limit` strings the parsed pattern matches: each alternative and optional part once."""
    options = [""]
    for op, value in tree:
        name = str(op)
        parts: list[str]
        if name == "LITERAL":
            parts = [chr(value)]
        elif name == "NOT_LITERAL":
            parts = ["a" if value != ord("a") else "b"]
        elif name == "ANY":
            parts = ["x"]
        elif name == "IN":
            parts = [_one_char(value)]
        elif name == "BRANCH":
            parts = [e for alternative in value[1] for e in _examples(alternative, limit)]
        elif name == "SUBPATTERN":
            parts = _examples(value[-1], limit)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, inner = value
            body = _examples(inner, limit)
            parts = [b * max(low, 1) for b in body]
            if low == 0:
                parts.append("")
        else:  # anchors, boundaries, look-arounds: they constrain, they add no text
            parts = [""]
        options = list(dict.fromkeys(o + p for o in options for p in parts))[:limit]
    return options


def pattern_texts(pattern: str, ignore_case: bool) -> list[str]:
    """Texts around a `matches` pattern: some match it, some just miss (case, a suffix, a prefix)."""
    try:
        words = [w for w in _examples(_parse_regex(pattern)) if w.strip()]
    except (re.error, ValueError, TypeError, IndexError, RecursionError):
        words = []  # an RE2-only construct: fall back to the literal words in the pattern
    if not words:
        words = re.findall(r"[A-Za-z]{3,}", pattern)[:3] or [pattern]
    texts = [NEUTRAL_TEXT]
    for word in words:
        texts += [
            f"We {word} it.",
            f"We {word.upper()} it.",
            f"We {word}s it.",
            f"We un{word} it.",
        ]
    compiled = re2.compile(("(?i)" if ignore_case else "") + pattern)
    matching = [t for t in texts if compiled.search(t) is not None]
    missing = [t for t in texts if compiled.search(t) is None]
    return list(dict.fromkeys([*matching[:4], *missing[:4]]))


# ---- numbers -----------------------------------------------------------------------------------


def _neighbours(value: float, integers: bool) -> list[int | float]:
    """The values just below, at and just above a threshold.

    For an integer attribute (author reach) the integers around it, never negative; for a free
    number (a context value) one step of the literal's last decimal either side.
    """
    if integers:
        low, high = math.floor(value), math.ceil(value)
        found = {low - 1, low, high, high + 1}
        return sorted(n for n in found if n >= 0)
    if isinstance(value, int):
        return [value - 1, value, value + 1]
    decimals = len(repr(value).partition(".")[2])
    step = 10.0**-decimals
    return [round(value - step, decimals), value, round(value + step, decimals)]


def _literal_variants(literals: Sequence[ast.Literal], integers: bool = False) -> list[Any]:
    """The values a comparison could turn on: each literal, numbers' neighbours, one unmentioned."""
    found: list[Any] = []
    for literal in literals:
        value = literal.value
        if literal.kind == "number" and isinstance(value, int | float):
            found += _neighbours(value, integers)
        elif literal.kind == "bool":
            found += [True, False]
        elif literal.kind in ("text", "symbol"):
            found.append(str(value))
    if any(lit.kind in ("text", "symbol") for lit in literals):
        found.append(UNMENTIONED)
    return list(dict.fromkeys(found))


def _tag(value: Any) -> str:
    return type(value).__name__


# ---- time --------------------------------------------------------------------------------------


@cache
def _transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """The instants (UTC) at which the zone's offset changes during `year`: daylight saving."""
    tz = ZoneInfo(zone)
    found = []
    day = date(year, 1, 1)
    previous = datetime.combine(day, time(12), tz).utcoffset()
    while day.year == year:
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), tz).utcoffset()
        if offset != previous:
            start = datetime.combine(day - timedelta(days=1), time(12), tz).astimezone(UTC)
            instant = start
            while instant.astimezone(tz).utcoffset() == previous:
                instant += timedelta(minutes=15)
            found.append(instant)
            previous = offset
    return tuple(found)


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone) + timedelta(minutes=minutes)


class _Universe:
    """What both sides declare, from which every rule's cases are built."""

    def __init__(self, base: Side, head: Side) -> None:
        self.sides = (base, head)
        self.named_lists = self._lists()
        symbols = [s.result.symbols for s in self.sides]
        self.calendars = [s.calendars() for s in symbols]
        self.periods = [s.periods() for s in symbols]
        self.zone = self._display_zone()
        self.years = self._years()
        self.base_day = self._base_day(min(self.years))
        self.tz = ZoneInfo(self.zone)
        self.base_at = datetime.combine(self.base_day, time(10), self.tz)
        self.rules = self._rule_versions()
        self.channels, self.undeclared_channel = self._channel_representatives()
        self.accounts = self._accounts()
        self.profiles, self.outsider = self._profiles()
        mentioned = self._mentioned("post.category")
        self.base_category = next((c for c in CATEGORY_PREFERENCE if c not in mentioned), "general")

    # ---- what both sides declare -------------------------------------------------------------
    def _display_zone(self) -> str:
        for calendars in reversed(self.calendars):
            for calendar in calendars.values():
                if calendar.zone is not None:
                    return calendar.zone.value
        return "UTC"

    def _years(self) -> list[int]:
        years: set[int] = set()
        for calendars in self.calendars:
            for calendar in calendars.values():
                years |= {d.year for d in calendar.closed}
        for periods in self.periods:
            for period in periods.values():
                for window in period.windows:
                    years |= {window.start[0].year, window.end[0].year}
        return sorted(years) or [datetime.now(UTC).year]

    def _closed_dates(self) -> set[date]:
        return {d for cals in self.calendars for c in cals.values() for d in c.closed}

    def _base_day(self, year: int) -> date:
        """A plain Wednesday, well away from daylight-saving changes and not a closed date."""
        day = date(year, 11, 11)
        day += timedelta(days=(2 - day.weekday()) % 7)
        closed = self._closed_dates()
        while day in closed:
            day += timedelta(days=7)
        return day

    def _lists(self) -> dict[str, ast.NamedList]:
        """Every named list of either side with the values of both, those on one side only first."""
        base, head = (side.result.symbols.lists.items for side in self.sides)
        found: dict[str, ast.NamedList] = {}
        for name in dict.fromkeys([*head, *base]):
            versions = [side[name].values for side in (head, base) if name in side]
            shared = set(versions[0]).intersection(*versions[1:])
            common = [v for v in versions[0] if v in shared]
            changed = [v for values in versions for v in values if v not in shared]
            kind = (head.get(name) or base[name]).kind
            found[name] = ast.NamedList(
                ast.Name(name), kind, tuple(dict.fromkeys(changed + common))
            )
        return found

    def _rule_versions(self) -> dict[str, list[ast.Rule]]:
        """Every rule name with its versions (HEAD's first); renamed twins join their old name."""
        versions: dict[str, list[ast.Rule]] = {}
        for side in reversed(self.sides):
            for name, rule in side.result.symbols.rules.items.items():
                found = versions.setdefault(name, [])
                if rule not in found:
                    found.append(rule)
        return versions

    def _mentioned(self, dotted: str) -> set[str]:
        found: set[str] = set()
        for rules in self.rules.values():
            found |= {str(v.value) for v in _facts(rules, self.named_lists).values.get(dotted, [])}
        return found

    def _channel_representatives(self) -> tuple[list[str], str]:
        """One channel for each class of channels that no rule or declaration tells apart."""
        declared = [s.policy.channels for s in self.sides]
        accounts = [s.policy.accounts for s in self.sides]
        mentioned = self._mentioned("channel")
        vias = [
            frozenset(c.value for c in rule.channels)
            for rules in self.rules.values()
            for rule in rules
            if rule.channels is not None
        ]
        names: list[str] = []
        for side in reversed(self.sides):
            names += [c for c in side.result.symbols.channels.names() if c not in names]
        classes: dict[tuple[Any, ...], str] = {}
        for channel in names:
            signature = (
                tuple(channel in d for d in declared),
                tuple(a.get(channel) for a in accounts),
                tuple(channel in via for via in vias),
                channel if channel in mentioned else None,
            )
            classes.setdefault(signature, channel)
        undeclared = "undeclared-channel"
        while undeclared in names:
            undeclared += "-x"
        return list(classes.values()), undeclared

    def _accounts(self) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for side in self.sides:
            for channel, handles in side.policy.accounts.items():
                found.setdefault(channel, set()).update(handles)
        return {c: sorted(h) for c, h in found.items()}

    def base_account(self, channel: str) -> str | None:
        """The account a channel's requests use by default: one declared on both sides if any."""
        handles = self.accounts.get(channel)
        if not handles:
            return None
        both = [
            h for h in handles if all(h in s.policy.accounts.get(channel, ()) for s in self.sides)
        ]
        return (both or handles)[0]

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
        for first, second in itertools.islice(itertools.combinations(groups, 2), 66):
            pair = (first, second)
            profiles.append(
                Profile(fresh(f"someone-in-{first}-and-{second}"), pair, self.roles_of("", pair))
            )
        outsider = Profile(fresh("outsider"), (), frozenset())
        profiles.append(outsider)
        return profiles, outsider

    def profile(self, actor: str) -> Profile:
        """The profile of an id a rule names: the person when it is one, else a bare id."""
        for profile in self.profiles:
            if profile.id == actor and not profile.groups:
                return profile
        return Profile(actor, (), self.roles_of(actor, ()))

    # ---- the base request --------------------------------------------------------------------
    def base_case(self, actor: Profile, action: str, channel: str) -> Case:
        """The plain request every variation starts from."""
        if action != "reply":
            return Case(
                actor.id, actor.groups, action, channel, self.base_account(channel), self.base_at
            )
        return Case(
            actor.id,
            actor.groups,
            action,
            channel,
            self.base_account(channel),
            self.base_at,
            sentiment=BASE_SENTIMENT,
            category=self.base_category,
            reach=BASE_REACH,
            received_at=self.base_at - REPLY_GAP,
        )

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
                case = case._replace(approvals=self._approvals(case, value))
        return case

    # ---- approvals ---------------------------------------------------------------------------
    def _approver(self, role: str, actor: str) -> Profile | None:
        holders = [p for p in self.profiles if p.id != actor and role in p.roles]
        both = [
            p for p in holders if all(role in s.policy.roles_of(p.id, p.groups) for s in self.sides)
        ]
        chosen = both or holders
        return chosen[0] if chosen else None

    def _approvals(self, case: Case, spec: tuple[Any, ...]) -> tuple[ApprovalItem, ...]:
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

    # ---- time ----------------------------------------------------------------------------------
    def _week(self) -> list[date]:
        monday = self.base_day - timedelta(days=self.base_day.weekday())
        return [monday + timedelta(days=n) for n in range(7)]

    def _dst_days(self, zone: str) -> tuple[list[date], list[datetime]]:
        """Weekdays just before and after each daylight-saving change, and the changes themselves."""
        days: list[date] = []
        changes: list[datetime] = []
        tz = ZoneInfo(zone)
        for year in self.years:
            for change in _transitions(zone, year):
                changes.append(change)
                local = change.astimezone(tz).date()
                before, after = local - timedelta(days=1), local + timedelta(days=1)
                while before.weekday() >= 5:
                    before -= timedelta(days=1)
                while after.weekday() >= 5:
                    after += timedelta(days=1)
                days += [before, after]
        return days, changes

    def calendar_instants(self, name: str) -> list[datetime]:
        """Each minute before and at every opening and closing of calendar or period `name`."""
        instants: list[datetime] = []
        versions = [c[name] for c in self.calendars if name in c]
        hours = [v for v in versions if not v.always and v.zone is not None]
        boundaries = sorted({m for v in hours for line in v.hours for r in line.ranges for m in r})
        for version in hours:
            zone = version.zone.value if version.zone is not None else "UTC"
            tz = ZoneInfo(zone)
            by_signature: dict[tuple[Any, ...], date] = {}
            for day in self._week():
                signature = tuple(
                    tuple(r for line in v.hours if day.weekday() in line.days for r in line.ranges)
                    for v in hours
                )
                by_signature.setdefault(signature, day)
            dst_days, changes = self._dst_days(zone)
            closed = sorted({d for v in hours for d in v.closed})
            for day in dict.fromkeys([*by_signature.values(), *closed, *dst_days]):
                for minute in boundaries:
                    instants += [_local(day, minute - 1, tz), _local(day, minute, tz)]
            for change in changes:
                instants += [change - MINUTE, change]
        for period in (p[name] for p in self.periods if name in p):
            tz = ZoneInfo(period.zone.value if period.zone else "UTC")
            for window in period.windows:
                for day, minute in (window.start, window.end):
                    edge = _local(day, minute, tz)
                    instants += [edge - MINUTE, edge]
        return list(dict.fromkeys(i.astimezone(self.tz) for i in instants))

    def _receipts(self, category: str) -> list[datetime]:
        """When a post of `category` arrives: mid-morning, before closing, a weekend, closed days, DST."""
        receipts = [self.base_at - REPLY_GAP]
        for side, calendars in zip(self.sides, self.calendars, strict=True):
            response = side.result.symbols.responses.items.get(category)
            if response is None or response.calendar is None:
                continue
            calendar = calendars.get(response.calendar.value)
            if calendar is None or calendar.always or calendar.zone is None:
                continue
            tz = ZoneInfo(calendar.zone.value)
            closings = sorted({end for line in calendar.hours for _, end in line.ranges})
            week = self._week()
            days = [self.base_day, week[4]]
            days += [d - timedelta(days=1) for d in calendar.closed] + list(calendar.closed)
            days += self._dst_days(calendar.zone.value)[0]
            for day in days:
                receipts += [_local(day, end - 30, tz) for end in closings]
            receipts += [_local(week[5], 12 * 60, tz), _local(self.base_day, 22 * 60, tz)]
        return list(dict.fromkeys(r.astimezone(self.tz) for r in receipts))

    def deadline_patches(self, categories: Iterable[str]) -> list[Patch]:
        """For each category, receipt times and `at` just before, at and after the deadline on each side."""
        patches: list[Patch] = []
        with_deadline = sorted({c for s in self.sides for c in s.policy.deadlines})
        for category in dict.fromkeys([*with_deadline, *categories]):
            for received in self._receipts(category):
                ats: set[datetime] = set()
                for side in self.sides:
                    deadline = side.policy.deadlines.get(category)
                    due = None if deadline is None else deadline.due(received)
                    if due is None:
                        ats.add(received + REPLY_GAP)
                    else:
                        due = due.astimezone(self.tz)
                        ats |= {due - MINUTE, due, due + MINUTE}
                patches += [
                    {"category": category, "received_at": received, "at": at} for at in sorted(ats)
                ]
        return patches

    # ---- a rule's dimensions -----------------------------------------------------------------
    def dimensions(self, rules: Sequence[ast.Rule]) -> list[Dimension]:
        """The attributes the rule's conditions mention, each with the values to try."""
        facts = _facts(rules, self.named_lists)
        dims: list[Dimension] = []
        for dotted, literals in facts.values.items():
            dims += self._value_dimension(dotted, literals)
        for owner, labels in facts.labels.items():
            dims.append(self._label_dimension(owner, labels))
        for dotted in dict.fromkeys([*facts.patterns, *facts.phrases]):
            field_name = TEXT_FIELDS.get(dotted)
            texts = [t for p, ic in facts.patterns.get(dotted, []) for t in pattern_texts(p, ic)]
            if dotted in facts.phrases:
                texts = [NEUTRAL_TEXT, *texts]
                texts += [t for phrase in facts.phrases[dotted] for t in phrase_texts(phrase)]
            if field_name is not None:
                dims.append(
                    Dimension(
                        dotted,
                        [{field_name: t} for t in dict.fromkeys(texts)],
                        dotted.startswith("post."),
                    )
                )
            elif dotted.startswith("context."):
                name = dotted.split(".", 1)[1]
                key = CONTEXT_KEY + name
                patches = [{key: (name, "str", t)} for t in dict.fromkeys(texts)]
                dims.append(Dimension(dotted, [{key: None}, *patches]))
        for dotted in dict.fromkeys(facts.flags):
            if dotted.startswith("context."):
                name = dotted.split(".", 1)[1]
                key = CONTEXT_KEY + name
                dims.append(
                    Dimension(
                        dotted,
                        [
                            {key: None},
                            {key: (name, "bool", True)},
                            {key: (name, "bool", False)},
                        ],
                    )
                )
        instants = [i for name in dict.fromkeys(facts.clocks) for i in self.calendar_instants(name)]
        if instants:
            dims.append(
                Dimension(
                    "now",
                    [{"at": i, "received_at": i - REPLY_GAP} for i in dict.fromkeys(instants)],
                )
            )
        if facts.deadline:
            categories = [str(v) for v in _literal_variants(facts.values.get("post.category", []))]
            dims = [d for d in dims if d.name != "post.category"]
            dims.append(Dimension("deadline", self.deadline_patches(categories), reply_only=True))
        required = sorted(
            {
                r.value
                for rule in rules
                if rule.effect.kind == "approval_required"
                for r in rule.effect.roles
            }
        )
        if required:
            specs: list[tuple[Any, ...]] = [(), ("self",)]
            specs += [("valid", r) for r in required] + [("without", r) for r in required]
            if len(required) > 1:
                specs.append(("all", tuple(required)))
            counts = {
                r.value: rule.effect.count
                for rule in rules
                if rule.effect.kind == "approval_required"
                for r in rule.effect.roles
                if rule.effect.count > 1
            }
            specs += [("several", role, n) for role, n in sorted(counts.items())]
            dims.append(Dimension("approvals", [{"approvals": s} for s in specs]))
        return dims

    def _value_dimension(self, dotted: str, literals: list[ast.Literal]) -> list[Dimension]:
        if dotted in ("action", "channel", "actor.id"):
            return []  # actions, channels and named actors are enumerated, not patched
        if dotted == "post.sentiment":
            return [Dimension(dotted, [{"sentiment": s} for s in sorted(SENTIMENTS)], True)]
        variants = _literal_variants(literals)
        if dotted == "post.category":
            values = list(dict.fromkeys([*variants, self.base_category]))
            return [Dimension(dotted, [{"category": c} for c in values], True)]
        if dotted == "post.author_reach":
            values = list(dict.fromkeys([BASE_REACH, *_literal_variants(literals, True)]))
            return [Dimension(dotted, [{"reach": n} for n in values if isinstance(n, int)], True)]
        if dotted == "post.age":
            ages: set[timedelta] = set()
            for literal in literals:
                if isinstance(literal.value, timedelta):
                    step = MINUTE if literal.value >= 2 * MINUTE else timedelta(seconds=1)
                    ages |= {literal.value - step, literal.value, literal.value + step}
            ages.add(REPLY_GAP)
            return [
                Dimension(
                    dotted,
                    [{"at": self.base_at, "received_at": self.base_at - a} for a in sorted(ages)],
                    True,
                )
            ]
        if dotted == "account":
            return [Dimension(dotted, [{"account": a} for a in [*variants, None]])]
        if dotted in ("post.id", "post.text", "content.text"):
            field_name = TEXT_FIELDS[dotted]
            texts: list[Any] = [str(v) for v in variants]
            if dotted == "post.text":
                texts.append(None)
            return [Dimension(dotted, [{field_name: t} for t in texts], dotted != "content.text")]
        if dotted.startswith("context."):
            name = dotted.split(".", 1)[1]
            key = CONTEXT_KEY + name
            patches: list[Patch] = [{key: None}]
            patches += [{key: (name, _tag(v), v)} for v in variants]
            return [Dimension(dotted, patches)]
        return []

    def _label_dimension(self, owner: str, labels: list[str]) -> Dimension:
        unique = list(dict.fromkeys(labels))
        sets: list[tuple[str, ...]] = [(), *((label,) for label in unique)]
        if len(unique) > 1:
            sets.append(tuple(sorted(unique)))
        if owner == "actor.groups":
            return Dimension(owner, [{}] + [{"+groups": label} for label in unique])
        key = "post_labels" if owner == "post.labels" else "content_labels"
        return Dimension(owner, [{key: s} for s in sets], owner == "post.labels")

    # ---- the cases of one rule ---------------------------------------------------------------
    def targeted(self, rules: Sequence[ast.Rule]) -> list[Profile]:
        """The actors a rule (any version) can apply to, plus the ids its conditions name."""
        if any(rule.roles is None for rule in rules):
            actors = list(self.profiles)
        else:
            roles = {r.value for rule in rules for r in rule.roles or ()}
            actors = [p for p in self.profiles if p.roles & roles]
        named = [
            str(v)
            for v in _literal_variants(_facts(rules, self.named_lists).values.get("actor.id", []))
        ]
        known = {p.id for p in actors}
        return actors + [self.profile(n) for n in named if n not in known]

    def rule_cases(self, rules: Sequence[ast.Rule]) -> Iterator[Case]:
        """Every case of one rule: its actors, actions and channels, times its attribute values."""
        actors = self.targeted(rules)
        if not actors:
            return
        actions = sorted(
            ACTIONS
            if any(r.actions is None for r in rules)
            else {a.value for r in rules for a in r.actions or ()}
        )
        if any(r.channels is None for r in rules):
            channels = self.channels
        else:
            named = {c.value for r in rules for c in r.channels or ()}
            channels = [c for c in self.channels if c in named]
        dims = self.dimensions(rules)
        for action in actions:
            usable = [d for d in dims if action == "reply" or not d.reply_only]
            combinations = _combinations(
                usable, MAX_CASES_PER_RULE // (len(actors) * len(channels) or 1)
            )
            prepared = [_prepare(patch, action == "reply") for patch in combinations]
            for channel in channels:
                for actor in actors:
                    base = self.base_case(actor, action, channel)
                    for plain, special in prepared:
                        yield self.apply(base, plain, special)

    def baseline(self) -> Iterator[Case]:
        """Each actor, action and channel with nothing varied; and each channel's accounts."""
        for actor in self.profiles:
            for action in sorted(ACTIONS):
                for channel in [*self.channels, self.undeclared_channel]:
                    base = self.base_case(actor, action, channel)
                    yield base
                    if channel in self.accounts:
                        for account in [*self.accounts[channel], None, "@undeclared-account"]:
                            yield base._replace(account=account)


def _prepare(patch: Patch, reply: bool) -> tuple[Patch, list[tuple[str, Any]]]:
    """A combination split into plain field values and the ones that depend on the case."""
    plain: Patch = {}
    special: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith("+") or key == "approvals":
            special.append((key, value))
        elif reply or key != "received_at":  # a new post answers no post: it has no receipt time
            plain[key] = value
    return plain, special


def _combinations(dims: Sequence[Dimension], limit: int) -> list[Patch]:
    """Every combination of the dimensions' values, or beyond `limit`, each alone and in pairs."""
    size = 1
    for dim in dims:
        size *= max(1, len(dim.patches))
    if size <= limit:
        return [
            {k: v for patch in combo for k, v in patch.items()}
            for combo in itertools.product(*(d.patches or [{}] for d in dims))
        ]
    found: list[Patch] = [{}]
    for dim in dims:
        found += dim.patches
    for first, second in itertools.combinations(dims, 2):
        found += [{**a, **b} for a in first.patches for b in second.patches]
    return found


def generate_space(base: Side, head: Side) -> Space:
    """The deduplicated request space of the two sides, in a stable order."""
    universe = _Universe(base, head)
    seen: dict[Case, None] = dict.fromkeys(universe.baseline())
    for rules in universe.rules.values():
        seen.update(dict.fromkeys(universe.rule_cases(rules)))
    return Space(list(seen), universe.zone, len(universe.rules))


def describe(case: Case, zone: str) -> Mapping[str, str]:
    """The attributes a reader needs to recognise a case, in reading order."""
    tz = ZoneInfo(zone)

    def when(value: datetime) -> str:
        return value.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %z")

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
    if case.content_text != NEUTRAL_TEXT:
        shown["text"] = case.content_text
    for name, _, value in case.context:
        shown[f"context.{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    if case.approvals:
        shown["approved by"] = ", ".join(by for by, _ in case.approvals)
    shown["at"] = when(case.at)
    return shown
