"""Which times matter: the minutes around every opening and closing of a calendar (on a normal
weekday, a weekend day, each closed date and around each daylight-saving change), period window
edges, and the minutes around each response deadline on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from replygate.engine.calendars import Calendar
from replygate.engine.models import EARLIEST_DUTY, LATEST_DUTY
from replygate.engine.review.cases import MINUTE, REPLY_GAP, Dimension, Patch
from replygate.engine.rosters import Roster

if TYPE_CHECKING:
    from replygate.engine.review import Side

# A rotation's later turns are tried this many days past the base week at most.
MAX_CYCLE_DAYS = 28
# From the start of a rotation a change edits, days looked at for edges where the sides put
# different people on duty, until such edges were found on so many days.
MAX_CHANGED_DAYS = 400
DRIFT_DAYS = 14


@cache
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
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


class Times:
    """The calendars, periods and response times of both sides, and the instants they turn on."""

    def __init__(self, sides: Sequence[Side]) -> None:
        self.sides = tuple(sides)
        symbols = [s.result.symbols for s in self.sides]
        self.calendars = [s.calendars() for s in symbols]
        self.periods = [s.periods() for s in symbols]
        self.zone = self._display_zone()
        self.years = self._years()
        self.base_day = self._base_day(min(self.years))
        self.tz = ZoneInfo(self.zone)
        self.base_at = datetime.combine(self.base_day, time(10), self.tz)
        self._duty: list[Dimension] | None = None
        self._duty_instants: list[datetime] = []
        self._duty_near: tuple[list[frozenset[str]], list[frozenset[str]]] | None = None
        self._duty_of: dict[str, Dimension | None] = {}

    def _display_zone(self) -> str:
        """The zone times are best read in: HEAD's first calendar zone, else UTC."""
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

    def _base_day(self, year: int) -> date:
        """A plain Wednesday, well away from daylight-saving changes and not a closed date."""
        day = date(year, 11, 11)
        day += timedelta(days=(2 - day.weekday()) % 7)
        closed = {d for cals in self.calendars for name in cals for d in self.closed_days(name)}
        while day in closed:
            day += timedelta(days=7)
        return day

    def closed_days(self, name: str) -> list[date]:
        """The closed days of calendar `name` on either side, as the compiled calendars know
        them: dated closures, and in the years reviewed `closed every` dates and public
        holidays (a removed `closed every 12-31` or `holidays AT` was never probed)."""
        found: set[date] = set()
        for side in self.sides:
            calendar = side.policy.clocks.get(name)
            if isinstance(calendar, Calendar):
                found |= calendar.closed_days(self.years)
        return sorted(found)

    def week(self) -> list[date]:
        """Monday to Sunday of the base day's week."""
        monday = self.base_day - timedelta(days=self.base_day.weekday())
        return [monday + timedelta(days=n) for n in range(7)]

    def _dst_days(self, zone: str) -> tuple[list[date], list[datetime]]:
        """Weekdays just before and after each daylight-saving change, and the changes themselves."""
        days: list[date] = []
        changes: list[datetime] = []
        tz = ZoneInfo(zone)
        for year in self.years:
            for change in transitions(zone, year):
                changes.append(change)
                local = change.astimezone(tz).date()
                before, after = local - timedelta(days=1), local + timedelta(days=1)
                while before.weekday() >= 5:
                    before -= timedelta(days=1)
                while after.weekday() >= 5:
                    after += timedelta(days=1)
                days += [before, after]
        return days, changes

    # ---- calendars and periods ---------------------------------------------------------------
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
            for day in self.week():
                signature = tuple(
                    tuple(r for line in v.hours if day.weekday() in line.days for r in line.ranges)
                    for v in hours
                )
                by_signature.setdefault(signature, day)
            dst_days, changes = self._dst_days(zone)
            closed = self.closed_days(name)
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

    def duty_dimensions(self) -> list[Dimension]:
        """`_duty_dimensions`, found once: every rule that asks who is on duty asks again."""
        if self._duty is None:
            self._duty = self._duty_dimensions()
        return self._duty

    def _duty_dimensions(self) -> list[Dimension]:
        """`actor on duty`: the request's time at every edge of every roster's on-duty
        segments in the base week (and until each member of a rotation has had a turn), on
        either side (hours, hand-overs, overrides); first the edges of one side only and those
        at which the sides put different people on duty (`_duty_changes`)."""
        monday = self.week()[0].toordinal()
        sides: list[set[datetime]] = []
        for side in self.sides:
            instants: set[datetime] = set()
            for roster in side.policy.duty.rosters.values():
                for day in range(monday - 1, monday + 8 + _rest_of_cycle(roster)):
                    for segment in roster.segments(day):
                        for edge in (segment.start, segment.end):
                            instants |= {edge - MINUTE, edge}
            sides.append(instants)
        # The edges of one side only first: a thinned joint keeps them (a roster closing at
        # 21:30 instead of 22:00 changed nothing at the edges an even spread kept).
        found = set.symmetric_difference(*sides) if len(sides) == 2 else set()
        changed = sorted(found | self._duty_changes(range(monday - 1, monday + 8)))
        every = [*changed, *sorted(set.union(*sides) - set(changed))]
        if not every:
            return []
        self._duty_instants = every
        patches = [
            {"at": i.astimezone(self.tz), "received_at": i.astimezone(self.tz) - REPLY_GAP}
            for i in every
        ]
        return [Dimension("duty", patches, keep=len(changed))]

    def duty_dimension_for(self, person: str) -> Dimension | None:
        """The `duty` dimension with the edges of `person`'s own turns first (those where the
        sides differ first among them), then the others', each in an order that spreads any
        prefix evenly (`cut_order`), the person's on duty and off duty in turn; None when the
        person is never on duty near an edge.

        For a thinned joint of one actor: the even spread of all rosters' edges kept for ivan
        the instants of dave's on-call hours, at which ivan is off duty on either side."""
        if person in self._duty_of:
            return self._duty_of[person]
        found: Dimension | None = None
        dims = self.duty_dimensions()
        if dims:
            near, on = self._near_duty()
            whole = dims[0]
            mine = [i for i, who in enumerate(near) if person in who]
            if mine:
                changed = [i for i in mine if i < whole.keep]
                rest = [i for i in mine if i >= whole.keep]
                ranked = [
                    _alternating(
                        [i for i in rest if person in on[i]],
                        [i for i in rest if person not in on[i]],
                    ),
                    _spread([i for i in range(whole.keep) if person not in near[i]]),
                    _spread([i for i in range(whole.keep, len(near)) if person not in near[i]]),
                ]
                order = [*changed, *(i for part in ranked for i in part)]
                place = {index: at for at, index in enumerate(order)}
                found = replace(
                    whole,
                    patches=[whole.patches[i] for i in order],
                    keep=len(changed),
                    cut_order=tuple(place[i] for part in ranked for i in part),
                )
        self._duty_of[person] = found
        return found

    def _near_duty(self) -> tuple[list[frozenset[str]], list[frozenset[str]]]:
        """Per duty edge, who is on duty on either side a minute before, at or after it; and
        who is at it."""
        if self._duty_near is None:
            near: list[frozenset[str]] = []
            on: list[frozenset[str]] = []
            for instant in self._duty_instants:
                around: set[str] = set()
                at: set[str] = set()
                for side in self.sides:
                    for moment in (instant - MINUTE, instant, instant + MINUTE):
                        who = side.policy.duty.on_duty_at(moment).keys()
                        around |= who
                        if moment == instant:
                            at |= who
                near.append(frozenset(around))
                on.append(frozenset(at))
            self._duty_near = (near, on)
        return self._duty_near

    def _duty_changes(self, tried: range) -> set[datetime]:
        """Beyond the days `tried`, the edges at which the two sides put different people on
        duty (or in different rosters): around every override, over the first two cycles of
        every rotation, and from the start of a rotation the change edits until such edges
        were found on `DRIFT_DAYS` days (turns of 1w made 1w1h first differ at an opening
        eleven weeks on). An override removed at Christmas was never tried."""
        if len(self.sides) != 2:
            return set()
        base, head = (side.policy.duty for side in self.sides)
        days: set[int] = set()
        drifting: list[int] = []
        for model in (base, head):
            for name, roster in model.rosters.items():
                for override in roster.overrides:
                    # Its first and last days: an override can span years.
                    for edge in (override.start.toordinal(), override.end.toordinal()):
                        days |= {edge - 1, edge, edge + 1}
                if roster.rotation is not None:
                    first = roster.turn_start(0).toordinal()
                    cycles = 2 * _cycle_days(roster, most=MAX_CHANGED_DAYS // 2)
                    days |= set(range(first - 1, first + 1 + cycles))
                    if _turns(roster) != _turns(
                        (head if model is base else base).rosters.get(name)
                    ):
                        drifting.append(first)
        # Each day is decided once: the drift scan crosses the days of the first cycles.
        on_day: dict[int, set[datetime]] = {}

        def changes_on(day: int) -> set[datetime]:
            if day in tried:
                return set()
            if day not in on_day:
                on_day[day] = self._changes_on(day)
            return on_day[day]

        for day in _known_days(days):
            changes_on(day)
        for first in sorted(set(drifting)):
            changed_days = 0
            for day in _known_days(range(first, first + MAX_CHANGED_DAYS)):
                changed_days += bool(changes_on(day))
                if changed_days >= DRIFT_DAYS:
                    break
        return set().union(*on_day.values())

    def _changes_on(self, day: int) -> set[datetime]:
        """The edges of the UTC day `day` at which the two sides' duty differs."""
        base, head = (side.policy.duty for side in self.sides)
        found: set[datetime] = set()
        for model in (base, head):
            for roster in model.rosters.values():
                for segment in roster.segments(day):
                    for edge in (segment.start, segment.end):
                        for instant in (edge - MINUTE, edge):
                            unseen = _known(instant) and instant not in found
                            if unseen and base.on_duty_at(instant) != head.on_duty_at(instant):
                                found.add(instant)
        return found

    def now_dimensions(self, clocks: Iterable[str]) -> list[Dimension]:
        """`now in X` conditions: the request's time at every edge of each calendar or period."""
        instants = [i for name in dict.fromkeys(clocks) for i in self.calendar_instants(name)]
        if not instants:
            return []
        patches = [{"at": i, "received_at": i - REPLY_GAP} for i in dict.fromkeys(instants)]
        return [Dimension("now", patches)]

    # ---- response deadlines ------------------------------------------------------------------
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
            week = self.week()
            days = [self.base_day, week[4]]
            closed = self.closed_days(response.calendar.value)
            days += [d - timedelta(days=1) for d in closed] + closed
            days += self._dst_days(calendar.zone.value)[0]
            for day in days:
                receipts += [_local(day, end - 30, tz) for end in closings]
            receipts += [_local(week[5], 12 * 60, tz), _local(self.base_day, 22 * 60, tz)]
        return list(dict.fromkeys(r.astimezone(self.tz) for r in receipts))

    def deadline_patches(self, categories: Iterable[str]) -> list[Patch]:
        """For each category, receipt times and `at` just before, at and after the deadline on each side."""
        patches: list[Patch] = []
        with_deadline = sorted(
            {c for s in self.sides for c in (*s.policy.deadlines, *s.policy.response_rules)}
        )
        for category in dict.fromkeys([*with_deadline, *categories]):
            for received in self._receipts(category):
                ats: set[datetime] = set()
                for side in self.sides:
                    # Every response time of the category, those for some channels or posts
                    # only too (`via twitter`, `when …`): a changed one was never probed.
                    plain = side.policy.deadlines.get(category)
                    timed = [r.deadline for r in side.policy.response_rules.get(category, ())]
                    for deadline in dict.fromkeys([plain, *timed]):
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


def _known(instant: datetime) -> bool:
    """Whether who is on duty at `instant` is known: within the checked years."""
    return EARLIEST_DUTY <= instant <= LATEST_DUTY


def _known_days(days: Iterable[int]) -> list[int]:
    return [d for d in days if EARLIEST_DUTY.toordinal() <= d <= LATEST_DUTY.toordinal()]


def _turns(roster: Roster | None) -> tuple[object, ...]:
    """What decides whose turn it is: the rotation and its members in order."""
    return () if roster is None else (roster.rotation, roster.members, roster.zone)


def _rest_of_cycle(roster: Roster) -> int:
    """Days after the base week until every member of a rotation has had a turn (carol's week
    follows ivan's: a roster change in her evenings was tried on ivan only), at most four weeks."""
    if roster.rotation is None or len(roster.members) < 2:
        return 0
    return _cycle_days(roster, len(roster.members) - 1)


def _cycle_days(roster: Roster, turns: int | None = None, most: int = MAX_CYCLE_DAYS) -> int:
    """The days `turns` turns of the roster's rotation take (a whole cycle by default), at most
    `most`."""
    if roster.rotation is None:
        return 0
    turn = roster.rotation.days + roster.rotation.seconds / 86_400
    return min(most, math.ceil(turn * (len(roster.members) if turns is None else turns)))


def _spread(items: Sequence[int]) -> list[int]:
    """The items in an order whose every prefix is spread evenly over them: the first, the
    last, the middle, the quarters, and so on."""
    count = len(items)
    if count <= 2:
        return list(items)
    order = [0, count - 1]
    spans = [(0, count - 1)]
    while spans:
        halves: list[tuple[int, int]] = []
        for low, high in spans:
            if high - low >= 2:
                middle = (low + high) // 2
                order.append(middle)
                halves += [(low, middle), (middle, high)]
        spans = halves
    return [items[i] for i in order]


def _alternating(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """Both spread (`_spread`), one of each in turn, the rest of the longer at the end."""
    a, b = _spread(first), _spread(second)
    mixed = [i for pair in zip(a, b, strict=False) for i in pair]
    return [*mixed, *a[len(b) :], *b[len(a) :]]
