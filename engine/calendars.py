"""Opening hours, holidays and business-time deadlines, correct across daylight-saving changes.

Hours are local wall-clock time in the calendar's IANA zone and half-open: `08:00-18:00` opens at
08:00 and is closed at 18:00. All arithmetic happens in UTC on intervals computed per local date,
so a day that loses or gains an hour at a DST change counts the real hours it has.

Choices (documented in the README):
- A holiday closes its whole local date. An overnight range (`fri 22:00-06:00`) belongs to the
  weekday it starts on, and its part after midnight is closed if that next date is a holiday.
- A local boundary that does not exist (02:30 on the spring-forward day) maps forward, as
  zoneinfo does with fold=0; an ambiguous one (autumn) means its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from policy_dsl.durations import format_duration, parse_duration

__all__ = ["Calendar", "OpeningHours", "Period", "format_duration", "parse_duration"]

MINUTES_PER_DAY = 24 * 60
# How far ahead a deadline is searched before the calendar counts as never opening.
HORIZON_DAYS = 2 * 366
_CACHE_LIMIT = 4096

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Open on `weekday` (0=Monday … 6=Sunday) from `start` to `end` minutes after local midnight, half-open [start, end)."""

    weekday: int
    start: int
    end: int  # 1..1440; end <= start runs overnight into the next day


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


class Calendar:
    """Weekly opening hours in an IANA zone, minus whole-day holidays; or always open (24/7)."""

    __slots__ = ("_days", "_holidays", "_intervals", "always", "name", "zone")

    def __init__(
        self,
        name: str,
        zone: str,
        hours: Sequence[OpeningHours],
        holidays: Iterable[date] = (),
        always: bool = False,
    ) -> None:
        self.name = name
        self.zone = ZoneInfo(zone)
        self.always = always
        self._holidays = frozenset(holidays)
        per_weekday: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for line in hours:
            if line.end > line.start:
                per_weekday[line.weekday].append((line.start, line.end))
            else:  # overnight: the evening on this weekday, the morning on the next
                per_weekday[line.weekday].append((line.start, MINUTES_PER_DAY))
                if line.end > 0:
                    per_weekday[(line.weekday + 1) % 7].append((0, line.end))
        self._days = tuple(_merge(ranges) for ranges in per_weekday)
        self._intervals: dict[date, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        return f"Calendar({self.name!r}, zone={self.zone.key!r}, always={self.always})"

    def intervals(self, day: date) -> tuple[Interval, ...]:
        """The open intervals of one local date, as UTC instants."""
        found = self._intervals.get(day)
        if found is None:
            found = self._compute(day)
            if len(self._intervals) >= _CACHE_LIMIT:
                self._intervals.clear()
            self._intervals[day] = found
        return found

    def _compute(self, day: date) -> tuple[Interval, ...]:
        if day in self._holidays:
            return ()
        result = []
        for start, end in self._days[day.weekday()]:
            begin = self._instant(day, start)
            finish = self._instant(day, end)
            if finish > begin:
                result.append((begin, finish))
        return tuple(result)

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes >= MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), minutes - MINUTES_PER_DAY
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        """Whether the calendar is open at the instant `at` (timezone-aware)."""
        if self.always:
            return True
        moment = at.astimezone(UTC)
        for begin, finish in self.intervals(at.astimezone(self.zone).date()):
            if begin <= moment < finish:
                return True
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself if open, else the next instant the calendar opens; None if never."""
        if self.always:
            return at.astimezone(UTC)
        return self.add_open_time(at, timedelta(0))

    def add_open_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """The deadline: `duration` counted only while open, from `start` (UTC; None if never open)."""
        moment = start.astimezone(UTC)
        if self.always:
            return moment + duration
        remaining = duration
        day = start.astimezone(self.zone).date()
        for _ in range(HORIZON_DAYS):
            for opens, finish in self.intervals(day):
                if finish <= moment:
                    continue
                begin = max(opens, moment)
                available = finish - begin
                if available >= remaining:
                    return begin + remaining
                remaining -= available
                moment = finish
            day += timedelta(days=1)
        return None


class Period:
    """A set of half-open [start, end) absolute windows, e.g. a quiet period over Christmas."""

    __slots__ = ("name", "windows")

    def __init__(self, name: str, windows: Sequence[tuple[datetime, datetime]]) -> None:
        self.name = name
        self.windows = tuple((begin.astimezone(UTC), end.astimezone(UTC)) for begin, end in windows)

    def contains(self, at: datetime) -> bool:
        """Whether `at` lies inside one of the windows."""
        return any(begin <= at < end for begin, end in self.windows)
