"""Rosters: who is on duty when.

A roster is on duty during its hours (a `Calendar`, reused as is: holidays, overnight ranges and
daylight-saving changes behave exactly as for response deadlines). Within those hours either
every member is on duty, or one member at a time by **rotation**: turn k starts at

    anchor + k * (calendar days)   as local wall-clock time in the roster's zone (fold=0),
           + k * (elapsed seconds) as real time,

so a weekly handoff stays at 08:00 across a daylight-saving change while `12h` turns are twelve
real hours. Turn k belongs to member k mod n: turns cycle forwards after the anchor and backwards
before it. **Overrides** are half-open windows in which a named person replaces the rotation's
person (without rotation: joins the members); the later override in source order wins where two
overlap. Overrides never add hours.

Everything is computed per UTC day and cached, like `Calendar`: a day's *segments* are disjoint
[start, end) intervals with the set of persons on duty, so "is P on duty at t" is a dictionary
look-up and a short scan, and walking forwards to the next boundary goes day by day.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from replygate.engine.calendars import Calendar, _merge, _micro, _utc
from replygate.engine.models import EARLIEST_DUTY, LATEST_DUTY, DutyOutOfRange

__all__ = [
    "LOOKAHEAD",
    "LOOKAHEAD_DAYS",
    "DutyModel",
    "DutyOutOfRange",
    "Override",
    "Roster",
    "Rotation",
    "Segment",
]

# How far `on_duty_until` / `next_on_duty` look before answering None.
LOOKAHEAD_DAYS = 28
_ONE_DAY = timedelta(days=1)
LOOKAHEAD = timedelta(days=LOOKAHEAD_DAYS)
_CACHE_DAYS = 4096
_CACHE_WEEKS = 64
# The caches are bounded by what they hold, not only by days or weeks: bounded per roster, 500
# hourly rosters of 1,000 persons grew a server by 55 MB a new four-week window, to gigabytes
# (a probe stopped at 3.4 GB after 60 routes), with collector pauses of seconds. Each budget is
# shared by all rosters of a policy (about 60 bytes an instant: 100-150 MB at most in all);
# the bundled policy stays far below them.
_SEGMENT_BUDGET = 400_000  # segments of all rosters' cached days
_INSTANT_BUDGET = 1_000_000  # starts and ends in the persons' cached days and week timelines
_CALENDAR_DAY_BUDGET = 65_536  # days cached by all rosters' on-duty calendars together
_OFF_DUTY: tuple[bool, datetime | None] = (False, None)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _in_range(*moments: datetime) -> None:
    for moment in moments:
        if not EARLIEST_DUTY <= moment <= LATEST_DUTY:
            raise DutyOutOfRange(moment.isoformat())


Interval = tuple[datetime, datetime]
Timeline = tuple[list[datetime], list[datetime]]  # merged on-duty starts and their ends


@dataclass(frozen=True, slots=True)
class Segment:
    """[start, end) in UTC during which exactly `persons` are on duty in one roster."""

    start: datetime
    end: datetime
    persons: frozenset[str]


@dataclass(frozen=True, slots=True)
class Rotation:
    """Turns of `days` local calendar days plus `seconds` elapsed, from a local anchor time."""

    days: int
    seconds: int
    anchor: datetime  # naive local wall-clock time in the roster's zone

    def __post_init__(self) -> None:
        if self.days < 0 or self.seconds < 0 or self.days == self.seconds == 0:
            raise ValueError("a rotation needs a positive length")


@dataclass(frozen=True, slots=True)
class Override:
    """`person` is on duty instead of the rotation's person within [start, end) (UTC)."""

    person: str
    start: datetime
    end: datetime


class Roster:
    """One roster: members, on-duty hours (a calendar), an optional rotation, overrides."""

    __slots__ = (
        "_buckets",
        "_held",
        "_length",
        "_members",
        "_origin",
        "_singles",
        "_starts",
        "budget",
        "hours",
        "members",
        "name",
        "overrides",
        "rotation",
        "zone",
    )

    def __init__(
        self,
        name: str,
        members: Sequence[str],
        hours: Calendar,
        zone: str,
        rotation: Rotation | None = None,
        overrides: Sequence[Override] = (),
    ) -> None:
        self.name = name
        self.members = tuple(members)
        self._members = frozenset(members)
        self.hours = hours
        self.zone = ZoneInfo(zone)
        self.rotation = rotation
        self.overrides = tuple(
            Override(o.person, _utc(o.start), _utc(o.end)) for o in overrides if o.end > o.start
        )
        self._length = (
            None
            if rotation is None
            else timedelta(days=rotation.days, seconds=rotation.seconds).total_seconds()
        )
        self._buckets: dict[int, tuple[Segment, ...]] = {}
        # Segments held in `_buckets`, and how many it may hold (its share of a policy's).
        self._held = 0
        self.budget = _SEGMENT_BUDGET
        # Turn 0's start in UTC, once: turns of elapsed time only are then plain arithmetic.
        self._origin: datetime | None = None
        # Starts of turns with calendar days, by turn number: each costs a zoneinfo conversion,
        # and a day's segments and the next day's both ask for the turn around midnight.
        self._starts: dict[int, datetime] = {}
        # One set per member, shared by every segment of theirs.
        self._singles = {m: frozenset({m}) for m in self.members}

    def __repr__(self) -> str:
        return f"Roster({self.name!r}, {len(self.members)} members)"

    @property
    def persons(self) -> frozenset[str]:
        """Everyone who can ever be on duty here: members and override persons."""
        return self._members | {o.person for o in self.overrides}

    # ---- rotation ---------------------------------------------------------------------------
    def turn_start(self, k: int) -> datetime:
        """The instant (UTC) turn k begins; turn 0 begins at the anchor."""
        rotation = self.rotation
        if rotation is None:  # pragma: no cover - callers check
            raise ValueError(f"roster '{self.name}' has no rotation")
        if rotation.days:
            found = self._starts.get(k)
            if found is None:
                if len(self._starts) >= _CACHE_DAYS:
                    self._starts.clear()
                found = self._starts[k] = self._turn_start(rotation, k)
            return found
        try:
            # Without calendar days every turn is the anchor's instant plus elapsed time: the
            # zone is read once, not once a turn (hourly turns spent most of a route there).
            origin = self._origin
            if origin is None:
                origin = self._origin = rotation.anchor.replace(tzinfo=self.zone).astimezone(UTC)
            return origin + timedelta(seconds=k * rotation.seconds)
        except OverflowError:
            return _LATEST if k > 0 else _EARLIEST

    def _turn_start(self, rotation: Rotation, k: int) -> datetime:
        try:
            local = rotation.anchor + timedelta(days=k * rotation.days)
            return local.replace(tzinfo=self.zone).astimezone(UTC) + timedelta(
                seconds=k * rotation.seconds
            )
        except OverflowError:
            # Past the years 1-9999 (a year-long turn seen from 9999-11): a turn that begins
            # outside time does not begin within it. The checker keeps turn 0 inside.
            return _LATEST if k > 0 else _EARLIEST

    def turn_at(self, at: datetime) -> int:
        """The number of the turn that contains instant `at` (negative before the anchor)."""
        if self._length is None or self.rotation is None:  # pragma: no cover - callers check
            raise ValueError(f"roster '{self.name}' has no rotation")
        moment = _utc(at)
        origin = self.turn_start(0)
        if not self.rotation.days and origin is not _EARLIEST:
            # Equal turns of elapsed time: the quotient in whole microseconds is exact (a
            # float's is not, centuries from the anchor), so no turn needs to be looked up.
            return _micro(moment - origin) // (self.rotation.seconds * 1_000_000)
        k = int((moment - origin).total_seconds() // self._length)
        while self.turn_start(k) > moment:
            k -= 1
        while self.turn_start(k + 1) <= moment:
            k += 1
        return k

    def member_of_turn(self, k: int) -> str:
        return self.members[k % len(self.members)]

    # ---- segments ---------------------------------------------------------------------------
    def segments(self, day: int) -> tuple[Segment, ...]:
        """The on-duty segments within the UTC date with ordinal `day`, cached."""
        found = self._buckets.get(day)
        if found is None:
            found = self._segments(day)
            if len(self._buckets) >= _CACHE_DAYS or self._held + len(found) > self.budget:
                self._buckets.clear()
                self._held = 0
            self._buckets[day] = found
            self._held += len(found)
        return found

    def _segments(self, day: int) -> tuple[Segment, ...]:
        if not self.members:
            return ()
        rotation = self.rotation
        # (start, end, persons), neighbours with the same persons joined; made into Segments
        # at the end, once each.
        pieces: list[tuple[datetime, datetime, frozenset[str]]] = []
        for start, end in self.hours.day_intervals(day):
            # Only the overrides that reach into this open interval can decide a piece of it.
            overrides = [o for o in self.overrides if o.start < end and o.end > start]
            # The turns that begin within [start, end), each with its number, in order: a
            # piece's turn is the last of them at or before it, found walking forwards instead
            # of asking `turn_at` (a few zone conversions) for every piece.
            turns: list[tuple[datetime, int]] = []
            if rotation is not None:
                k = self.turn_at(start)
                turns.append((start, k))
                while (boundary := self.turn_start(k + 1)) < end:
                    k += 1
                    turns.append((boundary, k))
            if overrides:
                cuts = {start, end, *(b for b, _ in turns)}
                for override in overrides:
                    cuts.update(p for p in (override.start, override.end) if start < p < end)
                points = sorted(cuts)
                index = 0
                for begin, finish in itertools.pairwise(points):
                    while index + 1 < len(turns) and turns[index + 1][0] <= begin:
                        index += 1
                    turn = turns[index][1] if turns else 0
                    _join(pieces, begin, finish, self._on_duty(begin, overrides, turn))
            elif turns:
                # No override here: the pieces are the turns themselves.
                singles, members = self._singles, self.members
                ends = [b for b, _ in turns[1:]]
                ends.append(end)
                for (begin, k), finish in zip(turns, ends, strict=True):
                    _join(pieces, begin, finish, singles[members[k % len(members)]])
            else:
                _join(pieces, start, end, self._members)
        return tuple(Segment(begin, finish, persons) for begin, finish, persons in pieces)

    def _on_duty(self, at: datetime, overrides: Sequence[Override], turn: int) -> frozenset[str]:
        """Who is on duty at `at`, given the roster's hours are open then, `overrides` are
        those that may cover `at` and `turn` is the rotation's turn then."""
        chosen = None
        for override in overrides:  # the later override wins: keep the last that covers
            if override.start <= at < override.end:
                chosen = override.person
        if self.rotation is None:
            return self._members if chosen is None else self._members | {chosen}
        if chosen is not None:
            return self._singles.get(chosen) or frozenset({chosen})
        return self._singles[self.member_of_turn(turn)]

    def on_duty_at(self, at: datetime) -> frozenset[str]:
        """Who is on duty in this roster at instant `at`."""
        moment = _utc(at)
        for segment in self.segments(moment.toordinal()):
            if segment.start <= moment < segment.end:
                return segment.persons
            if segment.start > moment:
                break
        return frozenset()


def _join(
    pieces: list[tuple[datetime, datetime, frozenset[str]]],
    begin: datetime,
    finish: datetime,
    persons: frozenset[str],
) -> None:
    """Append [begin, finish) with `persons`, extending the last piece when it ends at `begin`
    with the same persons."""
    if pieces:
        last_begin, last_end, last_persons = pieces[-1]
        if last_end == begin and last_persons == persons:
            pieces[-1] = (last_begin, finish, persons)
            return
    pieces.append((begin, finish, persons))


# Past this many rosters of one person, "on duty now?" asks each roster instead of building the
# person's timeline for the week (which routing, needing "until" and "from when", still does).
_TIMELINE_ROSTERS = 16


class DutyModel:
    """Every roster of a policy: who is on duty, until when, and from when.

    Persons on no roster are never on duty. All instants returned are UTC; `None` means no
    boundary within `LOOKAHEAD_DAYS`.
    """

    __slots__ = (
        "_day_instants",
        "_person_days",
        "_timeline_instants",
        "_timelines",
        "by_person",
        "roster_names",
        "rosters",
    )

    def __init__(self, rosters: Iterable[Roster]) -> None:
        self.rosters = {r.name: r for r in rosters}
        # Each roster its share; at least a few days of hourly turns, so a day never misses.
        share = max(_SEGMENT_BUDGET // max(len(self.rosters), 1), 128)
        days = min(max(_CALENDAR_DAY_BUDGET // max(len(self.rosters), 1), 64), _CACHE_DAYS)
        for roster in self.rosters.values():
            roster.budget = share
            roster.hours.cache_days = min(roster.hours.cache_days, days)
        # Starts and ends held in `_person_days` and in `_timelines` (each half the budget).
        self._day_instants = 0
        self._timeline_instants = 0
        self.by_person: dict[str, tuple[Roster, ...]] = {}
        for roster in self.rosters.values():
            for person in sorted(roster.persons):
                self.by_person[person] = (*self.by_person.get(person, ()), roster)
        self._person_days: dict[tuple[str, int], tuple[Interval, ...]] = {}
        # person -> the names of the rosters they can be on duty in, sorted
        self.roster_names = {
            p: tuple(sorted(r.name for r in found)) for p, found in self.by_person.items()
        }
        # UTC week number -> person -> the person's merged on-duty starts and ends over that week
        # and the look-ahead after it: one bisect answers "on duty?", "until?" and "from when?".
        # Keyed by week first so a route over hundreds of persons looks the week up once.
        self._timelines: dict[int, dict[str, Timeline]] = {}

    def _week(self, week: int) -> dict[str, Timeline]:
        found = self._timelines.get(week)
        if found is None:
            if len(self._timelines) >= _CACHE_WEEKS:
                self._timelines.clear()
            found = self._timelines[week] = {}
        return found

    def _timeline(self, lines: dict[str, Timeline], person: str, week: int) -> Timeline:
        """The person's timeline of the week, built and kept in `lines` (the week's)."""
        line = self._build_timeline(person, week)
        size = 2 * len(line[0])
        if self._timeline_instants + size > _INSTANT_BUDGET // 2:
            self._timelines.clear()
            lines.clear()  # the week asked about starts afresh, still cached
            self._timelines[week] = lines
            self._timeline_instants = 0
        lines[person] = line
        self._timeline_instants += size
        return line

    def _build_timeline(self, person: str, week: int) -> Timeline:
        first = week * 7
        merged = _merge(
            interval
            for ordinal in range(first, first + 7 + LOOKAHEAD_DAYS + 1)
            for interval in self.intervals(person, ordinal)
        )
        return [s for s, _ in merged], [e for _, e in merged]

    def is_on_duty(self, person: str, at: datetime, roster: str | None = None) -> bool:
        """Whether `person` is on duty at `at` (in `roster`, or in any of theirs)."""
        _in_range(at)
        if roster is not None:
            found = self.rosters.get(roster)
            return found is not None and person in found.on_duty_at(at)
        theirs = self.by_person.get(person)
        if theirs is None:
            return False
        moment = _utc(at)
        week = moment.toordinal() // 7
        lines = self._week(week)
        line = lines.get(person)
        if line is None:
            if len(theirs) > _TIMELINE_ROSTERS:
                # A person in hundreds of rosters: a check asks about one instant, and building
                # the week's timeline (hundreds of rosters by five weeks of turns) took seconds.
                return any(person in roster.on_duty_at(moment) for roster in theirs)
            line = self._timeline(lines, person, week)
        starts, ends = line
        index = bisect_right(starts, moment) - 1
        return index >= 0 and moment < ends[index]

    def on_duty_at(self, at: datetime) -> dict[str, list[str]]:
        """Everyone on duty at `at`, each with the rosters they are on duty in."""
        _in_range(at)
        found: dict[str, list[str]] = {}
        for name in sorted(self.rosters):
            for person in self.rosters[name].on_duty_at(at):
                found.setdefault(person, []).append(name)
        return found

    def intervals(self, person: str, day: int) -> tuple[Interval, ...]:
        """A person's on-duty intervals within one UTC day, across their rosters, merged."""
        key = (person, day)
        found = self._person_days.get(key)
        if found is None:
            found = tuple(
                _merge(
                    (segment.start, segment.end)
                    for roster in self.by_person.get(person, ())
                    for segment in roster.segments(day)
                    if person in segment.persons
                )
            )
            size = 2 * len(found)
            crowded = self._day_instants + size > _INSTANT_BUDGET // 2
            if crowded or len(self._person_days) >= 16 * _CACHE_DAYS:
                self._person_days.clear()
                self._day_instants = 0
            self._person_days[key] = found
            self._day_instants += size
        return found

    def duty_between(self, person: str, start: datetime, end: datetime) -> list[Interval]:
        """A person's on-duty intervals clipped to [start, end), merged, in UTC."""
        low, high = _utc(start), _utc(end)
        _in_range(low, high)
        if person not in self.by_person or high <= low:
            return []
        found = [
            (max(begin, low), min(finish, high))
            for day in range(low.toordinal(), high.toordinal() + 1)
            for begin, finish in self.intervals(person, day)
            if begin < high and finish > low
        ]
        return _merge(found)

    def status(self, person: str, at: datetime) -> tuple[bool, datetime | None]:
        """(on duty now, `on_duty_until` if so else `next_on_duty`): one look-up for routing."""
        return self.statuses((person,), at)[0]

    def statuses(self, persons: Iterable[str], at: datetime) -> list[tuple[bool, datetime | None]]:
        """`status` of many persons at one instant: a route asks this for every candidate."""
        moment = at if at.tzinfo is UTC else _utc(at)
        _in_range(moment)
        week = moment.toordinal() // 7
        lines = self._week(week)
        horizon = moment + LOOKAHEAD
        known = self.by_person
        found: list[tuple[bool, datetime | None]] = []
        append = found.append
        for person in persons:
            line = lines.get(person)
            if line is None:
                if person not in known:
                    append(_OFF_DUTY)
                    continue
                line = self._timeline(lines, person, week)
            starts, ends = line
            index = bisect_right(starts, moment) - 1
            if index >= 0 and moment < ends[index]:
                end = ends[index]
                append((True, None if end > horizon else end))
            elif index + 1 < len(starts) and starts[index + 1] <= horizon:
                append((False, starts[index + 1]))
            else:
                append(_OFF_DUTY)
        return found

    def on_duty_until(self, person: str, at: datetime) -> datetime | None:
        """When the person's current stretch on duty ends (None: off duty, or not within the
        look-ahead)."""
        on_duty, boundary = self.status(person, at)
        return boundary if on_duty else None

    def next_on_duty(self, person: str, at: datetime) -> datetime | None:
        """The first instant at or after `at` the person is on duty (None: not within 28 days)."""
        on_duty, boundary = self.status(person, at)
        return _utc(at) if on_duty else boundary

    def persons_on_duty_between(self, start: datetime, end: datetime) -> frozenset[str]:
        """Everyone on duty at some moment of [start, end), however far `end` lies (`status`
        looks `LOOKAHEAD_DAYS` ahead only): each roster's days once, for all its persons,
        until every person it can put on duty has been seen."""
        low, high = _utc(start), _utc(end)
        _in_range(low, high)
        found: set[str] = set()
        for roster in self.rosters.values():
            everyone = roster.persons
            for day in range(low.toordinal(), high.toordinal() + 1):
                if everyone <= found:
                    break
                for segment in roster.segments(day):
                    if segment.start < high and segment.end > low:
                        found |= segment.persons
        return frozenset(found)

    def anyone_between(self, persons: Iterable[str], start: datetime, end: datetime) -> bool:
        """Whether any of `persons` is on duty at some moment in [start, end), however far
        `end` lies: past the look-ahead of `next_on_duty`, their duty is walked day by day."""
        _in_range(start, end)
        beyond = _utc(start) + LOOKAHEAD
        for person in persons:
            found = self.next_on_duty(person, start)
            if found is not None:
                if found < end:
                    return True
            elif end > beyond and self.duty_between(person, beyond, end):
                return True
        return False
