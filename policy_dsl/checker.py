"""The checker: names resolve, types agree, calendars make sense, rules can match.

`check(files)` runs an ordered list of passes over the collected namespace and returns every
diagnostic at once (errors and lint warnings), so an author fixes a policy set in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from replygate.policy_dsl import ast
from replygate.policy_dsl.patterns import PatternError, compile_pattern
from replygate.policy_dsl.schema import ACTIONS, LABEL_OWNERS, Attribute, Kind, known_paths, lookup
from replygate.policy_dsl.source import Diagnostic, Severity, Span
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


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _unknown(kind: str, name: ast.Name, candidates: Iterable[str]) -> Diagnostic:
    return Diagnostic(
        f"unknown-{kind.replace(' ', '-')}",
        f"unknown {kind} '{name.value}'",
        name.span,
        help=_suggest(name.value, candidates),
    )


def _warn(code: str, message: str, span: Span, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.WARNING, help)


# ---- roles -------------------------------------------------------------------------------------


def role_closure(symbols: Symbols) -> dict[str, frozenset[str]]:
    """For each role, itself and every role it inherits, directly or transitively."""
    closure: dict[str, frozenset[str]] = {}

    def visit(name: str, seen: frozenset[str]) -> frozenset[str]:
        if name in closure:
            return closure[name]
        role = symbols.roles.items.get(name)
        found = {name}
        if role is not None:
            for parent in role.extends:
                if parent.value in symbols.roles and parent.value not in seen:
                    found |= visit(parent.value, seen | {name})
        result = frozenset(found)
        closure[name] = result
        return result

    for name in symbols.roles.names():
        visit(name, frozenset())
    return closure


def _check_roles(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    roles = symbols.roles
    for role in roles.items.values():
        for parent in role.extends:
            if parent.value not in roles:
                yield _unknown("role", parent, roles.names())
        if role.unit is not None and role.unit.value not in symbols.units:
            yield _unknown("unit", role.unit, symbols.units.names())
    yield from _cycles(symbols)


def _cycles(symbols: Symbols) -> Iterator[Diagnostic]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def walk(name: str, trail: list[str]) -> Iterator[Diagnostic]:
        state[name] = 1
        for parent in symbols.roles[name].extends:
            if parent.value not in symbols.roles:
                continue
            if state.get(parent.value) == 1:
                loop = [*trail[trail.index(parent.value) :], parent.value]
                yield Diagnostic(
                    "inheritance-cycle",
                    "role inheritance cycle: " + " -> ".join(loop),
                    parent.span,
                    help="a role cannot inherit itself; remove one 'extends'",
                )
            elif parent.value not in state:
                yield from walk(parent.value, [*trail, parent.value])
        state[name] = 2

    for name in symbols.roles.names():
        if name not in state:
            yield from walk(name, [name])


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
                yield _unknown("role", role, symbols.roles.names())


def _check_channels(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for account in symbols.accounts.items.values():
        if account.channel.value not in symbols.channels:
            yield _unknown("channel", account.channel, symbols.channels.names())


# ---- time --------------------------------------------------------------------------------------


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
        ZoneInfo(name.value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        yield Diagnostic(
            "unknown-zone",
            f"unknown time zone '{name.value}'",
            name.span,
            help="use an IANA name such as Europe/Vienna or UTC",
        )


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
        for window in period.windows:
            if window.end <= window.start:
                yield Diagnostic(
                    "empty-window", "a period window must end after it starts", window.span
                )
    for response in symbols.responses.items.values():
        used = response.calendar
        if used is not None and used.value not in symbols.calendars():
            yield _unknown("calendar", used, symbols.calendars())


# ---- rules -------------------------------------------------------------------------------------


def _check_rules(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    for rule in symbols.rules.items.values():
        for role in [*rule.effect.roles, *(rule.roles or ())]:
            if role.value not in symbols.roles:
                yield _unknown("role", role, symbols.roles.names())
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
                yield _unknown("channel", channel, symbols.channels.names())
        if rule.message is None:
            yield _warn(
                "missing-message",
                f"rule '{rule.name}' has no message",
                rule.name.span,
                help='say in words why, e.g. message "…"',
            )
        for condition in (*rule.when, *rule.unless):
            yield from _check_expr(condition, symbols)


def _walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    yield expr
    if isinstance(expr, ast.Not):
        yield from _walk(expr.operand)
    elif isinstance(expr, ast.And | ast.Or):
        for operand in expr.operands:
            yield from _walk(operand)


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
            f"comparing a number ('{path.dotted}') with {value.kind} {shown}",
            value.span,
        )
    elif kind is Kind.DURATION and value.kind != "duration":
        yield Diagnostic(
            "type-mismatch",
            f"'{path.dotted}' is a duration; compare it with e.g. 2h, not {shown}",
            value.span,
        )
    elif kind is Kind.BOOL and value.kind != "bool":
        yield Diagnostic(
            "type-mismatch", f"'{path.dotted}' is true or false, not {shown}", value.span
        )
    elif kind in (Kind.TEXT, Kind.SYMBOL):
        if value.kind not in ("text", "symbol"):
            yield Diagnostic(
                "type-mismatch",
                f"comparing a string ('{path.dotted}') with {value.kind} {shown}",
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
            if allowed is not None and str(value.value) not in allowed:
                yield Diagnostic(
                    "unknown-value",
                    f"'{path.dotted}' is never {shown}",
                    value.span,
                    help=_suggest(str(value.value), allowed)
                    or "allowed: " + ", ".join(sorted(allowed)),
                )


def _check_expr(expr: ast.Expr, symbols: Symbols) -> Iterator[Diagnostic]:
    for node in _walk(expr):
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
                    yield _unknown("role", role, symbols.roles.names())
            case ast.ActorInUnit(unit=unit):
                if unit.value not in symbols.units:
                    yield _unknown("unit", unit, symbols.units.names())
            case ast.NowIn(name=name):
                if name.value not in symbols.times:
                    yield _unknown("calendar or period", name, symbols.times.names())


def _check_pattern(node: ast.Matches, pattern: str, ignore_case: bool) -> Iterator[Diagnostic]:
    try:
        compile_pattern(pattern, ignore_case)
    except PatternError as exc:
        yield Diagnostic(
            "bad-pattern",
            f"invalid pattern /{pattern}/: {exc}",
            node.span,
            help="patterns use RE2 syntax (no backreferences or lookaround)",
        )


# ---- lints ------------------------------------------------------------------------------------


def conjuncts(rule: ast.Rule) -> list[ast.Expr]:
    """The rule's condition as a flat list of facts that must all hold (`unless X` is `not X`)."""
    found: list[ast.Expr] = []

    def add(expr: ast.Expr) -> None:
        if isinstance(expr, ast.And):
            for operand in expr.operands:
                add(operand)
        else:
            found.append(expr)

    for expr in rule.when:
        add(expr)
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
            for node in _walk(fact):
                paths = [getattr(node, "path", None)]
                if any(p is not None and p.parts[0] == "post" for p in paths) and not isinstance(
                    fact, ast.Not | ast.Or
                ):
                    return "the rule applies only to 'post', which has no post to reply to"
                if isinstance(node, ast.DeadlinePassed) and fact is node:
                    return "the rule applies only to 'post', which has no response deadline"
    return None


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


def _lint_rules(symbols: Symbols, closure: dict[str, frozenset[str]]) -> Iterator[Diagnostic]:
    rules = list(symbols.rules.items.values())
    denies = [r for r in rules if r.effect.kind == "deny"]
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
        for deny in denies:
            deny_facts = conjuncts(deny)
            if _covers(deny, rule, closure) and all(fact in facts for fact in deny_facts):
                yield _warn(
                    "shadowed",
                    f"rule '{rule.name}' never takes effect: the broader deny '{deny.name}' ({deny.name.span}) always matches first",
                    rule.name.span,
                    help="narrow the deny, or remove this rule",
                )
                break


# ---- driver ------------------------------------------------------------------------------------

Pass = Callable[[Symbols, dict[str, frozenset[str]]], Iterator[Diagnostic]]

PASSES: tuple[Pass, ...] = (
    _check_roles,
    _check_assignments,
    _check_channels,
    _check_times,
    _check_rules,
)


def check(files: Iterable[ast.PolicyFile]) -> CheckResult:
    """Run every pass over a policy set; diagnostics come sorted by file and position."""
    problems: list[Diagnostic] = []
    symbols = collect(files, problems)
    closure = role_closure(symbols)
    for check_pass in PASSES:
        problems.extend(check_pass(symbols, closure))
    if not any(p.severity is Severity.ERROR for p in problems):
        # Lints on a policy that does not even check would mostly repeat its errors.
        problems.extend(_lint_rules(symbols, closure))
    problems.sort(key=lambda d: (d.span.file, d.span.line, d.span.column))
    return CheckResult(symbols, closure, problems)
