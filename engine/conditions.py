"""Lowering conditions to Python closures: the evaluator never walks a syntax tree.

Every condition becomes a function of the evaluation context. A missing attribute (a `post.*`
test on a new post, an absent `context` flag) equals nothing: `==`, `<`, `in`, `has label` and
`matches` are false, `!=` and `not in` are true, exactly as `not (x == y)` would be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from replygate.policy_dsl import ast
from replygate.policy_dsl.patterns import compile_pattern, compile_phrases
from replygate.policy_dsl.schema import LABEL_OWNERS

if TYPE_CHECKING:
    from replygate.engine.models import CheckRequest


class Clock(Protocol):
    """A calendar or a period: something a request time lies inside or not."""

    def is_open(self, at: datetime) -> bool: ...


class Context(Protocol):
    """What a condition may ask about the request being decided."""

    request: CheckRequest
    roles: frozenset[str]

    def deadline_passed(self) -> bool: ...

    def on_duty(self, roster: str | None) -> bool: ...


Test = Callable[[Context], bool]
Getter = Callable[["CheckRequest"], Any]


class _Missing:
    """The value of an attribute the request does not carry."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _post_field(name: str) -> Getter:
    def get(request: CheckRequest) -> Any:
        post = request.post
        return MISSING if post is None else getattr(post, name)

    return get


def _post_age(request: CheckRequest) -> Any:
    post = request.post
    return MISSING if post is None else request.at - post.received_at


def _context_flag(name: str) -> Getter:
    def get(request: CheckRequest) -> Any:
        return request.context.get(name, MISSING)

    return get


GETTERS: dict[str, Getter] = {
    "action": lambda r: r.action,
    "channel": lambda r: r.channel,
    "account": lambda r: MISSING if r.account is None else r.account,
    "actor.id": lambda r: r.actor.id,
    "actor.groups": lambda r: r.actor.groups,
    "post.id": _post_field("id"),
    "post.sentiment": _post_field("sentiment"),
    "post.category": _post_field("category"),
    "post.author_reach": _post_field("author_reach"),
    "post.labels": _post_field("labels"),
    "post.text": _post_field("text"),
    "post.age": _post_age,
    "content.labels": lambda r: r.content.labels,
    "content.text": lambda r: MISSING if r.content.text is None else r.content.text,
}


def getter(path: ast.Path) -> Getter:
    """How to read an attribute from a request (the checker guarantees the path exists)."""
    dotted = path.dotted
    if path.parts[0] == "context" and len(path.parts) == 2:
        return _context_flag(path.parts[1])
    return GETTERS[dotted]


def _same(value: Any, literal: Any) -> bool:
    # JSON true is not 1, and "1" is not 1: a policy engine must not coerce.
    if isinstance(literal, bool) or isinstance(value, bool):
        return value is literal
    if isinstance(literal, int | float) and not isinstance(value, int | float):
        return False
    return bool(value == literal)


def _ordered(value: Any, literal: Any) -> bool:
    # `true` is an int to Python, but not a number to a policy: `context.x > false` is false.
    if isinstance(value, bool) or isinstance(literal, bool) or value is MISSING:
        return False
    return isinstance(value, int | float) == isinstance(literal, int | float) and isinstance(
        value, int | float | timedelta
    )


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _compare(node: ast.Compare) -> Test:
    get = getter(node.path)
    literal = node.value.value
    if node.op == "==":
        if isinstance(literal, str):
            return lambda ctx: get(ctx.request) == literal
        return lambda ctx: _same(get(ctx.request), literal)
    if node.op == "!=":
        if isinstance(literal, str):
            return lambda ctx: get(ctx.request) != literal
        return lambda ctx: not _same(get(ctx.request), literal)
    order = _ORDER[node.op]

    def test(ctx: Context) -> bool:
        value = get(ctx.request)
        return _ordered(value, literal) and order(value, literal)

    return test


def _member(node: ast.Member) -> Test:
    get = getter(node.path)
    values = [v.value for v in node.values]
    if all(isinstance(v, str) for v in values):
        options = frozenset(values)
        if node.negated:
            return lambda ctx: get(ctx.request) not in options
        return lambda ctx: get(ctx.request) in options

    def test(ctx: Context) -> bool:
        value = get(ctx.request)
        return any(_same(value, v) for v in values) != node.negated

    return test


def _has_label(node: ast.HasLabel) -> Test:
    owner = LABEL_OWNERS.get(node.path.dotted)
    get = GETTERS[owner] if owner else getter(node.path)
    label = node.label.value

    def test(ctx: Context) -> bool:
        labels = get(ctx.request)
        return labels is not MISSING and isinstance(labels, list) and label in labels

    return test


def _matches(node: ast.Matches) -> Test:
    get = getter(node.path)
    search = compile_pattern(node.pattern, node.ignore_case).search
    # Most replies are checked against patterns with empty fields; answer those without a call into RE2.
    matches_empty = search("") is not None

    def test(ctx: Context) -> bool:
        text = get(ctx.request)
        if not isinstance(text, str):
            return False
        return matches_empty if not text else search(text) is not None

    return test


@dataclass(frozen=True, slots=True)
class NamedValues:
    """A named list ready for conditions: its values, and for a text list its one RE2 search."""

    values: tuple[ast.Literal, ...]
    search: Callable[[str], Any] | None = None


def named_values(named: ast.NamedList) -> NamedValues:
    """Compile a list once per policy: a text list becomes one pattern over all its phrases."""
    if named.kind != "text":
        return NamedValues(named.values)
    return NamedValues(named.values, compile_phrases(str(v.value) for v in named.values).Match)


def _in_list(node: ast.InList, lists: Mapping[str, NamedValues]) -> Test:
    return _member(ast.Member(node.path, lists[node.list.value].values, node.negated, node.span))


def _mentions(node: ast.Mentions, lists: Mapping[str, NamedValues]) -> Test:
    get = getter(node.path)
    search = lists[node.list.value].search
    if search is None:  # pragma: no cover - the checker lets only text lists in here
        raise TypeError(f"list '{node.list.value}' holds no phrases")

    def test(ctx: Context) -> bool:
        text = get(ctx.request)
        return isinstance(text, str) and bool(text) and search(text) is not None

    return test


def lower(
    expr: ast.Expr,
    clocks: dict[str, Clock],
    units: dict[str, frozenset[str]],
    lists: Mapping[str, NamedValues] | None = None,
) -> Test:
    """Compile one checked condition into a closure over the evaluation context."""
    lists = lists or {}
    match expr:
        case ast.Compare():
            return _compare(expr)
        case ast.Member():
            return _member(expr)
        case ast.HasLabel():
            return _has_label(expr)
        case ast.Matches():
            return _matches(expr)
        case ast.Truthy(path=path):
            get = getter(path)
            return lambda ctx: get(ctx.request) is True
        case ast.ActorIs(role=role, negated=negated):
            name = role.value
            if negated:
                return lambda ctx: name not in ctx.roles
            return lambda ctx: name in ctx.roles
        case ast.ActorHasNoRole():
            return lambda ctx: not ctx.roles
        case ast.ActorInUnit(unit=unit):
            members = units.get(unit.value, frozenset())
            return lambda ctx: not members.isdisjoint(ctx.roles)
        case ast.NowIn(name=name):
            is_open = clocks[name.value].is_open
            return lambda ctx: is_open(ctx.request.at)
        case ast.DeadlinePassed():
            return lambda ctx: ctx.deadline_passed()
        case ast.InList():
            return _in_list(expr, lists)
        case ast.Mentions():
            return _mentions(expr, lists)
        case ast.ActorOnDuty(roster=roster):
            roster_name = None if roster is None else roster.value
            return lambda ctx: ctx.on_duty(roster_name)
        case ast.Not(operand=operand):
            inner = lower(operand, clocks, units, lists)
            return lambda ctx: not inner(ctx)
        case ast.And(operands=operands):
            return all_of([lower(o, clocks, units, lists) for o in operands])
        case ast.Or(operands=operands):
            tests = tuple(lower(o, clocks, units, lists) for o in operands)
            return lambda ctx: any(t(ctx) for t in tests)
    raise TypeError(f"cannot lower {type(expr).__name__}")  # pragma: no cover - the AST is closed


def all_of(tests: list[Test]) -> Test:
    """A conjunction, unrolled for the common short cases (this is the decision's hot path)."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda ctx: first(ctx) and second(ctx)
    frozen = tuple(tests)
    return lambda ctx: all(t(ctx) for t in frozen)
