"""The reference interpreter: the README's decision semantics, as plainly as they can be written.

It decides a request (the JSON object of README "Request and decision", as a dict) by walking
the syntax tree that `policy_dsl`'s parser produced. It keeps no index, no closures and no
caches, and imports nothing from `replygate.engine`: every question is answered by looking at
the declarations again. Slow on purpose, so that it is obviously right; the differential test
(`tests/test_reference_differential.py`) holds the compiled engine to it.

Where the README leaves a detail open, the choice is written down here and in the README:

* Opening hours and period windows are local wall-clock times. A time that a daylight-saving
  change skips is read with the offset before the change (02:30 on a spring-forward day is
  03:30 summer time); a time that occurs twice means its first occurrence (RFC 5545, and
  zoneinfo's `fold=0`). A local date's hours are merged before they are read as instants.
* A closed date closes its local day from 00:00 to 24:00 ("whole local days"), also the part
  of the previous evening's overnight hours that reaches into it.
* Approvals count only when the decision turns on them: an `allow` rule and an approval rule
  matched. Then an approval is ignored (and noted) when it is the actor's own, or when the
  approver holds none of the required roles; whatever order the approvals come in.
* Response times: of the rules for the post's category whose `via` and `when` hold, the earliest
  deadline wins; on a tie, the first in source order. A deadline that cannot be computed counts
  as passed: `respond_by` is null and no `response_time` reason is given (that reason names the
  rule that set `respond_by`). Business time that would run out more than 731 days after the
  post cannot be computed.
* Rosters: on duty while the roster's hours are open (its calendar's, holidays included, or its
  own `open` lines in its zone); with a rotation, turn k starts at the anchor's local date plus
  k times the rotation's weeks and days, at the anchor's wall-clock time (read like opening
  hours), plus k times its hours, minutes and seconds of real time, and belongs to member
  k mod n. The last override (in source order) whose window holds the instant replaces the
  turn's person, or joins the members without a rotation. A roster's zone is its own, else its
  calendar's, else UTC.

It keeps no caches of its answers; the one memo is each country's public holidays per year,
because the `holidays` package takes milliseconds to build a year.

To teach it a new language feature, add one case to `condition` (a condition kind), to
`_rule_applies` (a rule clause) or to `decide` (an effect), reading the new AST node directly.
Covered: every condition of README "Conditions" (with named lists, `mentions any of` and
`actor on duty`), calendars with holidays by country and recurring dates, periods, response
times with channels and conditions, rosters with rotations and overrides.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import re2

from replygate.policy_dsl import ast

# A business-time deadline is looked for this far ahead; past it the calendar counts as never
# opening (README: "a deadline that cannot be computed ... counts as passed").
HORIZON_DAYS = 731
# `content has label x` reads `content.labels` (README: label sets of content, post, actor).
LABEL_SETS = {"content": "content.labels", "post": "post.labels", "actor": "actor.groups"}
CODES = {
    "allow": "allow",
    "deny": "forbidden",
    "escalate": "escalate",
    "approval_required": "approval_required",
}


class _Missing:
    """An attribute the request does not carry: it equals nothing."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Reason:
    """One reason: the rule (None for the engine's own), its effect, code and message."""

    rule: str | None
    effect: str | None  # None where the README does not say (notes on ignored approvals)
    code: str
    message: str | None  # None where the README does not fix the words
    source: tuple[str, int] | None = None  # (file, line) of the rule or response time, if any


@dataclass(frozen=True)
class Decision:
    """The whole decision, as README "Request and decision" lists it (without `policy`)."""

    decision: str
    approvers: tuple[str, ...]
    escalate_to: str | None
    respond_by: datetime | None  # UTC
    sla_breached: bool
    reasons: tuple[Reason, ...]
    approvals_missing: tuple[tuple[str, int], ...] = ()  # (role, how many more), sorted


def timestamp(text: str) -> datetime:
    """A request timestamp: ISO 8601 with an offset."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text} has no offset")
    return value


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (`minutes` after midnight, up to 24:00).

    A skipped time is read with the offset before the change, a repeated one as its first
    occurrence: exactly zoneinfo's reading of a wall time with fold=0.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


class ReferencePolicy:
    """A policy set as its declarations, in source order (files in sorted path order)."""

    def __init__(self, files: Iterable[ast.PolicyFile]) -> None:
        self.declarations: list[ast.Declaration] = [
            declaration
            for policy_file in sorted(files, key=lambda f: f.path)
            for declaration in policy_file.declarations
        ]
        # The declarations sorted into their kinds once (each kind keeps source order), as a
        # reader would leaf through them; nothing else is prepared ahead.
        self._kinds: dict[type[Any], list[Any]] = {}
        for declaration in self.declarations:
            self._kinds.setdefault(type(declaration), []).append(declaration)

    def of_kind(self, kind: type[Any]) -> list[Any]:
        """Every declaration of one kind (`ast.Rule`, `ast.Person`, ...), in source order."""
        return self._kinds.get(kind, [])

    # ---- who holds what ------------------------------------------------------------------
    def roles_held(self, person: str, groups: Sequence[str]) -> set[str]:
        """The roles assigned to the person or their groups, and every role those inherit."""
        held: set[str] = set()
        for declared in self.of_kind(ast.Person):
            if declared.id.value == person:
                held.update(r.value for r in declared.roles)
        for declared in self.of_kind(ast.Group):
            if declared.id.value in groups:
                held.update(r.value for r in declared.roles)
        while True:
            inherited = {
                parent.value
                for role in self.of_kind(ast.Role)
                if role.name.value in held
                for parent in role.extends
            }
            if inherited <= held:
                return held
            held |= inherited

    def inherits(self, heir: str, ancestor: str) -> bool:
        """Whether role `heir` is `ancestor` or inherits it."""
        seen = {heir}
        frontier = [heir]
        while frontier:
            name = frontier.pop()
            for role in self.of_kind(ast.Role):
                if role.name.value == name:
                    for parent in role.extends:
                        if parent.value not in seen:
                            seen.add(parent.value)
                            frontier.append(parent.value)
        return ancestor in seen

    # ---- time ------------------------------------------------------------------------------
    def _time_named(self, name: str) -> ast.Calendar | ast.Period:
        for declared in self.declarations:
            if isinstance(declared, ast.Calendar | ast.Period) and declared.name.value == name:
                return declared
        raise KeyError(name)

    def is_open(self, name: str, at: datetime) -> bool:
        """`now in X`: inside calendar X's opening hours, or inside one of period X's windows."""
        declared = self._time_named(name)
        if isinstance(declared, ast.Period):
            zone = ZoneInfo(declared.zone.value if declared.zone else "UTC")
            return any(
                local_instant(*w.start, zone) <= at < local_instant(*w.end, zone)
                for w in declared.windows
            )
        return calendar_open(declared, at)

    def deadline(self, response: ast.ResponseTime, received_at: datetime) -> datetime | None:
        """One response-time rule's deadline in UTC, or None when it cannot be computed."""
        calendar = None
        if response.calendar is not None:
            named = self._time_named(response.calendar.value)
            assert isinstance(named, ast.Calendar)
            calendar = named
        if calendar is None or calendar.always:
            return (received_at + response.within).astimezone(UTC)
        return business_deadline(calendar, received_at, response.within)

    def response_time(
        self, request: dict[str, Any]
    ) -> tuple[ast.ResponseTime | None, datetime | None]:
        """The response-time rule that sets the reply's deadline (None: no rule applies) and the
        deadline in UTC (None: it cannot be computed, so it counts as passed).

        README: a rule applies to replies to posts of its category, on its `via` channels, when
        its `when` conditions hold (they see the post, the channel, the account and the
        context); the earliest deadline wins, a first in source order on a tie.
        """
        post = request.get("post")
        if request["action"] != "reply" or post is None:
            return None, None
        received_at = timestamp(post["received_at"])
        at = timestamp(request["at"]) if "at" in request else received_at
        facts = _Facts(self, request, at, set(), False, None)
        best: tuple[ast.ResponseTime | None, datetime | None] = (None, None)
        for response in self.of_kind(ast.ResponseTime):
            if response.category.value != post["category"]:
                continue
            if response.channels is not None and request["channel"] not in {
                c.value for c in response.channels
            }:
                continue
            if not all(condition(e, facts) for e in response.when):
                continue
            due = self.deadline(response, received_at)
            if due is None:
                return response, None
            if best[1] is None or due < best[1]:
                best = (response, due)
        return best

    # ---- rosters -----------------------------------------------------------------------------
    def roster_zone(self, roster: ast.Roster) -> ZoneInfo:
        """A roster's zone: its own, else its calendar's, else UTC."""
        if roster.zone is not None:
            return ZoneInfo(roster.zone.value)
        if roster.calendar is not None:
            calendar = self._time_named(roster.calendar.value)
            if calendar.zone is not None:
                return ZoneInfo(calendar.zone.value)
        return ZoneInfo("UTC")

    def on_duty_in(self, roster: ast.Roster, at: datetime) -> set[str]:
        """Who is on duty in one roster at instant `at`."""
        zone = self.roster_zone(roster)
        hours: ast.Calendar | ast.Period
        if roster.calendar is not None:
            hours = self._time_named(roster.calendar.value)
        else:
            hours = ast.Calendar(roster.name, ast.Name(zone.key), roster.hours, False, ())
        assert isinstance(hours, ast.Calendar)
        if not calendar_open(hours, at):
            return set()
        members = [m.value for m in roster.members]
        replacement = None
        for override in roster.overrides:  # the later one wins where two overlap
            window = override.window
            if local_instant(*window.start, zone) <= at < local_instant(*window.end, zone):
                replacement = override.person.value
        if not roster.rotations:
            return {*members, *([replacement] if replacement else [])}
        if replacement is not None:
            return {replacement}
        return {members[turn_of(roster.rotations[0], zone, at) % len(members)]}

    def on_duty(self, person: str, at: datetime, roster: str | None) -> bool:
        """`actor on duty [in ROSTER]`: persons on no roster are never on duty."""
        return any(
            person in self.on_duty_in(declared, at)
            for declared in self.of_kind(ast.Roster)
            if roster is None or declared.name.value == roster
        )

    def named_list(self, name: str) -> ast.NamedList:
        for declared in self.of_kind(ast.NamedList):
            if declared.name.value == name:
                return declared
        raise KeyError(name)

    # ---- what a request may not send ---------------------------------------------------------
    def refused_fields(self, request: dict[str, Any]) -> list[str]:
        """README ("Conditions", `context.crisis`): a request that gives a flag the policy tests
        bare, anywhere, any value but true, false or null is refused, naming the field."""
        tested = {
            truthy.path.parts[1]
            for truthy in ast.find_all(self.declarations, ast.Truthy)
            if len(truthy.path.parts) == 2 and truthy.path.parts[0] == "context"
        }
        context = request.get("context") or {}
        return sorted(
            f"context.{key}"
            for key in tested
            if context.get(key) is not None and not isinstance(context.get(key), bool)
        )

    # ---- the decision ----------------------------------------------------------------------
    def decide(self, request: dict[str, Any]) -> Decision:
        """Decide one request (README "Decision semantics (fixed)"); a decision with a
        deadline ends with the `response_time` reason naming the rule that set it."""
        response, respond_by = self.response_time(request)
        decision = self._decide(request, response is not None, respond_by)
        if response is None or respond_by is None:
            return decision
        where = (response.span.file, response.span.line)
        note = Reason(None, None, "response_time", None, where)
        return dataclasses.replace(decision, reasons=(*decision.reasons, note))

    def _decide(
        self, request: dict[str, Any], has_deadline: bool, respond_by: datetime | None
    ) -> Decision:
        at = timestamp(request["at"])
        actor = request["actor"]
        roles = self.roles_held(actor["id"], actor.get("groups", []))
        breached = respond_by is not None and at > respond_by

        def refuse(code: str) -> Decision:
            return Decision(
                "deny", (), None, respond_by, breached, (Reason(None, "deny", code, None),)
            )

        channels = {n.value for c in self.of_kind(ast.Channel) for n in c.names}
        if request["channel"] not in channels:
            return refuse("unknown_channel")
        accounts = {
            a.handle.value
            for a in self.of_kind(ast.Account)
            if a.channel.value == request["channel"]
        }
        if accounts and request.get("account") not in accounts:
            return refuse("unknown_account")

        facts = _Facts(self, request, at, roles, has_deadline, respond_by)
        matched = [rule for rule in self.of_kind(ast.Rule) if self._rule_applies(rule, facts)]

        def of(kind: str) -> list[ast.Rule]:
            return [rule for rule in matched if rule.effect.kind == kind]

        if of("deny"):
            return Decision("deny", (), None, respond_by, breached, tuple(map(_reason, of("deny"))))
        if of("escalate"):
            rules = of("escalate")
            targets = [rule.effect.roles[0].value for rule in rules]
            heirs = [t for t in targets if all(self.inherits(t, other) for other in targets)]
            target = heirs[0] if heirs else targets[0]
            return Decision(
                "escalate", (), target, respond_by, breached, tuple(map(_reason, rules))
            )
        if not of("allow"):
            return refuse("not_permitted")
        approval_rules = of("approval_required")
        if not approval_rules:
            return Decision(
                "allow", (), None, respond_by, breached, tuple(map(_reason, of("allow")))
            )
        return self._approvals(request, roles, of("allow"), approval_rules, respond_by, breached)

    def _approvals(
        self,
        request: dict[str, Any],
        roles: set[str],
        allow_rules: list[ast.Rule],
        approval_rules: list[ast.Rule],
        respond_by: datetime | None,
        breached: bool,
    ) -> Decision:
        # README: a requirement for N approvals from R is met by N different people holding R,
        # the actor counting as one when they hold R; rules requiring one role need the largest
        # N; an approval counts for every required role its approver holds; the actor's own,
        # one by someone holding none of the required roles and a second one by the same
        # person are ignored and noted.
        needed: dict[str, int] = {}
        for rule in approval_rules:
            for role in rule.effect.roles:
                needed[role.value] = max(needed.get(role.value, 0), rule.effect.count)
        # README: "a second one by the same person is taken together with the first": a person
        # counts once, for every required role any of their approvals shows them holding.
        have = {role: 1 if role in roles else 0 for role in needed}
        actor = request["actor"]["id"]
        by_person: dict[str, set[str]] = {}
        for approval in request.get("approvals", []):
            if approval["by"] != actor:
                useful = set(needed) & self.roles_held(approval["by"], approval.get("groups", []))
                by_person.setdefault(approval["by"], set()).update(useful)
        notes = []
        seen: set[str] = set()
        for approval in request.get("approvals", []):
            person = approval["by"]
            if person == actor or not by_person[person] or person in seen:
                notes.append(Reason(None, None, "approval_ignored", None))
            seen.add(person)
        for useful in by_person.values():
            for role in useful:
                have[role] += 1
        missing = {role: n - have[role] for role, n in needed.items() if have[role] < n}
        satisfied = [
            r
            for r in approval_rules
            if all(have[x.value] >= r.effect.count for x in r.effect.roles)
        ]
        if missing:
            pending = [r for r in approval_rules if r not in satisfied]
            reasons = (*map(_reason, pending), *notes)
            return Decision(
                "approval_required",
                tuple(sorted(missing)),
                None,
                respond_by,
                breached,
                reasons,
                tuple(sorted(missing.items())),
            )
        reasons = (*map(_reason, allow_rules), *map(_reason, satisfied), *notes)
        return Decision("allow", (), None, respond_by, breached, reasons)

    def _rule_applies(self, rule: ast.Rule, facts: _Facts) -> bool:
        request = facts.request
        if rule.actions is not None and request["action"] not in {a.value for a in rule.actions}:
            return False
        if rule.channels is not None and request["channel"] not in {c.value for c in rule.channels}:
            return False
        if rule.roles is not None and not {r.value for r in rule.roles} & facts.roles:
            return False
        return all(condition(e, facts) for e in rule.when) and not any(
            condition(e, facts) for e in rule.unless
        )


def _reason(rule: ast.Rule) -> Reason:
    kind = rule.effect.kind
    return Reason(
        rule.name.value, kind, CODES[kind], rule.message, (rule.span.file, rule.span.line)
    )


# ---- conditions ------------------------------------------------------------------------------


@dataclass
class _Facts:
    """What a condition may look at: the policy, the request, the actor's roles, the deadline."""

    policy: ReferencePolicy
    request: dict[str, Any]
    at: datetime
    roles: set[str]
    has_deadline: bool
    respond_by: datetime | None


def attribute(dotted: str, facts: _Facts) -> Any:
    """The value of a request attribute (README "Attributes"), or MISSING."""
    request = facts.request
    head, _, rest = dotted.partition(".")
    if head == "context":
        return request.get("context", {}).get(rest, MISSING)
    if dotted in ("action", "channel"):
        return request[dotted]
    if dotted == "account":
        account = request.get("account")
        return MISSING if account is None else account
    if dotted == "actor.id":
        return request["actor"]["id"]
    if dotted == "actor.groups":
        return request["actor"].get("groups", [])
    if head == "content":
        content = request.get("content", {})
        if rest == "labels":
            return content.get("labels", [])
        text = content.get("text")
        return MISSING if text is None else text
    post = request.get("post")
    if post is None:
        return MISSING
    if rest == "age":
        return facts.at - timestamp(post["received_at"])
    if rest == "labels":
        return post.get("labels", [])
    value = post.get(rest)
    return MISSING if value is None else value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(value: Any, literal: ast.Literal) -> bool:
    """`==`: the same kind of value and the same value; nothing is coerced."""
    kind, wanted = literal.kind, literal.value
    if kind in ("text", "symbol"):
        return isinstance(value, str) and value == wanted
    if kind == "number":
        return _number(value) and value == wanted
    if kind == "bool":
        return isinstance(value, bool) and value == wanted
    if kind == "duration":
        return isinstance(value, timedelta) and value == wanted
    raise ValueError(f"unknown literal kind {kind}")


def ordered(value: Any, op: str, literal: ast.Literal) -> bool:
    """`<`, `<=`, `>`, `>=`: numbers with numbers, durations with durations; anything else is false."""
    wanted = literal.value
    comparable = (literal.kind == "number" and _number(value)) or (
        literal.kind == "duration" and isinstance(value, timedelta)
    )
    if not comparable:
        return False
    outcome: bool = {
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,
        ">=": value >= wanted,
    }[op]
    return outcome


def condition(expr: ast.Expr, facts: _Facts) -> bool:
    """Whether one condition holds (README "Conditions"), by walking its tree."""
    match expr:
        case ast.Compare(path=path, op=op, value=literal):
            value = attribute(path.dotted, facts)
            if op == "==":
                return equal(value, literal)
            if op == "!=":
                return not equal(value, literal)
            return ordered(value, op, literal)
        case ast.Member(path=path, values=values, negated=negated):
            value = attribute(path.dotted, facts)
            return any(equal(value, v) for v in values) != negated
        case ast.HasLabel(path=path, label=label):
            labels = attribute(LABEL_SETS.get(path.dotted, path.dotted), facts)
            return (
                isinstance(labels, list)
                and label.kind in ("text", "symbol")
                and label.value in labels
            )
        case ast.Matches(path=path, pattern=pattern, ignore_case=ignore_case):
            text = attribute(path.dotted, facts)
            if not isinstance(text, str):
                return False
            options = re2.Options()
            options.case_sensitive = not ignore_case
            options.log_errors = False
            return re2.compile(pattern, options).search(text) is not None
        case ast.ActorIs(role=role, negated=negated):
            return (role.value in facts.roles) != negated
        case ast.ActorHasNoRole():
            return not facts.roles
        case ast.ActorInUnit(unit=unit):
            return any(
                role.unit is not None
                and role.unit.value == unit.value
                and role.name.value in facts.roles
                for role in facts.policy.of_kind(ast.Role)
            )
        case ast.NowIn(name=name):
            return facts.policy.is_open(name.value, facts.at)
        case ast.DeadlinePassed():
            if not facts.has_deadline:
                return False
            return facts.respond_by is None or facts.at > facts.respond_by
        case ast.Truthy(path=path):
            return attribute(path.dotted, facts) is True
        case ast.InList(path=path, list=name, negated=negated):
            value = attribute(path.dotted, facts)
            listed = facts.policy.named_list(name.value).values
            return any(equal(value, v) for v in listed) != negated
        case ast.Mentions(path=path, list=name):
            text = attribute(path.dotted, facts)
            phrases = facts.policy.named_list(name.value).values
            return isinstance(text, str) and any(mentions(text, str(p.value)) for p in phrases)
        case ast.ActorOnDuty(roster=roster):
            name = None if roster is None else roster.value
            return facts.policy.on_duty(facts.request["actor"]["id"], facts.at, name)
        case ast.Not(operand=operand):
            return not condition(operand, facts)
        case ast.And(operands=operands):
            return all(condition(o, facts) for o in operands)
        case ast.Or(operands=operands):
            return any(condition(o, facts) for o in operands)
    raise TypeError(f"the reference does not know {type(expr).__name__}")


def _word_character(character: str) -> bool:
    """A Unicode letter, digit or `_` (README: what may not stand next to a mentioned phrase).

    Python's tables (Unicode 14 on 3.11) are older than RE2's (15.1): the ~5,000 letters new
    since then differ, and the strategies do not write them (README: "as RE2 knows them")."""
    return character == "_" or unicodedata.category(character)[0] in ("L", "N")


# README: "in any case (Unicode simple case folding …): the Turkish dotted and dotless I
# are letters of their own". Python's IGNORECASE pairs them with i and I; stand-ins without a
# case keep them apart (and equal to themselves).
_OWN_CASE = str.maketrans({"\u0130": "\ue000", "\u0131": "\ue001"})


def mentions(text: str, phrase: str) -> bool:
    """Whether `text` names `phrase` as a whole phrase, in any case, with any run of white space
    where the phrase has a space (README "Lists, categories and labels").

    Every position is tried (not only non-overlapping matches), and the characters on either
    side are looked at directly.
    """
    words = phrase.translate(_OWN_CASE).split()
    if not words:
        return False
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    folded = text.translate(_OWN_CASE)  # one character for one: positions stay
    for start in range(len(text)):
        found = pattern.match(folded, start)
        if found is None:
            continue
        before = text[start - 1] if start > 0 else None
        after = text[found.end()] if found.end() < len(text) else None
        if not (before is not None and _word_character(before)) and not (
            after is not None and _word_character(after)
        ):
            return True
    return False


# ---- rotations ----------------------------------------------------------------------------------


def turn_start(rotation: ast.Rotation, zone: ZoneInfo, k: int) -> datetime:
    """When turn k begins (UTC): the anchor's local date plus k times the rotation's days, at the
    anchor's wall-clock time, plus k times its elapsed seconds."""
    day, minutes = rotation.anchor
    local = local_instant(day + timedelta(days=k * rotation.days), minutes, zone)
    return local + timedelta(seconds=k * rotation.seconds)


def turn_of(rotation: ast.Rotation, zone: ZoneInfo, at: datetime) -> int:
    """The turn that holds `at`: the largest k whose start is not after it (negative before the
    anchor), found by doubling a bracket around it and halving it."""
    low, high = -1, 1
    while turn_start(rotation, zone, low) > at:
        low *= 2
    while turn_start(rotation, zone, high) <= at:
        high *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if turn_start(rotation, zone, middle) <= at:
            low = middle
        else:
            high = middle
    return low


# ---- calendars --------------------------------------------------------------------------------


@cache
def public_holidays(code: str, year: int) -> frozenset[date]:
    """`holidays AT` / `holidays AT-9`: the public holidays of the country (and subdivision)."""
    country, _, subdivision = code.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def closed_on(calendar: ast.Calendar, day: date) -> bool:
    """A whole local day closed: a `closed` date, a `closed every` day or a public holiday."""
    return (
        day in calendar.closed
        or (day.month, day.day) in calendar.closed_every
        or any(day in public_holidays(code.value, day.year) for code in calendar.holidays)
    )


def calendar_open(calendar: ast.Calendar, at: datetime) -> bool:
    """Whether the calendar is open at instant `at`."""
    if calendar.always:
        return True
    zone = ZoneInfo(calendar.zone.value if calendar.zone else "UTC")
    today = at.astimezone(zone).date()
    return any(
        start <= at < end
        for offset in range(-2, 3)
        for start, end in open_intervals(calendar, today + timedelta(days=offset))
    )


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def open_intervals(calendar: ast.Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The UTC instants during which the calendar is open on one local date.

    The date's own hours (an overnight range up to midnight) and the morning part of the
    previous day's overnight hours; nothing on a closed date.
    """
    if closed_on(calendar, day):
        return []
    minutes = []
    weekday, yesterday = day.weekday(), (day.weekday() - 1) % 7
    for hours in calendar.hours:
        for start, end in hours.ranges:
            overnight = end <= start
            if weekday in hours.days:
                minutes.append((start, 1440 if overnight else end))
            if overnight and yesterday in hours.days:
                minutes.append((0, end))
    assert calendar.zone is not None
    zone = ZoneInfo(calendar.zone.value)
    found = []
    for start, end in _merged(minutes):
        opens, closes = local_instant(day, start, zone), local_instant(day, end, zone)
        if opens < closes:
            found.append((opens, closes))
    return found


def business_deadline(
    calendar: ast.Calendar, received_at: datetime, within: timedelta
) -> datetime | None:
    """`within` counted only while the calendar is open, from `received_at` (or its next opening).

    Walks the open intervals of the local dates from the day before the post onwards, in time
    order; a budget that runs out exactly at a closing time is due then.
    """
    assert calendar.zone is not None
    zone = ZoneInfo(calendar.zone.value)
    moment = received_at.astimezone(UTC)
    remaining = within
    first = moment.astimezone(zone).date() - timedelta(days=2)
    day = first
    last = first + timedelta(days=HORIZON_DAYS + 2)
    while day <= last:
        week = sorted(
            interval
            for offset in range(7)
            for interval in open_intervals(calendar, day + timedelta(days=offset))
        )
        for start, end in week:
            if end <= moment:
                continue
            moment = max(moment, start)
            available = end - moment
            if remaining <= available:
                due = moment + remaining
                # README: business time running out more than 731 days after the post cannot
                # be computed.
                return None if due - received_at > timedelta(days=HORIZON_DAYS) else due
            remaining -= available
            moment = end
        day += timedelta(days=7)
    return None


# ---- comparing with the engine's answer -------------------------------------------------------


def as_json(decision: Decision, engine: Any | None = None) -> dict[str, Any]:
    """The reference's decision in the wire shape; with `engine` (the engine's decision as
    JSON), the fields the README leaves open are taken from it, so that only the contract is
    compared."""
    given = (engine or {}).get("reasons", [])
    reasons = []
    for index, reason in enumerate(decision.reasons):
        other = given[index] if index < len(given) else {}
        if (other.get("rule"), other.get("code")) != (reason.rule, reason.code):
            other = {}
        source = list(reason.source) if reason.source is not None else other.get("source")
        reasons.append(
            {
                "rule": reason.rule,
                "effect": reason.effect if reason.effect is not None else other.get("effect"),
                "code": reason.code,
                "message": reason.message if reason.message is not None else other.get("message"),
                "source": source,
            }
        )
    due = decision.respond_by
    return {
        "decision": decision.decision,
        "approvers": list(decision.approvers),
        "escalate_to": decision.escalate_to,
        "respond_by": None
        if due is None
        else due.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sla_breached": decision.sla_breached,
        "reasons": reasons,
        "approvals_missing": dict(decision.approvals_missing),
    }
