"""The typed syntax tree of a policy file.

Nodes are frozen, slotted dataclasses. Every node carries a `span`, and the span never takes
part in equality or hashing: reformatting a file leaves its tree equal, which is what `fmt`
tests and rule-level diffs rely on.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import TypeAlias, TypeVar

from replygate.policy_dsl.source import UNKNOWN_SPAN, Span

# The closed sets of words the language knows. `typing.Literal`, because `Literal` below is the
# node for a constant in a condition.
EffectKind: TypeAlias = typing.Literal["allow", "deny", "escalate", "approval_required"]
LiteralKind: TypeAlias = typing.Literal["text", "number", "duration", "bool", "symbol"]
CompareOp: TypeAlias = typing.Literal["==", "!=", "<", "<=", ">", ">="]
ActionName: TypeAlias = typing.Literal["reply", "post"]
SentimentName: TypeAlias = typing.Literal["positive", "neutral", "negative"]

EFFECT_KINDS: tuple[EffectKind, ...] = typing.get_args(EffectKind)
COMPARE_OPS: tuple[CompareOp, ...] = typing.get_args(CompareOp)


# ---- the generic walker ----------------------------------------------------------------------

N = TypeVar("N", bound="Node")


class Node:
    """Base of every tree node. A node's children are its compared dataclass fields that hold a
    node or a tuple of nodes (spans are not compared, so they are never children): a new node
    class needs no walker code of its own.
    """

    __slots__ = ()

    def iter_children(self) -> Iterator[Node]:
        """The direct children, in field order (source order within a field)."""
        for name in _child_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                yield from (item for item in value if isinstance(item, Node))

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first in source order."""
        return walk(self)

    def find_all(self, *types: type[N]) -> Iterator[N]:
        """Every node below (and including) this one that is an instance of one of `types`."""
        return find_all(self, *types)


_CHILD_FIELDS: dict[type[Node], tuple[str, ...]] = {}


def _child_fields(cls: type[Node]) -> tuple[str, ...]:
    # Only compared fields can hold children: spans and comments are declared compare=False.
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(f.name for f in fields(cls) if f.compare)  # type: ignore[arg-type]
    return names


def walk(roots: Node | Iterable[Node]) -> Iterator[Node]:
    """Pre-order walk over one node or several, without recursion (any depth is safe)."""
    stack: list[Node] = [roots] if isinstance(roots, Node) else list(roots)[::-1]
    while stack:
        node = stack.pop()
        yield node
        children = list(node.iter_children())
        stack.extend(reversed(children))


def find_all(roots: Node | Iterable[Node], *types: type[N]) -> Iterator[N]:
    """Every node of the given types under `roots`, in source order (as Jinja's `find_all`)."""
    for node in walk(roots):
        if isinstance(node, types):
            yield node


def flatten(expr: Expr, kind: type[And] | type[Or]) -> list[Expr]:
    """The operands of nested `kind` nodes, in order: `a and (b and c)` gives [a, b, c]."""
    found: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, kind):
            stack.extend(reversed(node.operands))
        else:
            found.append(node)
    return found


@dataclass(frozen=True, slots=True)
class Name(Node):
    """An identifier as written, with where it was written."""

    value: str
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return self.value


# ---- values and conditions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant in a condition: text, number, duration, boolean or a bare symbol such as `negative`."""

    value: str | int | float | bool | timedelta
    kind: LiteralKind
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A request attribute such as `post.author_reach`."""

    parts: tuple[str, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """`path OP value` with OP one of == != < <= > >=."""

    path: Path
    op: CompareOp
    value: Literal
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Member(Node):
    """`path in [a, b]`, or `path not in [a, b]` when negated."""

    path: Path
    values: tuple[Literal, ...]
    negated: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class HasLabel(Node):
    """`content has label mentions_price`: the label set at `path` contains the value."""

    path: Path
    label: Literal
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Matches(Node):
    """`content.text matches /…/i`: a linear-time (RE2) search in untrusted text."""

    path: Path
    pattern: str
    ignore_case: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    pattern_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorIs(Node):
    """`actor is R` (or `is not R`): the actor holds role R directly or by inheritance."""

    role: Name
    negated: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorHasNoRole(Node):
    """`actor has no role`: the actor is not on the publishing team at all."""

    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorInUnit(Node):
    """`actor in unit U`: one of the actor's roles belongs to org unit U."""

    unit: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class NowIn(Node):
    """`now in X`: the request time lies inside calendar X's opening hours or period X's windows."""

    name: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class DeadlinePassed(Node):
    """`deadline has passed`: the reply comes later than the post's response deadline."""

    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Truthy(Node):
    """A bare attribute used as a condition, e.g. `context.crisis`: true only for the JSON value true."""

    path: Path
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not(Node):
    """`not X`."""

    operand: Expr
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class And(Node):
    """`X and Y and …`."""

    operands: tuple[Expr, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or(Node):
    """`X or Y or …`."""

    operands: tuple[Expr, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class InList(Node):
    """`channel in social` (or `not in` when negated): membership in a named `[…]` list."""

    path: Path
    list: Name
    negated: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Mentions(Node):
    """`content.text mentions any of competitors`: the text names a phrase of a text list."""

    path: Path
    list: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorOnDuty(Node):
    """`actor on duty [in ROSTER]`: the actor is on duty (in that roster) at the request's time."""

    roster: Name | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


Expr: TypeAlias = (
    Compare
    | Member
    | HasLabel
    | Matches
    | ActorIs
    | ActorHasNoRole
    | ActorInUnit
    | NowIn
    | DeadlinePassed
    | Truthy
    | InList
    | Mentions
    | ActorOnDuty
    | Not
    | And
    | Or
)


# ---- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit(Node):
    """An org unit, e.g. `unit customer_service "Customer service"`."""

    name: Name
    title: str | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Role(Node):
    """A role, the roles it inherits (`extends`) and the org unit it belongs to."""

    name: Name
    extends: tuple[Name, ...]
    unit: Name | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Person(Node):
    """`person alice is agent`: a person, by id, assigned to roles in the policy itself."""

    id: Name
    roles: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Group(Node):
    """`group "care-team" is agent`: everyone in a directory group holds these roles."""

    id: Name
    roles: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Channel(Node):
    """`channel twitter, facebook`: the channels requests may name."""

    names: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Account(Node):
    """`account "@acme_help" on twitter`: once a channel lists accounts, only those may publish."""

    handle: Name
    channel: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class OpenHours(Node):
    """`open mon-fri 08:00-18:00`: days (0 = Monday) and half-open minute ranges."""

    days: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Calendar(Node):
    """Weekly opening hours in an IANA zone with closed dates, or `open always` (24/7)."""

    name: Name
    zone: Name | None
    hours: tuple[OpenHours, ...]
    always: bool
    closed: tuple[date, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    # Where each clause was written (keyword included), for `fmt` and diagnostics.
    zone_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    always_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    closed_spans: tuple[Span, ...] = field(default=(), compare=False, hash=False, repr=False)
    holidays: tuple[Name, ...] = ()  # `holidays AT`, `holidays AT-9`: public holidays by country
    closed_every: tuple[tuple[int, int], ...] = ()  # `closed every 12-24`: (month, day) each year


@dataclass(frozen=True, slots=True)
class Window(Node):
    """`from 2026-12-24 00:00 until 2026-12-27 00:00`, local to the period's zone, half-open."""

    start: tuple[date, int]
    end: tuple[date, int]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Period(Node):
    """A named date window (quiet period, campaign, freeze) in an IANA zone."""

    name: Name
    zone: Name | None
    windows: tuple[Window, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    zone_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ResponseTime(Node):
    """`respond to complaint within 30m [during office]`: the response-time rule (SLA) of a category."""

    category: Name
    within: timedelta
    calendar: Name | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    channels: tuple[Name, ...] | None = None  # `via twitter`: None is every channel
    when: tuple[Expr, ...] = ()  # `when post.author_reach >= 10000`: all must hold


@dataclass(frozen=True, slots=True)
class Effect(Node):
    """What a matching rule does: allow, deny, escalate to one role, or require approval by roles."""

    kind: EffectKind
    roles: tuple[Name, ...] = ()
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    count: int = 1  # `require 2 approvals from legal`: distinct holders needed per role


@dataclass(frozen=True, slots=True)
class Rule(Node):
    """A named permission rule: effect, the actions/channels/roles it targets, conditions, message.

    `actions`, `channels` and `roles` are None for "any"/"every channel"/"anyone".
    """

    name: Name
    effect: Effect
    actions: tuple[Name, ...] | None
    channels: tuple[Name, ...] | None
    roles: tuple[Name, ...] | None
    when: tuple[Expr, ...]
    unless: tuple[Expr, ...]
    message: str | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    # Where each clause was written, keyword included (`on any` and `by anyone` too), for `fmt`
    # and diagnostics; UNKNOWN_SPAN (or no entry) for a clause not written or a tree built by hand.
    on_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    via_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    by_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    when_spans: tuple[Span, ...] = field(default=(), compare=False, hash=False, repr=False)
    unless_spans: tuple[Span, ...] = field(default=(), compare=False, hash=False, repr=False)
    message_span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class NamedList(Node):
    """`list competitors "Acme Rival", "Rival Corp"` (text) or `list social [twitter, facebook]`."""

    name: Name
    kind: str  # "text": phrases for `mentions any of`; "symbol": values for `in`
    values: tuple[Literal, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Categories(Node):
    """`category complaint, question`: once declared, the only post categories there are."""

    names: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Labels(Node):
    """`label mentions_price, legal_claim`: once declared, the only content and post labels."""

    names: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rotation(Node):
    """`rotate every 1w from 2026-11-30 08:00`: members take turns in listed order from the anchor.

    `days` (weeks and days) count local calendar days, `seconds` elapsed time.
    """

    days: int
    seconds: int
    anchor: tuple[date, int]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Override(Node):
    """`override carol from … until …`: carol replaces the rotation's person in that window."""

    person: Name
    window: Window
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Roster(Node):
    """Who is on duty when: members, on-duty hours (a calendar or inline `open` lines), turns."""

    name: Name
    members: tuple[Name, ...]
    calendar: Name | None  # `during office`
    zone: Name | None
    hours: tuple[OpenHours, ...]
    rotations: tuple[Rotation, ...]  # at most one; the checker reports a second
    overrides: tuple[Override, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Share(Node):
    """`share feature_request with product_management [when …]`: units that should see such posts."""

    categories: tuple[Name, ...]
    units: tuple[Name, ...]
    when: Expr | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


Declaration: TypeAlias = (
    Unit
    | Role
    | Person
    | Group
    | Channel
    | Account
    | Calendar
    | Period
    | ResponseTime
    | Rule
    | NamedList
    | Categories
    | Labels
    | Roster
    | Share
)


@dataclass(frozen=True, slots=True)
class PolicyFile(Node):
    """One `.policy` file: its declarations in source order and its comments (for `fmt`)."""

    path: str
    declarations: tuple[Declaration, ...]
    comments: tuple[tuple[int, int, str], ...] = field(default=(), compare=False, repr=False)
