"""The checker: names resolve, types agree, calendars make sense, rules can match.

`check(files)` runs an ordered list of passes over the collected namespace and returns every
diagnostic at once (errors and lint warnings), so an author fixes a policy set in one go.
"""

from __future__ import annotations

import difflib
import functools
import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from replygate.policy_dsl import ast
from replygate.policy_dsl.clock import instant
from replygate.policy_dsl.durations import format_duration
from replygate.policy_dsl.limits import (
    MAX_INHERITANCE_DEPTH,
    MAX_NAME_LENGTH,
    MAX_SUGGESTION_CANDIDATES,
    MAX_ZONE_LENGTH,
    MIN_ROTATION_SECONDS,
)
from replygate.policy_dsl.patterns import PatternError, compile_phrases, pattern_cost
from replygate.policy_dsl.schema import ACTIONS, LABEL_OWNERS, Attribute, Kind, known_paths, lookup
from replygate.policy_dsl.source import UNKNOWN_SPAN, Diagnostic, Severity, Span
from replygate.policy_dsl.symbols import Symbols, collect


@dataclass
class CheckResult:
    """The namespace of a policy set, the role closure, and everything found wrong with it."""

    symbols: Symbols
    closure: dict[str, frozenset[str]]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def _suggest(word: str, candidates: Collection[str]) -> str | None:
    if len(candidates) > MAX_SUGGESTION_CANDIDATES or len(word) > MAX_NAME_LENGTH:
        return None  # comparing with every candidate would make reporting quadratic
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _unknown(kind: str, name: ast.Name, candidates: Collection[str]) -> Diagnostic:
    return Diagnostic(
        f"unknown-{kind.replace(' ', '-')}",
        f"unknown {kind} '{name.value}'",
        name.span,
        help=_suggest(name.value, candidates),
    )


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _warn(code: str, message: str, span: Span, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.WARNING, help)


# ---- roles -------------------------------------------------------------------------------------


@dataclass
class _Inheritance:
    """One depth-first pass over `extends`, without recursion (a chain may be long)."""

    order: list[str]  # every role, each after the roles it inherits (cycles aside)
    depth: dict[str, int]  # `extends` steps to the farthest ancestor
    cycles: list[Diagnostic]


def _parents(symbols: Symbols, name: str) -> list[ast.Name]:
    return [p for p in symbols.roles[name].extends if p.value in symbols.roles]


def _inheritance(symbols: Symbols) -> _Inheritance:
    order: list[str] = []
    depth: dict[str, int] = {}
    cycles: list[Diagnostic] = []
    on_path: set[str] = set()
    for root in symbols.roles.names():
        if root in depth:
            continue
        stack = [(root, iter(_parents(symbols, root)))]
        on_path.add(root)
        while stack:
            name, parents = stack[-1]
            for parent in parents:
                if parent.value in on_path:
                    trail = [n for n, _ in stack]
                    loop = [*trail[trail.index(parent.value) :], parent.value]
                    cycles.append(
                        Diagnostic(
                            "inheritance-cycle",
                            "role inheritance cycle: " + " -> ".join(loop),
                            parent.span,
                            help="a role cannot inherit itself; remove one 'extends'",
                        )
                    )
                elif parent.value not in depth:
                    on_path.add(parent.value)
                    stack.append((parent.value, iter(_parents(symbols, parent.value))))
                    break
            else:
                stack.pop()
                on_path.discard(name)
                done = [depth[p.value] for p in _parents(symbols, name) if p.value in depth]
                depth[name] = 1 + max(done) if done else 0
                order.append(name)
    return _Inheritance(order, depth, cycles)


def role_closure(symbols: Symbols) -> dict[str, frozenset[str]]:
    """For each role, itself and every role it inherits, directly or transitively.

    Built in one pass, parents first. A role past the inheritance limit is an error
    (`inheritance-too-deep`) and gets only itself, so a 10,000-level chain costs no
    quadratic closure.
    """
    closure: dict[str, frozenset[str]] = {}
    inheritance = _inheritance(symbols)
    for name in inheritance.order:
        found = {name}
        if inheritance.depth[name] <= MAX_INHERITANCE_DEPTH + 1:
            for parent in _parents(symbols, name):
                found |= closure.get(parent.value, frozenset())
        closure[name] = frozenset(found)
    return closure


def _check_roles(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    roles = symbols.roles
    for role in roles.items.values():
        for parent in role.extends:
            if parent.value not in roles:
                yield _unknown("role", parent, roles.items)
        if role.unit is not None and role.unit.value not in symbols.units:
            yield _unknown("unit", role.unit, symbols.units.items)
    inheritance = _inheritance(symbols)
    yield from inheritance.cycles
    yield from _too_deep(symbols, inheritance.depth)


def _too_deep(symbols: Symbols, depth: dict[str, int]) -> Iterator[Diagnostic]:
    """One diagnostic where a chain of `extends` first passes the limit."""
    for name in symbols.roles.names():
        if depth.get(name) != MAX_INHERITANCE_DEPTH + 1:
            continue
        parent = next(
            p for p in _parents(symbols, name) if depth.get(p.value) == MAX_INHERITANCE_DEPTH
        )
        yield Diagnostic(
            "inheritance-too-deep",
            f"role '{name}' inherits through more than {MAX_INHERITANCE_DEPTH:,} levels of "
            "'extends'",
            parent.span,
            help="flatten the role hierarchy",
        )


def _check_assignments(
    symbols: Symbols, closure: dict[str, frozenset[str]]
) -> Iterator[Diagnostic]:
    holders: list[ast.Person | ast.Group] = [
        *symbols.people.items.values(),
        *symbols.groups.items.values(),
    ]
    for holder in holders:
        for role in holder.roles:
            if role.value not in symbols.roles:
                yield _unknown("role", role, symbols.roles.items)


def _check_channels(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for account in symbols.accounts.items.values():
        if account.channel.value not in symbols.channels:
            yield _unknown("channel", account.channel, symbols.channels.items)


# ---- time --------------------------------------------------------------------------------------


@functools.cache
def iana_zones() -> frozenset[str]:
    """The IANA zone names of the bundled tzdata, the only zones a policy may name.

    `zoneinfo` also finds files of the host's zoneinfo folder that are not IANA zones —
    `localtime` (the host's own zone), `posixrules`, `Factory` — with which a decision would
    depend on the machine that makes it.
    """
    try:
        listed = resources.files("tzdata").joinpath("zones").read_text("utf-8").split()
    except (ModuleNotFoundError, OSError):  # pragma: no cover - tzdata is a dependency
        listed = sorted(available_timezones())
    return frozenset(listed) - _NOT_IANA_ZONES


_NOT_IANA_ZONES = frozenset({"Factory", "localtime", "posixrules", "posix", "right"})


def _window_in_utc(window: ast.Window, zone: ast.Name | None) -> Iterator[Diagnostic]:
    """A window whose ends, read in its zone, fall outside years 1-9999 in UTC cannot be compiled.

    A zone the checker refuses is reported on its own; this only speaks about known zones.
    """
    for point in (window.start, window.end):
        if problem := _local_time_in_utc(point, zone, window.span):
            yield problem
            return


def _local_time_in_utc(
    point: tuple[date, int], zone: ast.Name | None, span: Span
) -> Diagnostic | None:
    """`window-out-of-range` when a local date and time (a window's end, a rotation's start)
    lies outside the years 1-9999 read in UTC; None for a zone the checker refuses anyway."""
    name = "UTC" if zone is None else zone.value
    if name not in iana_zones():
        return None
    day, minutes = point
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60)
    try:
        local.replace(tzinfo=ZoneInfo(name)).astimezone(UTC)
    except OverflowError:
        return Diagnostic(
            "window-out-of-range",
            f"{day} {minutes // 60:02}:{minutes % 60:02} in {name} lies outside the years "
            "1 to 9999 in UTC",
            span,
            help="windows and rotations must begin and end between 0001-01-01 and 9999-12-31 "
            "in UTC",
        )
    return None


def _zone(name: ast.Name | None, owner: ast.Name, kind: str) -> Iterator[Diagnostic]:
    if name is None:
        yield Diagnostic(
            "missing-zone",
            f"{kind} '{owner.value}' has no time zone",
            owner.span,
            help='add e.g. zone "Europe/Vienna"',
        )
        return
    try:
        if len(name.value) > MAX_ZONE_LENGTH:  # longer than any zone, and than a file name
            raise ZoneInfoNotFoundError(name.value)
        if name.value not in iana_zones():  # `localtime`, `posixrules`: the host's, not IANA's
            raise ZoneInfoNotFoundError(name.value)
        ZoneInfo(name.value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        yield Diagnostic(
            "unknown-zone",
            f"unknown time zone '{_shortened(name.value)}'",
            name.span,
            help="use an IANA name such as Europe/Vienna or UTC",
        )


def _ends_first_in_real_time(window: ast.Window, zone: ZoneInfo | None) -> bool:
    if zone is None:
        return False
    try:
        return instant(window.end, zone) <= instant(window.start, zone)
    except OverflowError:  # beyond what UTC can hold: reported as out of range elsewhere
        return False


def _known_zone(name: ast.Name | None) -> ZoneInfo | None:
    """The zone `_zone` accepts, or None (it reports why)."""
    if name is None or len(name.value) > MAX_ZONE_LENGTH or name.value not in iana_zones():
        return None
    try:
        return ZoneInfo(name.value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _check_times(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for calendar in symbols.calendars().values():
        if calendar.always:
            if calendar.hours or calendar.closed:
                yield Diagnostic(
                    "calendar-always",
                    f"calendar '{calendar.name}' is open always and cannot also have hours or closed dates",
                    calendar.name.span,
                )
            if calendar.zone is not None:
                yield from _zone(calendar.zone, calendar.name, "calendar")
            continue
        yield from _zone(calendar.zone, calendar.name, "calendar")
        if not calendar.hours:
            yield Diagnostic(
                "never-open",
                f"calendar '{calendar.name}' is never open",
                calendar.name.span,
                help="add 'open mon-fri 08:00-18:00' or 'open always'",
            )
        seen = set()
        for day in calendar.closed:
            if day in seen:
                yield _warn(
                    "duplicate-date",
                    f"{day} is closed twice in calendar '{calendar.name}'",
                    calendar.name.span,
                )
            seen.add(day)
    for period in symbols.periods().values():
        yield from _zone(period.zone, period.name, "period")
        if not period.windows:
            yield Diagnostic(
                "empty-period",
                f"period '{period.name}' has no 'from … until …' window",
                period.name.span,
            )
        zone = _known_zone(period.zone)
        for window in period.windows:
            if window.end <= window.start or _ends_first_in_real_time(window, zone):
                # In real time: `02:30 until 03:00` on a spring-forward day starts at 03:30.
                yield Diagnostic(
                    "empty-window", "a period window must end after it starts", window.span
                )
            else:
                yield from _window_in_utc(window, period.zone)
    for response in symbols.responses.items.values():
        used = response.calendar
        if used is not None and used.value not in symbols.calendars():
            yield _unknown("calendar", used, symbols.calendars())


# ---- rules -------------------------------------------------------------------------------------


def _check_rules(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for rule in symbols.rules.definitions():
        for role in [*rule.effect.roles, *(rule.roles or ())]:
            if role.value not in symbols.roles:
                yield _unknown("role", role, symbols.roles.items)
        for action in rule.actions or ():
            if action.value not in ACTIONS:
                yield Diagnostic(
                    "unknown-action",
                    f"unknown action '{action.value}'",
                    action.span,
                    help=_suggest(action.value, ACTIONS) or "actions are reply and post",
                )
        for channel in rule.channels or ():
            if channel.value not in symbols.channels:
                yield _unknown("channel", channel, symbols.channels.items)
        if rule.message is None:
            yield _warn(
                "missing-message",
                f"rule '{rule.name}' has no message",
                rule.name.span,
                help='say in words why, e.g. message "…"',
            )
        for condition in (*rule.when, *rule.unless):
            yield from _check_expr(condition, symbols)


def _attribute(path: ast.Path) -> tuple[Attribute | None, Diagnostic | None]:
    attribute = lookup(path.dotted)
    if attribute is None:
        return None, Diagnostic(
            "unknown-attribute",
            f"unknown attribute '{path.dotted}'",
            path.span,
            help=_suggest(path.dotted, known_paths()),
        )
    return attribute, None


def _literal_words(value: ast.Literal) -> str:
    """A literal as the policy spells it, with its kind: `the duration 10m`, `the word urgent`."""
    if value.kind == "duration" and isinstance(value.value, timedelta):
        return f"the duration {format_duration(value.value)}"
    if value.kind == "bool":
        return f"the boolean {'true' if value.value else 'false'}"
    if value.kind == "text":
        return f'the text "{value.value}"'
    if value.kind == "symbol":
        return f"the word {value.value}"
    return f"the {value.kind} {value.value}"


def _check_value(
    path: ast.Path, attribute: Attribute, op: str, value: ast.Literal, symbols: Symbols
) -> Iterator[Diagnostic]:
    kind = attribute.kind
    if kind is Kind.ANY:
        return
    shown = f"'{value.value}'" if value.kind in ("text", "symbol") else str(value.value)
    if kind is Kind.LABELS:
        yield Diagnostic(
            "type-mismatch",
            f"'{path.dotted}' is a set of labels",
            path.span,
            help=f"write '{path.parts[0]} has label …'",
        )
        return
    if kind is Kind.NUMBER and value.kind != "number":
        yield Diagnostic(
            "type-mismatch",
            f"comparing a number ('{path.dotted}') with {_literal_words(value)}",
            value.span,
        )
    elif kind is Kind.DURATION and value.kind != "duration":
        yield Diagnostic(
            "type-mismatch",
            f"'{path.dotted}' is a duration; compare it with e.g. 2h, not {_literal_words(value)}",
            value.span,
        )
    elif kind is Kind.BOOL and value.kind != "bool":
        yield Diagnostic(
            "type-mismatch",
            f"'{path.dotted}' is true or false, not {_literal_words(value)}",
            value.span,
        )
    elif kind in (Kind.TEXT, Kind.SYMBOL):
        if value.kind not in ("text", "symbol"):
            yield Diagnostic(
                "type-mismatch",
                f"comparing a string ('{path.dotted}') with {_literal_words(value)}",
                value.span,
            )
        elif op in ("<", "<=", ">", ">="):
            yield Diagnostic(
                "type-mismatch",
                f"'{op}' compares numbers, but '{path.dotted}' is text",
                value.span,
                help="use == or 'in [...]'",
            )
        else:
            allowed = symbols.channels.names() if path.dotted == "channel" else attribute.values
            if path.dotted == "post.category" and symbols.categories.items:
                allowed = symbols.categories.names()
            if allowed is not None and str(value.value) not in allowed:
                listed = "allowed: " + ", ".join(sorted(allowed)) if len(allowed) <= 50 else None
                yield Diagnostic(
                    "unknown-value",
                    f"'{path.dotted}' is never {shown}",
                    value.span,
                    help=_suggest(str(value.value), allowed) or listed,
                )


def _check_expr(expr: ast.Expr, symbols: Symbols) -> Iterator[Diagnostic]:
    for node in ast.walk(expr):
        match node:
            case ast.Compare(path=path, op=op, value=value):
                attribute, problem = _attribute(path)
                if problem:
                    yield problem
                elif attribute is not None:
                    yield from _check_value(path, attribute, op, value, symbols)
            case ast.Member(path=path, values=values):
                attribute, problem = _attribute(path)
                if problem:
                    yield problem
                elif attribute is not None:
                    for value in values:
                        yield from _check_value(path, attribute, "==", value, symbols)
            case ast.HasLabel(path=path):
                owner = LABEL_OWNERS.get(path.dotted, path.dotted)
                attribute = lookup(owner)
                if attribute is None or attribute.kind not in (Kind.LABELS, Kind.ANY):
                    yield Diagnostic(
                        "type-mismatch",
                        f"'{path.dotted}' has no labels",
                        path.span,
                        help="labels live on content, post and actor (groups)",
                    )
                else:
                    yield from _check_declared_label(owner, node.label, symbols)
            case ast.Matches(path=path, pattern=pattern, ignore_case=ignore_case):
                attribute, problem = _attribute(path)
                if problem:
                    yield problem
                elif attribute is not None and attribute.kind not in (Kind.TEXT, Kind.ANY):
                    yield Diagnostic(
                        "type-mismatch",
                        f"'matches' needs text, but '{path.dotted}' is {attribute.kind.value}",
                        path.span,
                    )
                yield from _check_pattern(node, pattern, ignore_case)
            case ast.Truthy(path=path):
                attribute, problem = _attribute(path)
                if problem:
                    yield problem
                elif attribute is not None and attribute.kind not in (Kind.BOOL, Kind.ANY):
                    yield Diagnostic(
                        "type-mismatch",
                        f"'{path.dotted}' is not a yes/no flag",
                        path.span,
                        help=f"compare it, e.g. '{path.dotted} == …'",
                    )
            case ast.ActorIs(role=role):
                if role.value not in symbols.roles:
                    yield _unknown("role", role, symbols.roles.items)
            case ast.ActorInUnit(unit=unit):
                if unit.value not in symbols.units:
                    yield _unknown("unit", unit, symbols.units.items)
            case ast.NowIn(name=name):
                if name.value not in symbols.times:
                    yield _unknown("calendar or period", name, symbols.times.names())
            case ast.InList() | ast.Mentions():
                yield from _check_list_use(node, symbols)


def _check_pattern(node: ast.Matches, pattern: str, ignore_case: bool) -> Iterator[Diagnostic]:
    try:
        too_costly = pattern_cost(pattern, ignore_case)
    except PatternError as exc:
        yield Diagnostic(
            "bad-pattern",
            f"invalid pattern /{pattern}/: {exc}",
            node.span,
            help="patterns use RE2 syntax (no backreferences or lookaround)",
        )
        return
    if too_costly is not None:
        yield Diagnostic(
            "pattern-too-costly",
            too_costly,
            node.pattern_span if node.pattern_span is not UNKNOWN_SPAN else node.span,
            help="use shorter counts ({1,50}, not {1000}), + or *; "
            "put long lists of words in a list and test 'mentions any of'",
        )


# ---- lints ------------------------------------------------------------------------------------


def conjuncts(rule: ast.Rule) -> list[ast.Expr]:
    """The rule's condition as a flat list of facts that must all hold (`unless X` is `not X`)."""
    found: list[ast.Expr] = []
    for expr in rule.when:
        found.extend(ast.flatten(expr, ast.And))
    for expr in rule.unless:
        found.append(_negate(expr))
    return found


def _negate(expr: ast.Expr) -> ast.Expr:
    if isinstance(expr, ast.Not):
        return expr.operand
    if isinstance(expr, ast.ActorIs):
        return ast.ActorIs(expr.role, not expr.negated, expr.span)
    if isinstance(expr, ast.Member):
        return ast.Member(expr.path, expr.values, not expr.negated, expr.span)
    return ast.Not(expr, expr.span)


_NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def _contradiction(
    rule: ast.Rule, symbols: Symbols, closure: dict[str, frozenset[str]]
) -> str | None:
    """Why the rule's conditions can never all hold, or None. Sound, not complete."""
    facts = conjuncts(rule)
    allowed: dict[str, set[object]] = {}
    excluded: dict[str, set[object]] = {}
    low: dict[str, tuple[float, bool]] = {}
    high: dict[str, tuple[float, bool]] = {}
    required_roles: set[str] = set()
    forbidden_roles: set[str] = set()
    if rule.actions is not None:
        allowed["action"] = {a.value for a in rule.actions}
    if rule.channels is not None:
        allowed["channel"] = {c.value for c in rule.channels}
    held_by_target = None
    if rule.roles is not None:
        held_by_target = [closure.get(r.value, frozenset({r.value})) for r in rule.roles]
    no_role = False
    for fact in facts:
        match fact:
            case (
                ast.Compare(path=path, op="==", value=value)
                | ast.Member(path=path, values=(value,), negated=False)
            ):
                single: set[object] = {value.value}
                current = allowed.get(path.dotted)
                allowed[path.dotted] = single if current is None else current & single
            case ast.Member(path=path, values=values, negated=False):
                current = allowed.get(path.dotted)
                choices: set[object] = {v.value for v in values}
                allowed[path.dotted] = choices if current is None else current & choices
            case ast.Compare(path=path, op="!=", value=value):
                excluded.setdefault(path.dotted, set()).add(value.value)
            case ast.Member(path=path, values=values, negated=True):
                excluded.setdefault(path.dotted, set()).update(v.value for v in values)
            case ast.Compare(path=path, op=op, value=ast.Literal(value=number, kind="number")) if (
                op in ("<", "<=", ">", ">=")
            ):
                bound = (float(number), op in ("<=", ">="))  # type: ignore[arg-type]
                table = high if op in ("<", "<=") else low
                previous = table.get(path.dotted)
                tighter = previous is None or (
                    bound[0] < previous[0] if table is high else bound[0] > previous[0]
                )
                if tighter:
                    table[path.dotted] = bound
            case ast.ActorIs(role=role, negated=False):
                required_roles.add(role.value)
            case ast.ActorIs(role=role, negated=True):
                forbidden_roles.add(role.value)
            case ast.ActorHasNoRole():
                no_role = True
    for dotted, options in allowed.items():
        if not (options - excluded.get(dotted, set())):
            return f"'{dotted}' cannot take any value the rule allows"
    for dotted in low.keys() & high.keys():
        (lo, lo_inclusive), (hi, hi_inclusive) = low[dotted], high[dotted]
        if lo > hi or (lo == hi and not (lo_inclusive and hi_inclusive)):
            return f"no value of '{dotted}' is both above {lo:g} and below {hi:g}"
    if required_roles & forbidden_roles:
        return (
            f"the actor cannot both be and not be '{sorted(required_roles & forbidden_roles)[0]}'"
        )
    if (
        held_by_target is not None
        and forbidden_roles
        and all(forbidden_roles & held for held in held_by_target)
    ):
        return f"every actor the rule targets holds '{sorted(forbidden_roles)[0]}', which the condition excludes"
    if no_role and (required_roles or rule.roles is not None):
        return "an actor with no role cannot hold the roles the rule requires"
    actions = allowed.get("action")
    if actions is not None and actions <= {"post"}:
        for fact in facts:
            if _false_without_post(fact):
                return "the rule applies only to 'post', which has no post to reply to"
            if isinstance(fact, ast.DeadlinePassed):
                return "the rule applies only to 'post', which has no response deadline"
    return None


def _false_without_post(fact: ast.Expr) -> bool:
    """Whether a condition is false for a new post, which answers no post: a `post.*` test
    equals nothing there, so `!=` and `not in` are true (README) and the others are false."""
    path = getattr(fact, "path", None)
    if not (isinstance(path, ast.Path) and path.parts[0] == "post"):
        return False  # `not …` and `… or …` may hold without a post
    match fact:
        case ast.Compare(op="!=") | ast.Member(negated=True) | ast.InList(negated=True):
            return False
    return True


def _covers(deny: ast.Rule, rule: ast.Rule, closure: dict[str, frozenset[str]]) -> bool:
    """True when every request `rule` targets is also targeted by `deny` (ignoring conditions)."""
    if deny.actions is not None and (
        rule.actions is None
        or not {a.value for a in rule.actions} <= {a.value for a in deny.actions}
    ):
        return False
    if deny.channels is not None and (
        rule.channels is None
        or not {c.value for c in rule.channels} <= {c.value for c in deny.channels}
    ):
        return False
    if deny.roles is None:
        return True
    if rule.roles is None:
        return False
    deny_roles = {r.value for r in deny.roles}
    return all(deny_roles & closure.get(r.value, frozenset({r.value})) for r in rule.roles)


class _Denies:
    """The deny rules, each filed under one thing a rule must share to be shadowed by it.

    Comparing every rule with every deny is quadratic; a deny can only shadow a rule that has
    all of the deny's facts, its channels and its actions, so each deny is filed under its
    rarest fact (or else its channels, or else its actions) and a rule looks up only its own.
    """

    def __init__(self, denies: list[ast.Rule]) -> None:
        self.facts = [conjuncts(d) for d in denies]
        self.denies = denies
        counts: dict[ast.Expr, int] = {}
        for facts in self.facts:
            for fact in facts:
                counts[fact] = counts.get(fact, 0) + 1
        self.filed: dict[tuple[str, object], list[int]] = {}
        self.everywhere: list[int] = []
        for number, (deny, facts) in enumerate(zip(denies, self.facts, strict=True)):
            if facts:
                keys: list[tuple[str, object]] = [("fact", min(facts, key=counts.__getitem__))]
            elif deny.channels is not None:
                keys = [("channel", c.value) for c in deny.channels]
            elif deny.actions is not None:
                keys = [("action", a.value) for a in deny.actions]
            else:
                self.everywhere.append(number)
                continue
            for key in keys:
                self.filed.setdefault(key, []).append(number)

    def candidates(
        self, rule: ast.Rule, facts: list[ast.Expr]
    ) -> Iterator[tuple[ast.Rule, list[ast.Expr]]]:
        """The denies that may shadow `rule`, in source order."""
        keys: list[tuple[str, object]] = [("fact", f) for f in facts]
        if rule.channels:
            keys.append(("channel", rule.channels[0].value))
        if rule.actions:
            keys.append(("action", rule.actions[0].value))
        found = set(self.everywhere)
        for key in keys:
            found.update(self.filed.get(key, ()))
        for number in sorted(found):
            yield self.denies[number], self.facts[number]


def _lint_rules(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    rules = list(symbols.rules.items.values())
    denies = _Denies([r for r in rules if r.effect.kind == "deny"])
    for rule in rules:
        reason = _contradiction(rule, symbols, closure)
        if reason is not None:
            yield _warn(
                "never-matches", f"rule '{rule.name}' can never match: {reason}", rule.name.span
            )
            continue
        if rule.effect.kind == "deny":
            continue
        facts = conjuncts(rule)
        held = set(facts)
        for deny, deny_facts in denies.candidates(rule, facts):
            if _covers(deny, rule, closure) and all(fact in held for fact in deny_facts):
                yield _warn(
                    "shadowed",
                    f"rule '{rule.name}' never takes effect: the broader deny '{deny.name}' ({deny.name.span}) always matches first",
                    rule.name.span,
                    help="narrow the deny, or remove this rule",
                )
                break


# ---- named lists, declared categories and labels (issue 13) -------------------------------------

# The label sets that declared labels constrain; actor groups are directory data, never declared.
DECLARED_LABEL_SETS = frozenset({"content.labels", "post.labels"})


def _undeclared(kind: str, value: str, span: Span, declared: list[str]) -> Diagnostic:
    return Diagnostic(
        "unknown-value",
        f"{kind} '{value}' is not declared",
        span,
        help=_suggest(value, declared)
        or f"declared {'categories' if kind == 'category' else kind + 's'}: "
        + ", ".join(sorted(declared)),
    )


def _check_declared_label(owner: str, label: ast.Literal, symbols: Symbols) -> Iterator[Diagnostic]:
    declared = symbols.labels.names()
    if declared and owner in DECLARED_LABEL_SETS and str(label.value) not in symbols.labels:
        yield _undeclared("label", str(label.value), label.span, declared)


def _check_list_use(node: ast.InList | ast.Mentions, symbols: Symbols) -> Iterator[Diagnostic]:
    """The list exists, is of the kind the condition needs, and fits the attribute it tests."""
    attribute, problem = _attribute(node.path)
    if problem:
        yield problem
    named = symbols.lists.items.get(node.list.value)
    if named is None:
        yield _unknown("list", node.list, symbols.lists.names())
        return
    if isinstance(node, ast.Mentions):
        if named.kind != "text":
            yield Diagnostic(
                "wrong-list-kind",
                f"list '{named.name}' holds values, not phrases to look for in text",
                node.list.span,
                help=f'declare phrases in quotes, e.g. list {named.name} "…", "…"',
            )
        elif attribute is not None and attribute.kind not in (Kind.TEXT, Kind.ANY):
            yield Diagnostic(
                "type-mismatch",
                f"'mentions' needs text, but '{node.path.dotted}' is {attribute.kind.value}",
                node.path.span,
            )
        return
    if named.kind != "symbol":
        yield Diagnostic(
            "wrong-list-kind",
            f"list '{named.name}' holds phrases to look for in text, not values",
            node.list.span,
            help=f"use it as '… mentions any of {named.name}', or declare the values "
            f"in brackets: list {named.name} [a, b]",
        )
        return
    if attribute is not None:
        seen: set[str] = set()
        for value in named.values:
            # Point at the use: the same list may be fine for one attribute and wrong for another.
            used = ast.Literal(value.value, value.kind, node.list.span)
            for problem in _check_value(node.path, attribute, "==", used, symbols):
                if problem.message not in seen:  # `content.labels in xs`: once, not per value
                    seen.add(problem.message)
                    yield problem


def _check_declarations(
    symbols: Symbols, closure: dict[str, frozenset[str]]
) -> Iterator[Diagnostic]:
    """Text lists compile; response-time rules name declared categories (if any are declared)."""
    for named in symbols.lists.items.values():
        if named.kind == "text":
            try:
                compile_phrases(str(v.value) for v in named.values)
            except PatternError as exc:
                yield Diagnostic(
                    "bad-list",
                    f"list '{named.name}': {exc}",
                    named.name.span,
                    help="split it into several lists",
                )
    declared = symbols.categories.names()
    if not declared:
        return
    for response in symbols.responses.items.values():
        if response.category.value not in symbols.categories:
            yield _undeclared("category", response.category.value, response.category.span, declared)


# ---- stale messages ------------------------------------------------------------------------------

# A time (08:00, 18:00:30) or a date (2026-12-24, 24.12.2026, 12/24/2026) is cut out first.
_TIME_OR_DATE = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2})?|\d{4}-\d{2}-\d{2}(?:T[\d:.+Z-]*)?|\d{1,2}[./]\d{1,2}[./]\d{2,4}"
)
# Thousands separated by a comma, a space (plain, no-break, thin or narrow no-break, as French or
# German text writes "10 000") or an apostrophe (Swiss "10'000"), the same one throughout.
_NUMERAL = re.compile(
    r"(?<![\w.,])"
    r"(?P<whole>\d{1,3}(?P<sep>[, \u00a0\u2009\u202f'\u2019])\d{3}(?:(?P=sep)\d{3})*(?!\d)|\d+)"
    r"(?P<fraction>\.\d+)?(?P<k>[kK])?(?![\w])"
)
_SEPARATORS = re.compile("[, \u00a0\u2009\u202f'\u2019]")
LINT_IGNORE = re.compile(r"#\s*lint-ignore:\s*(?P<codes>[\w-]+(?:\s*,\s*[\w-]+)*)")


def stated_numbers(message: str) -> list[tuple[str, float]]:
    """The numbers a message states: 3+ digits, thousands separators or a `k` (10k)."""
    text = _TIME_OR_DATE.sub(" ", message)
    found = []
    for match in _NUMERAL.finditer(text):
        whole, separator, fraction, k = match.group("whole", "sep", "fraction", "k")
        if len(whole) < 3 and not separator and not k:
            continue
        value = float(_SEPARATORS.sub("", whole) + (fraction or ""))
        found.append((match.group(0), value * 1000 if k else value))
    return found


def _compared_numbers(rule: ast.Rule, symbols: Symbols) -> set[float]:
    numbers: set[float] = set()
    for expr in (*rule.when, *rule.unless):
        for node in ast.walk(expr):
            values: tuple[ast.Literal, ...] = ()
            if isinstance(node, ast.Compare):
                values = (node.value,)
            elif isinstance(node, ast.Member):
                values = node.values
            elif isinstance(node, ast.InList) and node.list.value in symbols.lists:
                values = symbols.lists[node.list.value].values
            numbers.update(
                float(v.value)  # type: ignore[arg-type]
                for v in values
                if v.kind == "number"
            )
    return numbers


def _lint_messages(symbols: Symbols, silenced: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """A message that states a number no condition of its rule compares with is likely stale."""
    for rule in symbols.rules.items.values():
        if rule.message is None or "stale-message" in silenced.get(rule.name.value, set()):
            continue
        compared = _compared_numbers(rule, symbols)
        for text, value in stated_numbers(rule.message):
            if value not in compared:
                shown = ", ".join(_plain(n) for n in sorted(compared)) or "no number"
                yield _warn(
                    "stale-message",
                    f"rule '{rule.name}' says {text} in its message, but its conditions "
                    f"compare with {shown}",
                    rule.name.span,
                    help="update the message, or put '# lint-ignore: stale-message' in the rule",
                )
                break


def _plain(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def _silenced(files: list[ast.PolicyFile], symbols: Symbols) -> dict[str, set[str]]:
    """Codes silenced per rule by a `# lint-ignore: code, …` comment inside the rule, or in the
    comment lines directly above it: `fmt` moves a comment written inside a header that spans
    lines (`rule # lint-ignore: …` then the name) above the rule, and the warning came back."""
    by_file: dict[str, list[tuple[int, set[str]]]] = {}
    # Per file, the lines of comments that stand outside every declaration, with their codes.
    loose: dict[str, dict[int, set[str]]] = {}
    for policy_file in files:
        covered = [(d.span.line, d.span.end_line) for d in policy_file.declarations]
        starts = [first for first, _ in covered]
        outside = loose.setdefault(policy_file.path, {})
        for line, _, text in policy_file.comments:
            match = LINT_IGNORE.search(text)
            codes = {c.strip() for c in match.group("codes").split(",")} if match else set()
            if codes:
                by_file.setdefault(policy_file.path, []).append((line, codes))
            index = bisect_right(starts, line) - 1
            if index < 0 or covered[index][1] < line:
                outside[line] = codes
    silenced: dict[str, set[str]] = {}
    for name, rule in symbols.rules.items.items():
        span = rule.span
        for line, codes in by_file.get(span.file, ()):
            if span.line <= line <= span.end_line:
                silenced.setdefault(name, set()).update(codes)
        above, line = loose.get(span.file, {}), span.line - 1
        while line in above:
            if above[line]:
                silenced.setdefault(name, set()).update(above[line])
            line -= 1
    return silenced


# ---- rosters, holidays, response-time conditions, on duty, share -----------------------------


def _countries() -> dict[str, list[str]]:
    import holidays  # the maintained list of public holidays by country

    return dict(holidays.list_supported_countries())


def _check_holidays(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for calendar in symbols.calendars().values():
        if calendar.always and (calendar.holidays or calendar.closed_every):
            yield Diagnostic(
                "calendar-always",
                f"calendar '{calendar.name}' is open always and cannot also have holidays",
                calendar.name.span,
            )
        for code in calendar.holidays:
            yield from _holiday_country(code)


def _holiday_country(code: ast.Name) -> Iterator[Diagnostic]:
    countries = _countries()
    country, _, subdivision = code.value.partition("-")
    if country not in countries:
        yield Diagnostic(
            "unknown-country",
            f"no public holidays are known for country '{country}'",
            code.span,
            help=_suggest(country.upper(), countries)
            or "use an ISO 3166 country code such as AT, DE or US",
        )
    elif subdivision and subdivision not in countries[country]:
        known = countries[country]
        yield Diagnostic(
            "unknown-subdivision",
            f"'{country}' has no subdivision '{subdivision}'",
            code.span,
            help=_suggest(subdivision, known) or "subdivisions: " + ", ".join(known[:20]),
        )


def _roster_zone(roster: ast.Roster, symbols: Symbols) -> ast.Name | None:
    """The roster's own zone, else its calendar's."""
    if roster.zone is not None:
        return roster.zone
    calendar = symbols.calendars().get(roster.calendar.value) if roster.calendar else None
    return None if calendar is None else calendar.zone


def _check_rosters(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    calendars = symbols.calendars()
    for roster in symbols.rosters.items.values():
        seen: set[str] = set()
        for member in roster.members:
            if member.value not in symbols.people:
                yield _unknown("person", member, symbols.people.names())
            elif member.value in seen:
                yield _warn(
                    "duplicate-member",
                    f"'{member.value}' is listed twice in roster '{roster.name}'",
                    member.span,
                )
            seen.add(member.value)
        if not roster.members:
            yield Diagnostic(
                "empty-roster",
                f"roster '{roster.name}' has no members",
                roster.name.span,
                help="add e.g. 'members alice, bob'",
            )
        if roster.calendar is not None and roster.calendar.value not in calendars:
            yield _unknown("calendar", roster.calendar, calendars)
        if roster.calendar is not None and roster.hours:
            yield Diagnostic(
                "roster-hours",
                f"roster '{roster.name}' has both a calendar and its own 'open' lines",
                roster.hours[0].span,
                help="use 'during CALENDAR' or 'open …' lines, not both",
            )
        if roster.calendar is None and not roster.hours:
            yield Diagnostic(
                "never-on-duty",
                f"roster '{roster.name}' is never on duty",
                roster.name.span,
                help="add 'during office' or lines such as 'open mon-fri 18:00-22:00'",
            )
        if roster.calendar is None or roster.calendar.value in calendars:
            zone = _roster_zone(roster, symbols)
            calendar = calendars.get(roster.calendar.value) if roster.calendar else None
            # An `always` calendar needs no zone for its hours, but a rotation's hand-over and
            # an override are local times: without a zone they were silently read as UTC.
            local_times = bool(roster.rotations or roster.overrides)
            if zone is None and (local_times or not (calendar is not None and calendar.always)):
                yield Diagnostic(
                    "missing-zone",
                    f"roster '{roster.name}' has no time zone (neither its calendar's nor its own)",
                    roster.name.span,
                    help='add e.g. zone "Europe/Vienna"',
                )
            elif zone is not None:
                yield from _zone(zone, roster.name, "roster")
        yield from _check_rotations(roster, _roster_zone(roster, symbols))
        for override in roster.overrides:
            if override.person.value not in symbols.people:
                yield _unknown("person", override.person, symbols.people.names())
            if override.window.end <= override.window.start:
                yield Diagnostic(
                    "empty-window", "an override must end after it starts", override.window.span
                )
            elif problem := next(
                _window_in_utc(override.window, _roster_zone(roster, symbols)), None
            ):
                yield problem
            elif not _may_overlap(roster, override.window, symbols):
                yield _warn(
                    "override-off-duty",
                    f"this override in roster '{roster.name}' lies entirely outside its on-duty hours",
                    override.span,
                    help="an override replaces who is on duty; it does not add hours",
                )
    yield from _lint_members(symbols, closure)


def _check_rotations(roster: ast.Roster, zone: ast.Name | None) -> Iterator[Diagnostic]:
    for extra in roster.rotations[1:]:
        yield Diagnostic(
            "duplicate-rotation",
            f"roster '{roster.name}' has more than one rotation",
            extra.span,
            help="a roster has one rotation; split it into two rosters",
        )
    for rotation in roster.rotations:
        length = rotation.days * 86400 + rotation.seconds
        if length == 0:
            yield Diagnostic(
                "empty-rotation",
                "a rotation needs a length greater than 0",
                rotation.span,
                help="write e.g. 'rotate every 1w from 2026-11-30 08:00'",
            )
        elif length < MIN_ROTATION_SECONDS:
            yield Diagnostic(
                "rotation-too-short",
                f"a turn of a rotation lasts at least {MIN_ROTATION_SECONDS // 3600}h",
                rotation.span,
                help="rotate by shift, day or week, e.g. 'rotate every 8h from 2026-11-30 06:00'",
            )
        if problem := _local_time_in_utc(rotation.anchor, zone, rotation.span):
            yield problem


def _may_overlap(roster: ast.Roster, window: ast.Window, symbols: Symbols) -> bool:
    """Whether a window (local wall time) meets the roster's weekly hours on some date.

    A lint, so wall-clock minutes are compared and holidays ignored; windows longer than a week
    always meet hours that exist at all.
    """
    hours: tuple[ast.OpenHours, ...] = roster.hours
    if roster.calendar is not None:
        calendar = symbols.calendars().get(roster.calendar.value)
        if calendar is None or calendar.always:
            return True
        hours = calendar.hours
    start = window.start[0].toordinal() * 1440 + window.start[1]
    end = window.end[0].toordinal() * 1440 + window.end[1]
    if end - start > 8 * 1440:
        return bool(hours)
    for ordinal in range(window.start[0].toordinal() - 1, window.end[0].toordinal() + 1):
        weekday = (ordinal - 1) % 7  # date.fromordinal(1) is a Monday
        for line in hours:
            if weekday not in line.days:
                continue
            for begin, close in line.ranges:
                finish = close if close > begin else close + 1440
                if ordinal * 1440 + begin < end and ordinal * 1440 + finish > start:
                    return True
    return False


def _named_roles(symbols: Symbols) -> set[str]:
    """Every role a rule names in `by`, `escalate to`, `require approval from` or `actor is`."""
    named: set[str] = set()
    for rule in symbols.rules.items.values():
        named.update(r.value for r in (*rule.effect.roles, *(rule.roles or ())))
        for condition in (*rule.when, *rule.unless):
            for node in ast.walk(condition):
                if isinstance(node, ast.ActorIs):
                    named.add(node.role.value)
    return named


def _lint_members(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    named = _named_roles(symbols)
    for roster in symbols.rosters.items.values():
        for member in roster.members:
            person = symbols.people.items.get(member.value)
            if person is None:
                continue
            held: set[str] = set()
            for role in person.roles:
                held |= closure.get(role.value, frozenset({role.value}))
            if not held & named:
                yield _warn(
                    "member-without-authority",
                    f"'{member.value}' in roster '{roster.name}' holds none of the roles the rules name",
                    member.span,
                    help="being on duty lets nobody answer a post without a role that a rule names",
                )


# Conditions of a response time may ask about the post, the channel and the request context: a
# deadline belongs to the post, not to whoever answers it or when they do.
_NOT_FOR_RESPONSE_TIMES = (
    ast.ActorIs,
    ast.ActorHasNoRole,
    ast.ActorInUnit,
    ast.ActorOnDuty,
    ast.DeadlinePassed,
    ast.NowIn,
)


def _check_response_conditions(
    symbols: Symbols, closure: dict[str, frozenset[str]]
) -> Iterator[Diagnostic]:
    for response in symbols.response_rules:
        if response.channels is None and not response.when:
            continue
        if response.calendar is not None and response.calendar.value not in symbols.calendars():
            yield _unknown("calendar", response.calendar, symbols.calendars())
        for channel in response.channels or ():
            if channel.value not in symbols.channels:
                yield _unknown("channel", channel, symbols.channels.names())
        for condition in response.when:
            yield from _check_expr(condition, symbols)
            yield from _post_only(condition)


def _post_only(condition: ast.Expr) -> Iterator[Diagnostic]:
    for node in ast.walk(condition):
        path = getattr(node, "path", None)
        actor_path = isinstance(path, ast.Path) and path.parts[0] in ("actor", "content")
        if isinstance(path, ast.Path) and path.dotted == "post.age":
            # The age grows with the time of the check: the deadline would move after the fact
            # (30m at 10:01, then 5m, already missed, at 11:01).
            yield Diagnostic(
                "response-time-condition",
                "post.age depends on when the reply is checked, so a response time cannot test "
                "it: the deadline would move after the fact",
                getattr(node, "span", condition.span),
                help="test post.*, channel, account or context.* here (not post.age)",
            )
        elif isinstance(node, _NOT_FOR_RESPONSE_TIMES) or actor_path:
            yield Diagnostic(
                "response-time-condition",
                "a response time depends on the post, the channel and the context only",
                getattr(node, "span", condition.span),
                help="test post.*, channel, account or context.* here",
            )


def _check_shares(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    declared = symbols.categories.names()
    for share in symbols.shares:
        for unit in share.units:
            if unit.value not in symbols.units:
                yield _unknown("unit", unit, symbols.units.names())
        # As for response times: a misspelt category would share nothing, unnoticed.
        for category in share.categories if declared else ():
            if category.value not in symbols.categories:
                yield _undeclared("category", category.value, category.span, declared)
        if share.when is not None:
            yield from _check_expr(share.when, symbols)
            yield from _post_only(share.when)


def _check_on_duty(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for rule in symbols.rules.definitions():
        for condition in (*rule.when, *rule.unless):
            for node in ast.walk(condition):
                roster = node.roster if isinstance(node, ast.ActorOnDuty) else None
                if roster is not None and roster.value not in symbols.rosters:
                    yield _unknown("roster", roster, symbols.rosters.names())


# ---- driver ------------------------------------------------------------------------------------

Pass = Callable[[Symbols, dict[str, frozenset[str]]], Iterator[Diagnostic]]

PASSES: tuple[Pass, ...] = (
    _check_roles,
    _check_assignments,
    _check_channels,
    _check_times,
    _check_rules,
    _check_declarations,
    _check_holidays,
    _check_rosters,
    _check_response_conditions,
    _check_shares,
    _check_on_duty,
)


def check(files: Iterable[ast.PolicyFile]) -> CheckResult:
    """Run every pass over a policy set; diagnostics come sorted by file and position."""
    problems: list[Diagnostic] = []
    files = list(files)
    symbols = collect(files, problems)
    closure = role_closure(symbols)
    for check_pass in PASSES:
        problems.extend(check_pass(symbols, closure))
    if not any(p.severity is Severity.ERROR for p in problems):
        # Lints on a policy that does not even check would mostly repeat its errors.
        problems.extend(_lint_rules(symbols, closure))
        problems.extend(_lint_messages(symbols, _silenced(files, symbols)))
    problems.sort(key=lambda d: (d.span.file, d.span.line, d.span.column))
    return CheckResult(symbols, closure, problems)
