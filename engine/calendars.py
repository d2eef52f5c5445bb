"""Calendars and periods: the time arithmetic behind response deadlines and `now in X`.

A calendar is open during weekly opening hours, written as local wall-clock minutes in an IANA
zone, except on whole-day holidays; or it is open always (24/7). Three rules settle what
wall-clock hours leave open:

* **Overnight hours belong to the weekday they start on.** `OpeningHours(4, 22 * 60, 6 * 60)`
  opens Friday 22:00 and closes Saturday 06:00.
* **A holiday closes its local date from 00:00 to 24:00, whichever day's hours reach into it.**
  The holiday test applies to the local date of each instant: the part of Thursday's 22:00-06:00
  that falls on a holiday Friday is closed, and the part of a holiday's own 22:00-06:00 after
  midnight is open (unless the next day is a holiday too).
* **Boundaries become instants the way zoneinfo reads wall-clock times, with fold=0.** A
  boundary that does not exist moves forward with the gap: in Vienna on 2026-03-29, 02:30 is
  03:30 CEST. An ambiguous boundary means its first occurrence: on 2026-10-25, 02:30 is
  02:30 CEST, not the later 02:30 CET. A day's hours are merged before their boundaries are
  mapped, so how a policy splits its ranges does not matter; a range whose mapped end is not
  after its mapped start (02:30-03:15 on the spring-forward day) is empty that day.

Between its boundaries a calendar counts real elapsed time: 00:00-24:00 is 23 hours on a
spring-forward day and 25 hours on a fall-back day.

All sums, differences and comparisons are taken on UTC datetimes, never on aware local ones,
whose arithmetic is wall-clock within a zone (Vienna 2026-10-24 12:00 + 24h is 25 real hours
later). Open intervals are built per UTC day from the local dates around it and cached, so
`is_open` is a dictionary look-up and a few comparisons, and a deadline walks day by day.
"""

from __future__ import annotations

import contextlib
import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from replygate.policy_dsl.durations import format_duration, parse_duration

__all__ = [
    "HORIZON_DAYS",
    "Calendar",
    "OpeningHours",
    "Period",
    "format_duration",
    "parse_duration",
    "strftime",
]


def _micro(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def strftime(moment: date | datetime, pattern: str) -> str:
    """`moment.strftime(pattern)` with `%Y` always four digits: glibc writes year 1 as "1", so
    a report would say "Mon 1-01-15" where it means 0001-01-15."""
    return moment.strftime(pattern.replace("%Y", f"{moment.year:04d}"))


# How far past its start a deadline is looked for before the calendar counts as never opening.
HORIZON_DAYS = 731

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
_HORIZON = timedelta(days=HORIZON_DAYS)
_LATEST = datetime.max.replace(tzinfo=UTC)
_MINUTES_PER_DAY = 1440
# UTC-day buckets kept per calendar: eleven years of days, far more than live traffic touches.
_CACHE_DAYS = 4096
_EARLIEST = datetime.min.replace(tzinfo=UTC)
# Deadline searches stop a few days short of the ends of the datetime range, where a local
# date's hours may not all be instants; a deadline past them is the evaluator's out-of-range.
_FIRST_SEARCHED_DAY = date.min.toordinal() + 5
_LAST_SEARCHED_DAY = date.max.toordinal() - 5

# [start, end) in UTC; [start, end) in minutes after local midnight.
Interval = tuple[datetime, datetime]
Minutes = tuple[int, int]
_Point = TypeVar("_Point", int, datetime)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Open on `weekday` (0=Monday … 6=Sunday) from `start` to `end` minutes after local midnight, half-open [start, end)."""

    weekday: int
    start: int  # 0..1439
    end: int  # 1..1440; end <= start runs overnight into the next day (22:00-06:00)

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday {self.weekday} is not 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.start < _MINUTES_PER_DAY:
            raise ValueError(f"opening time {self.start} is not a minute from 0 to 1439")
        if not 0 < self.end <= _MINUTES_PER_DAY:
            raise ValueError(f"closing time {self.end} is not a minute from 1 to 1440")


class Calendar:
    """Weekly opening hours in an IANA zone, minus whole-day holidays; or always open (24/7).

    Every instant argument must be timezone-aware (any offset); every instant returned is UTC.
    See the module docstring for overnight hours, holidays and daylight-saving changes.
    """

    __slots__ = (
        "_buckets",
        "_countries",
        "_days",
        "_holidays",
        "_opens_weekly",
        "_recurring",
        "_spans",
        "_totals",
        "_week",
        "_years",
        "always",
        "cache_days",
        "holidays",
        "hours",
        "name",
        "zone",
    )

    def __init__(
        self,
        name: str,
        zone: str,
        hours: Sequence[OpeningHours],
        holidays: Iterable[date] = (),
        always: bool = False,
        recurring: Iterable[tuple[int, int]] = (),
        countries: Iterable[tuple[str, str | None]] = (),
    ) -> None:
        self.name = name
        self.zone = ZoneInfo(zone)
        self.always = always
        self.hours = tuple(hours)
        self.holidays = frozenset(date(d.year, d.month, d.day) for d in holidays)
        if always and (self.hours or self.holidays):
            raise ValueError(f"calendar '{name}' is open always and cannot have hours or holidays")
        self._holidays = frozenset(d.toordinal() for d in self.holidays)
        # `closed every 12-24` as (month, day); public holidays by (country, subdivision),
        # looked up one year at a time from the `holidays` package.
        self._recurring = frozenset(recurring)
        self._countries = tuple(countries)
        self._years: dict[int, frozenset[date]] = {}
        self._week = _weekly(self.hours)
        self._spans = tuple(
            tuple((timedelta(minutes=begin), timedelta(minutes=end)) for begin, end in day)
            for day in self._week
        )
        self._opens_weekly = any(self._week)
        self._buckets: dict[int, tuple[Interval, ...]] = {}
        self._days: dict[int, list[Interval]] = {}
        self._totals: dict[int, timedelta] = {}
        # Days each cache above keeps; a policy of hundreds of rosters gives each a share.
        self.cache_days = _CACHE_DAYS

    def __repr__(self) -> str:
        return f"Calendar({self.name!r}, {self.zone.key!r})"

    def is_open(self, at: datetime) -> bool:
        """Whether the calendar is open at instant `at`; opening time counts, closing time not."""
        moment = _utc(at)
        if self.always:
            return True
        day = moment.toordinal()
        intervals = self._buckets.get(day)
        if intervals is None:
            intervals = self._bucket(day)
        for start, end in intervals:
            if moment < start:
                return False
            if moment < end:
                return True
        # The last open interval of 9999-12-31 stops at the last instant there is, which it holds.
        return moment == _LATEST and bool(intervals) and intervals[-1][1] == _LATEST

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself (in UTC) if open, else the instant the calendar next opens.

        None when it does not open within `HORIZON_DAYS`.
        """
        return self.add_open_time(at, _ZERO)

    def add_open_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """The deadline: `duration` counted only while open, from `start` or the next opening.

        When the budget runs out exactly as an open interval ends, the deadline is that end
        (received Monday 14:00 with 4h of 08:00-18:00 is due Monday 18:00, not Tuesday 08:00).
        An `always` calendar counts real time: `start + duration`. None when the calendar does
        not open often enough within `HORIZON_DAYS` of `start`; the engine then fails closed.
        """
        moment = _utc(start)
        if duration < _ZERO:
            raise ValueError(f"a response time cannot be negative: {duration}")
        if self.always:
            try:
                return moment + duration
            except OverflowError:
                return None
        if not self._opens_weekly:
            return None
        # README: business time that would run out more than 731 days after the start cannot
        # be computed (the days searched below reach up to a day further).
        limit = _LATEST if moment > _LATEST - _HORIZON else moment + _HORIZON
        remaining = duration
        day = moment.toordinal()
        last = min(day + HORIZON_DAYS, _LAST_SEARCHED_DAY)
        while day <= last:
            intervals = self._buckets.get(day)
            if intervals is None:
                intervals = self._bucket(day)
            if intervals and intervals[0][0] >= moment:
                # The whole day lies ahead: passed at once when its open time is not enough
                # (a calendar of hundreds of ranges a day and a budget of weeks took seconds).
                total = self._total(day, intervals)
                if remaining > total:
                    remaining -= total
                    moment = intervals[-1][1]
                    day += 1
                    continue
            for begin, end in intervals:
                if end <= moment:
                    continue
                moment = max(moment, begin)
                available = end - moment
                if remaining <= available:
                    due = moment + remaining
                    return due if due <= limit else None
                remaining -= available
                moment = end
            day += 1
        return None

    def _total(self, day: int, intervals: tuple[Interval, ...]) -> timedelta:
        """The open time of the UTC date with ordinal `day` (its `intervals`), cached."""
        total = self._totals.get(day)
        if total is None:
            if len(self._totals) >= self.cache_days:
                self._totals.clear()
            total = self._totals[day] = sum((end - begin for begin, end in intervals), _ZERO)
        return total

    def _bucket(self, day: int) -> tuple[Interval, ...]:
        """The open intervals within the UTC date with ordinal `day`, cached."""
        low = datetime.combine(date.fromordinal(day), time(), UTC)
        high = low + _ONE_DAY if day < _LAST_ORDINAL else _LATEST
        # A local date's hours can reach a neighbouring UTC date through the zone's offset and
        # through a skipped local day (Pacific/Apia, 2011-12-30), so two dates either side.
        pieces = [
            (max(begin, low), min(end, high))
            for ordinal in range(max(day - 2, 1), min(day + 3, _LAST_ORDINAL + 1))
            for begin, end in self._local_day(ordinal)
            if begin < high and end > low
        ]
        intervals = tuple(_merge(pieces))
        if len(self._buckets) >= self.cache_days:
            self._buckets.clear()
        self._buckets[day] = intervals
        return intervals

    def _local_day(self, ordinal: int) -> list[Interval]:
        """The open intervals of one local date, holidays applied (cached: each UTC day's
        bucket reads the five local dates around it)."""
        found = self._days.get(ordinal)
        if found is None:
            if len(self._days) >= self.cache_days:
                self._days.clear()
            found = self._days[ordinal] = self._open_on(ordinal)
        return found

    def _open_on(self, ordinal: int) -> list[Interval]:
        if ordinal in self._holidays:
            return []
        today = date.fromordinal(ordinal)
        if (today.month, today.day) in self._recurring or today in self._public(today.year):
            return []
        minutes = self._week[today.weekday()]
        if not minutes:
            return []
        midnight = datetime(today.year, today.month, today.day, tzinfo=self.zone)
        if _MIN_SHIFTED < ordinal < _MAX_SHIFTED:
            start, following = midnight.utcoffset(), (midnight + _ONE_DAY).utcoffset()
            if start == following and start is not None:
                # No change of offset from this midnight to the next (tzdata has no day with
                # two that cancel out): the local minutes are instants at one offset. Converting
                # each through the zone cost seconds for a calendar of 720 ranges a day.
                base = (midnight.replace(tzinfo=None) - start).replace(tzinfo=UTC)
                return [(base + begin, base + end) for begin, end in self._spans[today.weekday()]]
        # At the ends of the range a local time may lie before or after every instant: held
        # at the first or last one, so the hours that are instants still count.
        beyond = _EARLIEST if ordinal < _MIDDLE_ORDINAL else _LATEST
        found = []
        for begin, end in minutes:
            opens = _instant(midnight, begin, beyond)
            closes = _instant(midnight, end, beyond)
            if closes > opens:
                found.append((opens, closes))
        return found

    def closed_days(self, years: Iterable[int]) -> frozenset[date]:
        """Every whole day the calendar is closed: its dated closures, and in `years` its
        `closed every` dates and its public holidays."""
        found = set(self.holidays)
        for year in years:
            for month, day in self._recurring:
                with contextlib.suppress(ValueError):  # 02-29 in a common year
                    found.add(date(year, month, day))
            found |= self._public(year)
        return frozenset(found)

    def _public(self, year: int) -> frozenset[date]:
        """The public holidays of the calendar's countries in one year (cached)."""
        found = self._years.get(year)
        if found is None:
            days: set[date] = set()
            if self._countries:
                import holidays

                for country, subdivision in self._countries:
                    days.update(holidays.country_holidays(country, subdiv=subdivision, years=year))
            found = self._years[year] = frozenset(days)
        return found

    def day_intervals(self, day: int) -> Sequence[Interval]:
        """`open_intervals` over the whole UTC date with ordinal `day` (before its last
        instant): the cached bucket itself, already clipped to the date and merged. Rosters
        ask this for every roster and day, where clipping and merging again cost a third of
        building their segments."""
        if self.always:
            low = datetime.combine(date.fromordinal(day), time(), UTC)
            return ((low, low + _ONE_DAY),)
        found = self._buckets.get(day)
        return found if found is not None else self._bucket(day)

    def open_intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """The open intervals within [start, end), in UTC, merged and sorted."""
        low, high = _utc(start), _utc(end)
        if high <= low:
            return []
        if self.always:
            return [(low, high)]
        found: list[Interval] = []
        for day in range(low.toordinal(), high.toordinal() + 1):
            intervals = self._buckets.get(day)
            if intervals is None:
                intervals = self._bucket(day)
            found.extend(
                (max(begin, low), min(finish, high))
                for begin, finish in intervals
                if begin < high and finish > low
            )
        return _merge(found)

    def unreachable(self, start: datetime, end: datetime, duration: timedelta) -> list[Interval]:
        """The instants t in [start, end) for which `add_open_time(t, duration)` is None.

        That is where the calendar is open for less than `duration` within `HORIZON_DAYS` after
        t (and before the last day searched). That open time changes piecewise linearly with t,
        with corners where an open interval starts or ends, or HORIZON_DAYS before that, so
        between two corners the instants short of `duration` form one interval. Computed, not
        sampled: coverage removes them from every candidate's arrivals (README: a deadline
        that cannot be computed counts as passed).
        """
        low, high = _utc(start), _utc(end)
        if high <= low or self.always:
            return []
        if not self._opens_weekly:
            return [(low, high)]
        last = datetime.combine(date.fromordinal(_LAST_SEARCHED_DAY), time(), UTC) + _ONE_DAY
        capped = high > last - _HORIZON  # near the year 9999: high + horizon would overflow
        reach = last if capped else high + _HORIZON
        intervals = self.open_intervals(low, reach)
        # Every instant of [high, low + horizon) is within the horizon of every t: enough open
        # time there (a short response time on a calendar that opens) settles it at once.
        if not capped:
            common = sum(
                (
                    min(e, low + _HORIZON) - max(b, high)
                    for b, e in intervals
                    if b < low + _HORIZON and e > high
                ),
                _ZERO,
            )
            if common >= duration:
                return []
        ends = [e for _, e in intervals]
        cumulative = [0]
        for b, e in intervals:
            cumulative.append(cumulative[-1] + _micro(e - b))

        def open_before(moment: datetime) -> int:
            # Open time (µs) in [low, moment), the intervals being clipped to [low, reach).
            index = bisect_right(ends, moment)
            found = cumulative[index]
            if index < len(intervals) and intervals[index][0] < moment:
                found += _micro(moment - intervals[index][0])
            return found

        def ahead(moment: datetime) -> int:
            horizon = reach if moment > reach - _HORIZON else moment + _HORIZON
            return open_before(horizon) - open_before(moment)

        corners = {low, high}
        # A corner a horizon before an interval that starts in year 1 or 2 would lie before
        # year 1 (an OverflowError): it would lie before `low` too, so it is no corner.
        earliest = datetime.min.replace(tzinfo=UTC) + _HORIZON
        for b, e in intervals:
            for corner in (b, e, *(m - _HORIZON for m in (b, e) if m >= earliest)):
                if low < corner < high:
                    corners.add(corner)
        needed = _micro(duration)
        found: list[Interval] = []
        points = sorted(corners)
        values = [ahead(point) for point in points]
        for (p, q), (op, oq) in zip(
            itertools.pairwise(points), itertools.pairwise(values), strict=True
        ):
            if op >= needed and oq >= needed:
                continue
            if op < needed and oq < needed:
                found.append((p, q))
                continue
            # One crossing; rounded so that no instant short of `duration` is left out.
            width = _micro(q - p)
            if op < needed:  # rising: short until the crossing
                cross = -((-width * (needed - op)) // (oq - op))
                found.append((p, p + timedelta(microseconds=cross)))
            else:  # falling: short after the crossing (at it, exactly enough)
                cross = width * (op - needed) // (op - oq) + 1
                found.append((p + timedelta(microseconds=cross), q))
        return _merge((b, e) for b, e in found if b < e)

    def subtract_open_time(self, end: datetime, duration: timedelta) -> datetime | None:
        """The latest instant t with at least `duration` of open time in [t, end).

        The inverse of `add_open_time`: a post received at t or earlier is due by `end`.
        None when the calendar is not open that long within `HORIZON_DAYS` before `end`.
        """
        moment = _utc(end)
        if self.always:
            return moment - duration
        remaining = duration
        day = moment.toordinal()
        first = max(day - HORIZON_DAYS, _FIRST_SEARCHED_DAY)
        while day >= first:
            intervals = self._buckets.get(day)
            if intervals is None:
                intervals = self._bucket(day)
            if intervals and intervals[-1][1] <= moment:
                # The whole day lies behind: passed at once when its open time is not enough
                # (coverage asks this for every hand-over, each reaching back a whole budget).
                total = self._total(day, intervals)
                if remaining > total:
                    remaining -= total
                    moment = intervals[0][0]
                    day -= 1
                    continue
            for begin, finish in reversed(intervals):
                if begin >= moment:
                    continue
                moment = min(moment, finish)
                available = moment - begin
                if remaining <= available:
                    return moment - remaining
                remaining -= available
                moment = begin
            day -= 1
        return None


class Period:
    """A set of half-open [start, end) absolute windows, e.g. a quiet period over Christmas."""

    __slots__ = ("_ends", "_starts", "name", "windows", "zone")

    def __init__(
        self,
        name: str,
        windows: Sequence[tuple[datetime, datetime]],
        zone: ZoneInfo | None = None,
    ) -> None:
        self.name = name
        self.windows = tuple(windows)
        self.zone = zone or ZoneInfo("UTC")  # the zone its windows were written in
        merged = _merge((_utc(start), _utc(end)) for start, end in self.windows)
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def __repr__(self) -> str:
        return f"Period({self.name!r}, {len(self.windows)} windows)"

    def contains(self, at: datetime) -> bool:
        """Whether instant `at` lies in one of the windows (start included, end excluded)."""
        moment = _utc(at)
        index = bisect_right(self._starts, moment) - 1
        return index >= 0 and moment < self._ends[index]


def _utc(at: datetime) -> datetime:
    """The instant `at` in UTC; a naive datetime is a caller's mistake, not local time."""
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone: give an offset or a zone")
    return at.astimezone(UTC)


def _merge(intervals: Iterable[tuple[_Point, _Point]]) -> list[tuple[_Point, _Point]]:
    """Sorted, non-overlapping intervals; touching ones joined and empty ones dropped."""
    merged: list[tuple[_Point, _Point]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


_LAST_ORDINAL = date.max.toordinal()
_MIDDLE_ORDINAL = _LAST_ORDINAL // 2
# Local dates whose every wall-clock instant lies within datetime's range at any offset.
_MIN_SHIFTED, _MAX_SHIFTED = 2, _LAST_ORDINAL - 1


def _instant(midnight: datetime, minutes: int, beyond: datetime) -> datetime:
    """Local midnight plus wall-clock minutes as an instant; `beyond` if there is no such instant."""
    try:
        # Wall-clock arithmetic on purpose, the one place: `midnight + 150 minutes` is the
        # local boundary 02:30 (fold=0), which is what the opening hours are written in.
        return (midnight + timedelta(minutes=minutes)).astimezone(UTC)
    except OverflowError:
        return beyond


def _weekly(hours: Iterable[OpeningHours]) -> tuple[tuple[Minutes, ...], ...]:
    """For each weekday, the merged local minutes open on a date of that weekday.

    An overnight range contributes its evening to its own weekday and its morning to the next,
    so that the holiday test can look at the local date alone.
    """
    week: list[list[Minutes]] = [[] for _ in range(7)]
    for h in hours:
        if h.end > h.start:
            week[h.weekday].append((h.start, h.end))
        else:
            week[h.weekday].append((h.start, _MINUTES_PER_DAY))
            week[(h.weekday + 1) % 7].append((0, h.end))
    return tuple(tuple(_merge(day)) for day in week)
