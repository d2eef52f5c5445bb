"""From a checked policy set to an indexed, evaluable one: a short list of pure passes.

    resolve authority -> build clocks -> lower rules -> index rules

Each pass takes what the previous produced; `compile_checked` runs them in order. The index
maps (action, channel) to the roles a rule targets, so a decision only looks at rules that can
apply: its cost does not grow with the number of unrelated rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from replygate.engine.calendars import Calendar, OpeningHours, Period, format_duration
from replygate.engine.conditions import Clock, NamedValues, all_of, getter, lower, named_values
from replygate.engine.evaluator import (
    EFFECT_CODES,
    CompiledPolicy,
    CompiledRule,
    CompiledShare,
    Deadline,
    ResponseRule,
    Slot,
)
from replygate.engine.models import PolicyVersion, Reason, Source
from replygate.engine.rosters import DutyModel, Override, Roster, Rotation
from replygate.policy_dsl import ast
from replygate.policy_dsl.checker import CheckResult, conjuncts
from replygate.policy_dsl.clock import instant
from replygate.policy_dsl.schema import ACTIONS
from replygate.policy_dsl.source import Span
from replygate.policy_dsl.symbols import Symbols

# Attributes whose equality tests are worth an index, most selective first.
INDEXED_ATTRIBUTES = ("account", "actor.id", "post.category", "post.sentiment")


# ---- pass 1: who holds what -----------------------------------------------------------------


def resolve_authority(
    result: CheckResult,
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """People and groups mapped to every role they hold, inherited roles included."""

    def closed(roles: tuple[ast.Name, ...]) -> frozenset[str]:
        held: set[str] = set()
        for role in roles:
            held |= result.closure.get(role.value, frozenset({role.value}))
        return frozenset(held)

    people = {name: closed(p.roles) for name, p in result.symbols.people.items.items()}
    groups = {name: closed(g.roles) for name, g in result.symbols.groups.items.items()}
    return people, groups


# ---- pass 2: calendars and periods ----------------------------------------------------------


def build_clocks(symbols: Symbols) -> tuple[dict[str, Calendar], dict[str, Clock]]:
    """Calendar and period objects by name; both answer `is_open(at)` for `now in X`."""
    calendars: dict[str, Calendar] = {}
    clocks: dict[str, Clock] = {}
    for name, calendar in symbols.calendars().items():
        hours = [
            OpeningHours(day, start, end or 1440)
            for line in calendar.hours
            for day in line.days
            for start, end in line.ranges
        ]
        zone = calendar.zone.value if calendar.zone else "UTC"
        countries = [
            (country, subdivision or None)
            for country, _, subdivision in (h.value.partition("-") for h in calendar.holidays)
        ]
        calendars[name] = Calendar(
            name,
            zone,
            hours,
            calendar.closed,
            always=calendar.always,
            recurring=calendar.closed_every,
            countries=countries,
        )
        clocks[name] = calendars[name]
    for name, period in symbols.periods().items():
        period_zone = ZoneInfo(period.zone.value if period.zone else "UTC")
        windows = [
            (instant(w.start, period_zone), instant(w.end, period_zone)) for w in period.windows
        ]
        clocks[name] = _PeriodClock(Period(name, windows, period_zone))
    return calendars, clocks


class _PeriodClock:
    __slots__ = ("period",)

    def __init__(self, period: Period) -> None:
        self.period = period

    def is_open(self, at: datetime) -> bool:
        return bool(self.period.contains(at))


def build_deadlines(symbols: Symbols, calendars: dict[str, Calendar]) -> dict[str, Deadline]:
    """Each category's response time, counted on its calendar (real time without one)."""
    deadlines = {}
    for category, response in symbols.responses.items.items():
        calendar = calendars.get(response.calendar.value) if response.calendar else None
        deadlines[category] = Deadline(response.within, calendar)
    return deadlines


def build_rosters(symbols: Symbols, calendars: dict[str, Calendar]) -> DutyModel:
    """Every roster with its on-duty hours (its calendar, or a calendar of its own lines)."""
    rosters = []
    for name, roster in symbols.rosters.items.items():
        calendar = calendars.get(roster.calendar.value) if roster.calendar else None
        zone = roster.zone.value if roster.zone else (calendar.zone.key if calendar else "UTC")
        if calendar is None:
            hours = [
                OpeningHours(day, start, end or 1440)
                for line in roster.hours
                for day in line.days
                for start, end in line.ranges
            ]
            calendar = Calendar(f"roster {name}", zone, hours)
        rotation = None
        if roster.rotations:
            first = roster.rotations[0]
            day, minutes = first.anchor
            anchor = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60)
            rotation = Rotation(first.days, first.seconds, anchor)
        local = ZoneInfo(zone)
        overrides = [
            Override(o.person.value, instant(o.window.start, local), instant(o.window.end, local))
            for o in roster.overrides
        ]
        members = [m.value for m in roster.members]
        rosters.append(Roster(name, members, calendar, zone, rotation, overrides))
    return DutyModel(rosters)


def _response_text(response: ast.ResponseTime) -> str:
    text = f"respond to {response.category.value} within {format_duration(response.within)}"
    if response.calendar is not None:
        text += f" during {response.calendar.value}"
    if response.channels is not None:
        text += " via " + ", ".join(c.value for c in response.channels)
    return text + (" when …" if response.when else "")


def build_response_rules(
    symbols: Symbols,
    calendars: dict[str, Calendar],
    clocks: dict[str, Clock],
    units: dict[str, frozenset[str]],
    lists: dict[str, NamedValues] | None = None,
    annotate: Annotate | None = None,
) -> dict[str, list[ResponseRule]]:
    """Every response-time rule by category, in source order, with its prebuilt reason."""
    found: dict[str, list[ResponseRule]] = {}
    for order, response in enumerate(symbols.response_rules):
        calendar = calendars.get(response.calendar.value) if response.calendar else None
        tests = [lower(e, clocks, units, lists) for e in response.when]
        span = response.span
        source = Source(file=span.file, line=span.line, column=span.column)
        reason = Reason.model_construct(
            rule=None,
            effect=None,
            code="response_time",
            message=f"the response time comes from: {_response_text(response)}",
            source=source if annotate is None else annotate(span, source),
        )
        channels = (
            None if response.channels is None else frozenset(c.value for c in response.channels)
        )
        found.setdefault(response.category.value, []).append(
            ResponseRule(
                response.category.value,
                Deadline(response.within, calendar),
                channels,
                all_of(tests) if tests else None,
                reason,
                order,
                response.when,
            )
        )
    return found


# ---- pass 3: lower rules ----------------------------------------------------------------------


def _units(symbols: Symbols, closure: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """For each org unit, every role whose holders count as members (roles in it, and their heirs)."""
    unit_of = {
        name: role.unit.value for name, role in symbols.roles.items.items() if role.unit is not None
    }
    # One look at each (role, inherited role) pair, so the cost is the closure's size, not
    # units x roles.
    members: dict[str, set[str]] = {unit: set() for unit in unit_of.values()}
    for role, held in closure.items():
        for inherited in held:
            unit = unit_of.get(inherited)
            if unit is not None:
                members[unit].add(role)
    return {unit: frozenset(roles) for unit, roles in members.items()}


# `annotate(span, source)`: the source of what `span` covers (a rule, a response time) with
# the commit and author that last changed it (the git store's blame).
Annotate = Callable[[Span, Source], Source]


def lower_rules(
    symbols: Symbols,
    closure: dict[str, frozenset[str]],
    clocks: dict[str, Clock],
    annotate: Annotate | None = None,
    lists: dict[str, NamedValues] | None = None,
) -> list[CompiledRule]:
    """Every rule as a closure-based test plus its prebuilt reason, in source order.

    `annotate(span, source)` lets the git store add the commit and author of each rule.
    """
    units = _units(symbols, closure)
    lists = build_lists(symbols) if lists is None else lists
    lowered = []
    for order, rule in enumerate(symbols.rules.items.values()):
        facts = conjuncts(rule)
        test = all_of([lower(f, clocks, units, lists) for f in facts]) if facts else None
        source = Source(file=rule.span.file, line=rule.span.line, column=rule.span.column)
        if annotate is not None:
            source = annotate(rule.span, source)
        effect = rule.effect.kind
        reason = Reason(
            rule=rule.name.value,
            effect=effect,
            code=EFFECT_CODES[effect],
            message=rule.message or f"rule {rule.name.value}",
            source=source,
        )
        roles = tuple(r.value for r in rule.effect.roles)
        lowered.append(
            CompiledRule(
                rule.name.value, effect, roles, test, order, reason, rule, rule.effect.count
            )
        )
    return lowered


def build_lists(symbols: Symbols) -> dict[str, NamedValues]:
    """Each named list compiled once: a text list to a single RE2 pattern over its phrases."""
    return {name: named_values(named) for name, named in symbols.lists.items.items()}


# ---- pass 4: index -----------------------------------------------------------------------------


def _index_key(rule: ast.Rule) -> tuple[str, tuple[object, ...]] | None:
    """The most selective equality test among the rule's required facts, if any."""
    best: tuple[int, str, tuple[object, ...]] | None = None
    for fact in conjuncts(rule):
        values: tuple[object, ...] | None = None
        if (
            isinstance(fact, ast.Compare)
            and fact.op == "=="
            and fact.value.kind in ("text", "symbol")
        ):
            values = (fact.value.value,)
        elif (
            isinstance(fact, ast.Member)
            and not fact.negated
            and all(v.kind in ("text", "symbol") for v in fact.values)
        ):
            values = tuple(v.value for v in fact.values)
        if values is None or fact.path.dotted not in INDEXED_ATTRIBUTES:  # type: ignore[union-attr]
            continue
        rank = INDEXED_ATTRIBUTES.index(fact.path.dotted)  # type: ignore[union-attr]
        if best is None or rank < best[0]:
            best = (rank, fact.path.dotted, values)  # type: ignore[union-attr]
    return None if best is None else (best[1], best[2])


def index_rules(
    symbols: Symbols, rules: list[CompiledRule]
) -> dict[tuple[str, str], dict[str | None, Slot]]:
    """(action, channel) -> targeted role (None: anyone) -> the slot of candidate rules."""
    channels = symbols.channels.names()
    index: dict[tuple[str, str], dict[str | None, Slot]] = {}
    for source, compiled in zip(symbols.rules.items.values(), rules, strict=True):
        actions = sorted(ACTIONS) if source.actions is None else [a.value for a in source.actions]
        targeted = channels if source.channels is None else [c.value for c in source.channels]
        roles: list[str | None] = (
            [None] if source.roles is None else [r.value for r in source.roles]
        )
        key = _index_key(source)
        for action in actions:
            for channel in targeted:
                slots = index.setdefault((action, channel), {})
                for role in roles:
                    slot = slots.setdefault(role, Slot())
                    if key is None:
                        slot.plain.append(compiled)
                        continue
                    attribute, values = key
                    get = getter(ast.Path(tuple(attribute.split("."))))
                    table = slot.keyed.setdefault(attribute, (get, {}))[1]
                    for value in values:
                        table.setdefault(value, []).append(compiled)
    return index


# ---- driver ------------------------------------------------------------------------------------


def compile_checked(
    result: CheckResult,
    version: PolicyVersion,
    annotate: Annotate | None = None,
    sources: dict[str, str] | None = None,
) -> CompiledPolicy:
    """Run the passes over a policy set the checker found free of errors."""
    symbols = result.symbols
    people, groups = resolve_authority(result)
    calendars, clocks = build_clocks(symbols)
    lists = build_lists(symbols)
    rules = lower_rules(symbols, result.closure, clocks, annotate, lists)
    units = _units(symbols, result.closure)
    response_rules = build_response_rules(symbols, calendars, clocks, units, lists, annotate)
    # The plain rule of a category, the same object: `deadlines` is what older callers read.
    deadlines = {
        category: rule.deadline
        for category, found in response_rules.items()
        for rule in found
        if rule.channels is None and rule.test is None
    }
    return CompiledPolicy(
        version=version,
        rules=rules,
        index=index_rules(symbols, rules),
        people=people,
        groups=groups,
        closure=result.closure,
        deadlines=deadlines,
        accounts={
            channel: frozenset(handles)
            for channel, handles in symbols.accounts_by_channel().items()
        },
        channels=frozenset(symbols.channels.names()),
        clocks=clocks,
        units=_units(symbols, result.closure),
        sources=sources or {},
        warnings=result.warnings,
        lists=lists,
        categories=frozenset(symbols.categories.names()),
        labels=frozenset(symbols.labels.names()),
        flags=context_flags(symbols),
        duty=build_rosters(symbols, calendars),
        response_rules=response_rules,
        shares=build_shares(symbols, clocks, units, lists),
    )


def context_flags(symbols: Symbols) -> frozenset[str]:
    """The `context` keys a policy tests as bare flags (`when context.crisis`) anywhere."""
    roots: list[ast.Node] = [
        *symbols.rules.items.values(),
        *symbols.response_rules,
        *symbols.shares,
    ]
    return frozenset(
        truthy.path.parts[1]
        for truthy in ast.find_all(roots, ast.Truthy)
        if len(truthy.path.parts) == 2 and truthy.path.parts[0] == "context"
    )


def build_shares(
    symbols: Symbols,
    clocks: dict[str, Clock],
    units: dict[str, frozenset[str]],
    lists: dict[str, NamedValues] | None = None,
) -> list[CompiledShare]:
    """`share CATEGORIES with UNITS [when …]` clauses, lowered."""
    return [
        CompiledShare(
            frozenset(c.value for c in share.categories),
            tuple(u.value for u in share.units),
            None if share.when is None else lower(share.when, clocks, units, lists),
        )
        for share in symbols.shares
    ]
