"""The typed syntax tree of a policy file.

Nodes are frozen, slotted dataclasses. Every node carries a `span`, and the span never takes
part in equality or hashing: reformatting a file leaves its tree equal, which is what `fmt`
tests and rule-level diffs rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeAlias

from replygate.policy_dsl.source import UNKNOWN_SPAN, Span


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier as written, with where it was written."""

    value: str
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return self.value


# ---- values and conditions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant in a condition: text, number, duration, boolean or a bare symbol such as `negative`."""

    value: str | int | float | bool | timedelta
    kind: str  # "text" | "number" | "duration" | "bool" | "symbol"
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Path:
    """A request attribute such as `post.author_reach`."""

    parts: tuple[str, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Compare:
    """`path OP value` with OP one of == != < <= > >=."""

    path: Path
    op: str
    value: Literal
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Member:
    """`path in [a, b]`, or `path not in [a, b]` when negated."""

    path: Path
    values: tuple[Literal, ...]
    negated: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class HasLabel:
    """`content has label mentions_price`: the label set at `path` contains the value."""

    path: Path
    label: Literal
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Matches:
    """`content.text matches /…/i`: a linear-time (RE2) search in untrusted text."""

    path: Path
    pattern: str
    ignore_case: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorIs:
    """`actor is R` (or `is not R`): the actor holds role R directly or by inheritance."""

    role: Name
    negated: bool
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorHasNoRole:
    """`actor has no role`: the actor is not on the publishing team at all."""

    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorInUnit:
    """`actor in unit U`: one of the actor's roles belongs to org unit U."""

    unit: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class NowIn:
    """`now in X`: the request time lies inside calendar X's opening hours or period X's windows."""

    name: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """`deadline has passed`: the reply comes later than the post's response deadline."""

    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Truthy:
    """A bare attribute used as a condition, e.g. `context.crisis`: true only for the JSON value true."""

    path: Path
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """`not X`."""

    operand: Expr
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """`X and Y and …`."""

    operands: tuple[Expr, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    """`X or Y or …`."""

    operands: tuple[Expr, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActorOnDuty:
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
    | ActorOnDuty
    | Not
    | And
    | Or
)


# ---- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """An org unit, e.g. `unit customer_service "Customer service"`."""

    name: Name
    title: str | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Role:
    """A role, the roles it inherits (`extends`) and the org unit it belongs to."""

    name: Name
    extends: tuple[Name, ...]
    unit: Name | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Person:
    """`person alice is agent`: a person, by id, assigned to roles in the policy itself."""

    id: Name
    roles: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Group:
    """`group "care-team" is agent`: everyone in a directory group holds these roles."""

    id: Name
    roles: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Channel:
    """`channel twitter, facebook`: the channels requests may name."""

    names: tuple[Name, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """`account "@acme_help" on twitter`: once a channel lists accounts, only those may publish."""

    handle: Name
    channel: Name
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class OpenHours:
    """`open mon-fri 08:00-18:00`: days (0 = Monday) and half-open minute ranges."""

    days: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Weekly opening hours in an IANA zone with closed dates, or `open always` (24/7)."""

    name: Name
    zone: Name | None
    hours: tuple[OpenHours, ...]
    always: bool
    closed: tuple[date, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    holidays: tuple[Name, ...] = ()  # `holidays AT`, `holidays AT-9`: public holidays by country
    closed_every: tuple[tuple[int, int], ...] = ()  # `closed every 12-24`: (month, day) each year


@dataclass(frozen=True, slots=True)
class Window:
    """`from 2026-12-24 00:00 until 2026-12-27 00:00`, local to the period's zone, half-open."""

    start: tuple[date, int]
    end: tuple[date, int]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Period:
    """A named date window (quiet period, campaign, freeze) in an IANA zone."""

    name: Name
    zone: Name | None
    windows: tuple[Window, ...]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ResponseTime:
    """`respond to complaint within 30m [during office]`: the response-time rule (SLA) of a category."""

    category: Name
    within: timedelta
    calendar: Name | None
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)
    channels: tuple[Name, ...] | None = None  # `via twitter`: None is every channel
    when: tuple[Expr, ...] = ()  # `when post.author_reach >= 10000`: all must hold


@dataclass(frozen=True, slots=True)
class Effect:
    """What a matching rule does: allow, deny, escalate to one role, or require approval by roles."""

    kind: str  # "allow" | "deny" | "escalate" | "approval_required"
    roles: tuple[Name, ...] = ()
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rule:
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


@dataclass(frozen=True, slots=True)
class Rotation:
    """`rotate every 1w from 2026-11-30 08:00`: members take turns in listed order from the anchor.

    `days` (weeks and days) count local calendar days, `seconds` elapsed time.
    """

    days: int
    seconds: int
    anchor: tuple[date, int]
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Override:
    """`override carol from … until …`: carol replaces the rotation's person in that window."""

    person: Name
    window: Window
    span: Span = field(default=UNKNOWN_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Roster:
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
class Share:
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
    | Roster
    | Share
)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One `.policy` file: its declarations in source order and its comments (for `fmt`)."""

    path: str
    declarations: tuple[Declaration, ...]
    comments: tuple[tuple[int, int, str], ...] = field(default=(), compare=False, repr=False)
