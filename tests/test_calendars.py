"""Calendars and periods: opening hours, holidays, DST, deadlines, and durations.

Times without an offset are Vienna wall-clock time (fold=0); the DST cases spell the instant in
UTC (`Z`) where the local time is ambiguous or does not exist. In 2026 Vienna springs forward on
Sunday 03-29 (02:00 -> 03:00) and falls back on Sunday 10-25 (03:00 -> 02:00).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from replygate.engine.calendars import (
    HORIZON_DAYS,
    Calendar,
    OpeningHours,
    Period,
    format_duration,
    parse_duration,
)

VIENNA = ZoneInfo("Europe/Vienna")
ZONE = "Europe/Vienna"
MINUTE = timedelta(minutes=1)
MICROSECOND = timedelta(microseconds=1)
WORKDAYS = range(5)
EVERY_DAY = range(7)
SUNDAY = 6


def at(text: str) -> datetime:
    """An instant: ISO text with an offset as given, without one as Vienna wall-clock time."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=VIENNA)


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def weekly(days: range | tuple[int, ...], *ranges: str) -> list[OpeningHours]:
    """`weekly(WORKDAYS, "08:00-18:00")`, as a policy's `open mon-fri 08:00-18:00` compiles."""
    found = []
    for day in days:
        for text in ranges:
            start, end = text.split("-")
            found.append(OpeningHours(day, hm(start), hm(end)))
    return found


CHRISTMAS = [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)]

CALENDARS = {
    "office": Calendar("office", ZONE, weekly(WORKDAYS, "08:00-18:00"), CHRISTMAS),
    "split": Calendar("split", ZONE, weekly(WORKDAYS, "09:00-12:00", "13:00-17:00")),
    "nested": Calendar("nested", ZONE, weekly(WORKDAYS, "08:00-18:00", "09:00-12:00")),
    # Friday 2026-12-25 is a holiday: its date is closed, its own night's morning (Saturday) is not.
    "night": Calendar("night", ZONE, weekly(EVERY_DAY, "22:00-06:00"), [date(2026, 12, 25)]),
    "allday": Calendar("allday", ZONE, weekly(EVERY_DAY, "00:00-24:00")),
    "sunday": Calendar("sunday", ZONE, weekly((SUNDAY,), "00:00-24:00")),
    # Boundaries inside the DST hour: 02:30 does not exist on 03-29 and occurs twice on 10-25.
    "dst-edges": Calendar("dst-edges", ZONE, weekly((SUNDAY,), "01:30-02:30")),
    "gap": Calendar("gap", ZONE, weekly((SUNDAY,), "02:30-03:15")),
    "gap-start": Calendar("gap-start", ZONE, weekly((SUNDAY,), "02:30-05:00")),
    "always": Calendar("always", ZONE, [], always=True),
    "never": Calendar("never", ZONE, []),
}


def is_utc(moment: datetime | None) -> bool:
    return moment is not None and moment.utcoffset() == timedelta(0)


# ---- is_open ---------------------------------------------------------------------------------

IS_OPEN = [
    # office: Mon-Fri 08:00-18:00, half-open
    ("office", "2026-11-23 08:00", True, "opening time is open"),
    ("office", "2026-11-23 07:59:59.999999", False, "a microsecond before opening"),
    ("office", "2026-11-23 17:59:59.999999", True, "a microsecond before closing"),
    ("office", "2026-11-23 18:00", False, "closing time is closed"),
    ("office", "2026-11-28 10:00", False, "saturday"),
    ("office", "2026-11-29 10:00", False, "sunday"),
    ("office", "2026-12-23 17:00", True, "the day before christmas eve"),
    ("office", "2026-12-24 10:00", False, "holiday"),
    ("office", "2027-01-01 10:00", False, "new year holiday"),
    ("office", "2026-11-23T07:00:00Z", True, "utc input: 08:00 CET"),
    ("office", "2026-11-23T06:59:59Z", False, "utc input: 07:59:59 CET"),
    ("office", "2026-11-23T12:00:00-05:00", False, "new york input: 18:00 CET"),
    ("office", "2026-11-23T11:59:00-05:00", True, "new york input: 17:59 CET"),
    ("office", "2026-10-23T06:00:00Z", True, "friday before fall-back: 08:00 CEST"),
    ("office", "2026-10-26T06:30:00Z", False, "monday after fall-back: 07:30 CET"),
    ("office", "2026-10-26T07:00:00Z", True, "monday after fall-back: 08:00 CET"),
    ("office", "2026-03-30T05:59:00Z", False, "monday after spring-forward: 07:59 CEST"),
    ("office", "2026-03-30T06:00:00Z", True, "monday after spring-forward: 08:00 CEST"),
    # split: two intervals a day
    ("split", "2026-11-23 11:59", True, "morning"),
    ("split", "2026-11-23 12:00", False, "lunch starts"),
    ("split", "2026-11-23 12:30", False, "lunch"),
    ("split", "2026-11-23 13:00", True, "afternoon opens"),
    ("split", "2026-11-23 17:00", False, "evening"),
    ("nested", "2026-11-23 15:00", True, "a range inside another does not cut it short"),
    ("nested", "2026-11-23 18:00", False, "the outer range closes"),
    # night: every day 22:00-06:00; Friday 2026-12-25 a holiday
    ("night", "2026-11-23 21:59", False, "before the night"),
    ("night", "2026-11-23 22:00", True, "the night opens"),
    ("night", "2026-11-24 00:00", True, "midnight"),
    ("night", "2026-11-24 05:59", True, "early morning"),
    ("night", "2026-11-24 06:00", False, "the night closes"),
    ("night", "2026-11-30 03:00", True, "sunday's night runs into monday"),
    ("night", "2026-12-24 23:59", True, "christmas eve's night, before midnight"),
    ("night", "2026-12-25 00:00", False, "the same night on the holiday's date"),
    ("night", "2026-12-25 05:00", False, "holiday morning"),
    ("night", "2026-12-25 22:00", False, "the holiday's own night, before midnight"),
    ("night", "2026-12-26 00:00", True, "the holiday's own night, after midnight"),
    ("night", "2026-03-29T03:59:00Z", True, "spring-forward morning: 05:59 CEST"),
    ("night", "2026-03-29T04:00:00Z", False, "spring-forward morning: 06:00 CEST"),
    ("night", "2026-03-29T19:59:00Z", False, "spring-forward evening: 21:59 CEST"),
    ("night", "2026-03-29T20:00:00Z", True, "spring-forward evening: 22:00 CEST"),
    ("night", "2026-10-25T04:59:00Z", True, "fall-back morning: 05:59 CET"),
    ("night", "2026-10-25T05:00:00Z", False, "fall-back morning: 06:00 CET"),
    ("night", "2026-10-25T20:59:00Z", False, "fall-back evening: 21:59 CET"),
    ("night", "2026-10-25T21:00:00Z", True, "fall-back evening: 22:00 CET"),
    # allday / sunday: 00:00-24:00
    ("allday", "2026-03-29T01:30:00Z", True, "spring-forward: 03:30 CEST"),
    ("allday", "2026-10-25T00:30:00Z", True, "fall-back: first 02:30"),
    ("allday", "2026-10-25T01:30:00Z", True, "fall-back: second 02:30"),
    ("sunday", "2026-11-29 23:59:59.999999", True, "end=1440 runs to midnight"),
    ("sunday", "2026-11-30 00:00", False, "24:00 is closed"),
    ("sunday", "2026-11-29 00:00", True, "00:00 is open"),
    # dst-edges: Sunday 01:30-02:30
    ("dst-edges", "2026-03-29T00:29:00Z", False, "spring: 01:29 CET"),
    ("dst-edges", "2026-03-29T00:30:00Z", True, "spring: 01:30 CET"),
    ("dst-edges", "2026-03-29T01:29:00Z", True, "spring: 03:29 CEST, the end moved forward"),
    ("dst-edges", "2026-03-29T01:30:00Z", False, "spring: 03:30 CEST, the nonexistent 02:30"),
    ("dst-edges", "2026-10-24T23:29:00Z", False, "fall: 01:29 CEST"),
    ("dst-edges", "2026-10-24T23:30:00Z", True, "fall: 01:30 CEST"),
    ("dst-edges", "2026-10-25T00:29:00Z", True, "fall: first 02:29 CEST"),
    ("dst-edges", "2026-10-25T00:30:00Z", False, "fall: first 02:30 CEST closes"),
    ("dst-edges", "2026-10-25T01:00:00Z", False, "fall: second 02:00 CET stays closed"),
    ("dst-edges", "2026-10-25T01:15:00Z", False, "fall: second 02:15 CET stays closed"),
    ("dst-edges", "2026-11-01T00:30:00Z", True, "ordinary sunday: 01:30 CET"),
    ("dst-edges", "2026-11-01T01:29:00Z", True, "ordinary sunday: 02:29 CET"),
    ("dst-edges", "2026-11-01T01:30:00Z", False, "ordinary sunday: 02:30 CET"),
    # gap: Sunday 02:30-03:15, empty on spring-forward day (03:30 CEST to 03:15 CEST)
    ("gap", "2026-03-29T01:00:00Z", False, "spring: 03:00 CEST"),
    ("gap", "2026-03-29T01:10:00Z", False, "spring: 03:10 CEST"),
    ("gap", "2026-03-29T01:30:00Z", False, "spring: 03:30 CEST"),
    ("gap", "2026-11-01T01:30:00Z", True, "ordinary sunday: 02:30 CET"),
    ("gap", "2026-11-01T02:14:00Z", True, "ordinary sunday: 03:14 CET"),
    ("gap", "2026-11-01T02:15:00Z", False, "ordinary sunday: 03:15 CET"),
    # gap-start: Sunday 02:30-05:00 opens at 03:30 CEST on the spring-forward day
    ("gap-start", "2026-03-29T01:00:00Z", False, "spring: 03:00 CEST"),
    ("gap-start", "2026-03-29T01:29:59Z", False, "spring: 03:29:59 CEST"),
    ("gap-start", "2026-03-29T01:30:00Z", True, "spring: 03:30 CEST"),
    ("gap-start", "2026-03-29T02:59:00Z", True, "spring: 04:59 CEST"),
    ("gap-start", "2026-03-29T03:00:00Z", False, "spring: 05:00 CEST"),
    # always / never
    ("always", "2026-12-25 03:00", True, "always is open on holidays at night"),
    ("always", "2026-03-29T01:30:00Z", True, "always is open in the DST gap"),
    ("never", "2026-11-23 10:00", False, "no hours: never open"),
]


@pytest.mark.parametrize(
    ("calendar", "moment", "expected"),
    [pytest.param(c, m, e, id=f"{c}: {note}") for c, m, e, note in IS_OPEN],
)
def test_is_open(calendar: str, moment: str, expected: bool) -> None:
    assert CALENDARS[calendar].is_open(at(moment)) is expected


# ---- add_open_time ---------------------------------------------------------------------------

DEADLINES = [
    # office: Mon-Fri 08:00-18:00, holidays 12-24, 12-25, 12-26, 01-01
    ("office", "2026-11-23 14:00", "4h", "2026-11-23 18:00", "budget ends at closing: closing"),
    ("office", "2026-11-23 14:00", "4h1m", "2026-11-24 08:01", "a minute past closing"),
    ("office", "2026-11-27 17:30", "4h", "2026-11-30 11:30", "friday evening over a weekend"),
    ("office", "2026-12-23 16:00", "4h", "2026-12-28 10:00", "over christmas and a weekend"),
    ("office", "2026-12-31 17:00", "2h", "2027-01-04 09:00", "over new year and a weekend"),
    ("office", "2026-11-28 10:00", "30m", "2026-11-30 08:30", "received on saturday"),
    ("office", "2026-11-23 06:00", "1h", "2026-11-23 09:00", "received before opening"),
    ("office", "2026-11-23 08:00", "10h", "2026-11-23 18:00", "a whole day from opening"),
    ("office", "2026-11-23 18:00", "1m", "2026-11-24 08:01", "received at closing time"),
    ("office", "2026-11-23 08:00", "2d", "2026-11-27 16:00", "48h of office time"),
    ("office", "2026-11-23 10:00:00.5", "90s", "2026-11-23 10:01:30.5", "sub-second start"),
    ("office", "2026-10-23 17:00", "2h", "2026-10-26 09:00", "over the fall-back weekend"),
    ("office", "2026-03-27 17:00", "2h", "2026-03-30 09:00", "over the spring-forward weekend"),
    ("office", "2026-11-27T16:30:00Z", "4h", "2026-11-30 11:30", "utc input"),
    ("office", "2026-11-23T14:00:00-05:00", "1h", "2026-11-24 09:00", "new york input: 20:00"),
    # split: 09:00-12:00, 13:00-17:00
    ("split", "2026-11-23 11:00", "1h", "2026-11-23 12:00", "ends at lunch: lunch"),
    ("split", "2026-11-23 11:00", "1h1m", "2026-11-23 13:01", "a minute over lunch"),
    ("split", "2026-11-23 12:00", "4h", "2026-11-23 17:00", "received at lunch"),
    ("split", "2026-11-23 16:00", "2h", "2026-11-24 10:00", "into the next day"),
    ("split", "2026-11-23 09:00", "7h", "2026-11-23 17:00", "a whole split day"),
    # night: 22:00-06:00 every day, 2026-12-25 a holiday
    ("night", "2026-11-23 23:00", "2h", "2026-11-24 01:00", "across midnight"),
    ("night", "2026-11-23 05:00", "2h", "2026-11-23 23:00", "morning, then the same evening"),
    ("night", "2026-12-24 23:00", "2h", "2026-12-26 01:00", "the holiday date is skipped"),
    # allday / sunday: real hours on DST days
    ("allday", "2026-03-29 00:00", "23h", "2026-03-30 00:00", "spring-forward day: 23h"),
    ("allday", "2026-10-25 00:00", "25h", "2026-10-26 00:00", "fall-back day: 25h"),
    ("allday", "2026-10-24 12:00", "24h", "2026-10-25 11:00", "24 real hours over fall-back"),
    ("sunday", "2026-03-29 00:00", "23h", "2026-03-30 00:00", "the short sunday holds 23h"),
    ("sunday", "2026-03-29 00:00", "24h", "2026-04-05 01:00", "but not 24h"),
    ("sunday", "2026-10-25 00:00", "25h", "2026-10-26 00:00", "the long sunday holds 25h"),
    ("sunday", "2026-10-25 00:00", "25h1m", "2026-11-01 00:01", "but not 25h1m"),
    # boundaries inside the DST hour
    ("dst-edges", "2026-03-29 00:00", "1h", "2026-03-29T01:30:00Z", "spring: 01:30 to 03:30"),
    ("dst-edges", "2026-10-24T23:00:00Z", "1h", "2026-10-25T00:30:00Z", "fall: to first 02:30"),
    ("dst-edges", "2026-10-24T23:00:00Z", "61m", "2026-11-01T00:31:00Z", "fall: second skipped"),
    ("gap", "2026-03-29 00:00", "1m", "2026-04-05T00:31:00Z", "empty on spring-forward day"),
    ("gap-start", "2026-03-29 00:00", "1m", "2026-03-29T01:31:00Z", "opens 03:30 CEST"),
    # always: real time, DST included
    ("always", "2026-10-24T12:00:00+02:00", "24h", "2026-10-25T10:00:00Z", "real 24h"),
    ("always", "2026-12-24 22:00", "30m", "2026-12-24 22:30", "no holidays"),
]


@pytest.mark.parametrize(
    ("calendar", "start", "within", "expected"),
    [pytest.param(c, s, w, e, id=f"{c}: {note}") for c, s, w, e, note in DEADLINES],
)
def test_add_open_time(calendar: str, start: str, within: str, expected: str) -> None:
    due = CALENDARS[calendar].add_open_time(at(start), parse_duration(within))
    assert due == at(expected)
    assert is_utc(due)


NEXT_OPENING = [
    ("office", "2026-11-23 10:00", "2026-11-23 10:00", "open: itself"),
    ("office", "2026-11-23 08:00", "2026-11-23 08:00", "at opening: itself"),
    ("office", "2026-11-23 18:00", "2026-11-24 08:00", "at closing: tomorrow"),
    ("office", "2026-11-27 18:00", "2026-11-30 08:00", "friday evening: monday"),
    ("office", "2026-12-23 18:00", "2026-12-28 08:00", "over christmas"),
    ("split", "2026-11-23 12:30", "2026-11-23 13:00", "after lunch"),
    ("night", "2026-12-25 00:00", "2026-12-26 00:00", "after the holiday's date"),
    ("gap", "2026-03-29 00:00", "2026-04-05T00:30:00Z", "a week on: empty that sunday"),
    ("always", "2026-12-25 03:00", "2026-12-25 03:00", "always: itself"),
]


@pytest.mark.parametrize(
    ("calendar", "moment", "expected"),
    [pytest.param(c, m, e, id=f"{c}: {note}") for c, m, e, note in NEXT_OPENING],
)
def test_next_opening(calendar: str, moment: str, expected: str) -> None:
    opens = CALENDARS[calendar].next_opening(at(moment))
    assert opens == at(expected)
    assert is_utc(opens)
    # duration 0 is the next opening, by definition
    assert CALENDARS[calendar].add_open_time(at(moment), timedelta(0)) == opens


class TestNeverOpens:
    """The engine fails closed on None, so None must come back rather than a loop or a crash."""

    def test_no_hours(self) -> None:
        never = CALENDARS["never"]
        assert never.add_open_time(at("2026-11-23 10:00"), timedelta(hours=4)) is None
        assert never.next_opening(at("2026-11-23 10:00")) is None

    def test_holidays_past_the_horizon(self) -> None:
        first_monday = date(2026, 11, 23)
        mondays = [first_monday + timedelta(weeks=n) for n in range(HORIZON_DAYS // 7 + 2)]
        closed = Calendar("closed", ZONE, weekly((0,), "08:00-18:00"), mondays)
        assert closed.add_open_time(at("2026-11-23 10:00"), timedelta(hours=1)) is None
        assert closed.next_opening(at("2026-11-23 10:00")) is None

    def test_holidays_within_the_horizon(self) -> None:
        first_monday = date(2026, 11, 23)
        mondays = [first_monday + timedelta(weeks=n) for n in range(52)]
        closed = Calendar("closed", ZONE, weekly((0,), "08:00-18:00"), mondays)
        assert closed.next_opening(at("2026-11-23 10:00")) == at("2027-11-22 08:00")

    def test_budget_larger_than_the_horizon(self) -> None:
        assert CALENDARS["office"].add_open_time(at("2026-11-23"), timedelta(days=999)) is None

    def test_a_deadline_just_past_731_days_cannot_be_computed(self) -> None:
        # README: business time that would run out more than 731 days after the post. The
        # search used to accept anything up to the end of the UTC day 731 days later.
        thursdays = Calendar("thursdays", "UTC", weekly((3,), "20:00-21:00"))
        start = datetime(2026, 3, 2, 7, tzinfo=UTC)  # a Monday; 731 days later is a Thursday
        hours = sum(
            1
            for n in range(HORIZON_DAYS + 1)
            if (start + timedelta(days=n)).weekday() == 3 and n < HORIZON_DAYS
        )
        assert thursdays.add_open_time(start, timedelta(hours=hours)) == datetime(
            2028, 2, 24, 21, tzinfo=UTC
        )
        assert thursdays.add_open_time(start, timedelta(hours=hours + 1)) is None
        exactly = Calendar("mondays", "UTC", weekly((3,), "06:00-07:00"))
        due = exactly.add_open_time(start, timedelta(hours=hours + 1))
        assert due == start + timedelta(days=HORIZON_DAYS)  # exactly 731 days: still computed

    def test_always_past_the_end_of_time(self) -> None:
        end = datetime(9999, 12, 30, tzinfo=UTC)
        assert CALENDARS["always"].add_open_time(end, timedelta(days=10)) is None

    # The first and last two UTC days were treated as closed whatever the hours, so a rule
    # `deny … when now in office` did not fire there (found by probing the API).
    def test_the_ends_of_time_follow_the_hours(self) -> None:
        allday = CALENDARS["allday"]
        first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        assert allday.is_open(first)
        assert allday.is_open(last)
        assert allday.add_open_time(last, timedelta(hours=1)) is None

    @pytest.mark.parametrize(
        ("at", "open_"),
        [
            # 0001-01-01 is a Monday; Vienna is UTC+1 in winter (LMT +01:05 before 1893).
            (datetime(1, 1, 1, 7, 0, tzinfo=UTC), True),
            (datetime(1, 1, 1, 6, 0, tzinfo=UTC), False),
            (datetime(1, 1, 2, 11, 0, tzinfo=UTC), True),
            (datetime(1, 1, 6, 11, 0, tzinfo=UTC), False),  # Saturday
            (datetime(9999, 12, 30, 11, 0, tzinfo=UTC), True),  # Thursday
            (datetime(9999, 12, 31, 11, 0, tzinfo=UTC), True),
            (datetime(9999, 12, 31, 20, 0, tzinfo=UTC), False),
        ],
    )
    def test_office_hours_hold_at_the_ends_of_time(self, at: datetime, open_: bool) -> None:
        office = Calendar("office", "Europe/Vienna", [OpeningHours(d, 480, 1080) for d in range(5)])
        assert office.is_open(at) is open_


class TestInvalid:
    @pytest.mark.parametrize(
        ("weekday", "start", "end", "message"),
        [
            (7, 0, 60, "weekday 7"),
            (-1, 0, 60, "weekday -1"),
            (0, -1, 60, "opening time -1"),
            (0, 1440, 60, "opening time 1440"),
            (0, 0, 0, "closing time 0"),
            (0, 0, 1441, "closing time 1441"),
        ],
    )
    def test_opening_hours_out_of_range(
        self, weekday: int, start: int, end: int, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            OpeningHours(weekday, start, end)

    def test_always_with_hours(self) -> None:
        with pytest.raises(ValueError, match="open always"):
            Calendar("x", ZONE, weekly((0,), "08:00-18:00"), always=True)

    def test_unknown_zone(self) -> None:
        with pytest.raises(KeyError):
            Calendar("x", "Europe/Atlantis", [])

    @pytest.mark.parametrize("calendar", ["office", "always"])
    def test_naive_datetimes(self, calendar: str) -> None:
        naive = datetime(2026, 11, 23, 10)
        with pytest.raises(ValueError, match="no time zone"):
            CALENDARS[calendar].is_open(naive)
        with pytest.raises(ValueError, match="no time zone"):
            CALENDARS[calendar].add_open_time(naive, timedelta(hours=1))
        with pytest.raises(ValueError, match="no time zone"):
            Period("p", []).contains(naive)

    def test_negative_duration(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            CALENDARS["office"].add_open_time(at("2026-11-23 10:00"), timedelta(hours=-1))


def test_holidays_given_as_datetimes_close_their_date() -> None:
    calendar = Calendar("c", ZONE, weekly(WORKDAYS, "08:00-18:00"), [datetime(2026, 12, 24, 15)])
    assert not calendar.is_open(at("2026-12-24 10:00"))


def test_how_ranges_are_split_does_not_matter() -> None:
    whole = Calendar("whole", ZONE, weekly((SUNDAY,), "01:00-04:00"))
    pieces = Calendar(
        "pieces", ZONE, weekly((SUNDAY,), "01:00-02:30", "02:00-03:15", "03:15-04:00")
    )
    sunday = at("2026-03-29 00:00")
    for minutes in range(0, 300, 5):
        moment = sunday + timedelta(minutes=minutes)
        assert whole.is_open(moment) == pieces.is_open(moment), moment


# ---- periods ---------------------------------------------------------------------------------

QUIET = Period(
    "christmas-quiet",
    [
        (at("2026-12-24 00:00"), at("2026-12-27 00:00")),
        (at("2026-12-26 12:00"), at("2026-12-28 00:00")),  # overlaps the first
        (at("2026-12-31T12:00:00Z"), at("2027-01-01T12:00:00Z")),
        (at("2026-12-30 00:00"), at("2026-12-30 00:00")),  # empty
    ],
)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-12-23 23:59:59.999999", False),
        ("2026-12-24 00:00", True),
        ("2026-12-23T23:00:00Z", True),
        ("2026-12-27 00:00", True),
        ("2026-12-27 23:59", True),
        ("2026-12-28 00:00", False),
        ("2026-12-30 00:00", False),
        ("2026-12-31T11:59:59Z", False),
        ("2026-12-31T12:00:00Z", True),
        ("2027-01-01T11:59:59Z", True),
        ("2027-01-01T12:00:00Z", False),
    ],
)
def test_period_contains(moment: str, expected: bool) -> None:
    assert QUIET.contains(at(moment)) is expected


def test_empty_period() -> None:
    assert not Period("none", []).contains(at("2026-12-24 00:00"))


# ---- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("4h", 14400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("90s", 90),
        ("1d12h", 129600),
        ("1d2h3m4s", 93784),
        ("0h1m", 60),
        ("366d", 366 * 86400),
        (" 4h ", 14400),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a duration"),
        ("h", "not a duration"),
        ("4", "not a duration"),
        ("4x", "not a duration"),
        ("4 h", "not a duration"),
        ("1.5h", "not a duration"),
        ("-4h", "not a duration"),
        ("30m4h", "not a duration"),
        ("4h4h", "not a duration"),
        ("4H", "not a duration"),
        ("\u0663h", "not a duration"),
        ("0m", "not a positive duration"),
        ("0d0h0m0s", "not a positive duration"),
        ("367d", "longer than a year: a duration is at most 366d"),
        ("99999999999d", "longer than a year"),
        ("1" * 5000 + "h", "longer than a year"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5400, "1h30m"),
        (86400, "24h"),
        (90, "1m30s"),
        (129600, "36h"),
        (1800, "30m"),
        (1, "1s"),
        (1.5, "1s"),
        (0, "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_format_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.integers(min_value=1, max_value=366 * 86400))
def test_format_duration_is_the_inverse(seconds: int) -> None:
    text = format_duration(timedelta(seconds=seconds))
    assert parse_duration(text) == timedelta(seconds=seconds)


# ---- properties ------------------------------------------------------------------------------

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Weeks around both DST changes, ordinary November and Christmas, as UTC midnights.
BASE_DAYS = [
    datetime(2026, 3, 25, tzinfo=UTC),
    datetime(2026, 10, 21, tzinfo=UTC),
    datetime(2026, 11, 18, tzinfo=UTC),
    datetime(2026, 12, 20, tzinfo=UTC),
]
HOLIDAY_POOL = [
    date(2026, 3, 27),
    date(2026, 3, 29),
    date(2026, 3, 30),
    date(2026, 10, 25),
    date(2026, 10, 26),
    date(2026, 11, 20),
    date(2026, 11, 23),
    *CHRISTMAS,
]


def in_dst_hour(minute: int) -> bool:
    """02:00-03:00, where Vienna's clocks change: a boundary there is a DST corner case."""
    return 120 <= minute < 180


@st.composite
def calendars(draw: st.DrawFn, avoid_dst_hour: bool = False) -> Calendar:
    """1-3 ranges (1h-15h, some overnight) on 2-7 weekdays, and up to 4 holidays."""
    days = draw(st.sets(st.integers(0, 6), min_size=2, max_size=7))
    hours: list[OpeningHours] = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 1439))
        end = (start + draw(st.integers(60, 900)) - 1) % 1440 + 1
        if not (avoid_dst_hour and (in_dst_hour(start) or in_dst_hour(end))):
            hours.extend(OpeningHours(day, start, end) for day in days)
    assume(hours)
    holidays = draw(st.sets(st.sampled_from(HOLIDAY_POOL), max_size=4))
    return Calendar("generated", ZONE, hours, holidays)


def instants(step: timedelta = MICROSECOND) -> st.SearchStrategy[datetime]:
    """Instants in the weeks of BASE_DAYS, `step`-granular, in UTC, Vienna or New York time."""
    zones = st.sampled_from([UTC, VIENNA, ZoneInfo("America/New_York")])
    steps = st.integers(0, timedelta(days=9) // step)
    return st.builds(
        lambda base, n, zone: (base + n * step).astimezone(zone),
        st.sampled_from(BASE_DAYS),
        steps,
        zones,
    )


def durations(
    step: timedelta = MICROSECOND, most: timedelta = timedelta(hours=12)
) -> st.SearchStrategy[timedelta]:
    return st.integers(1, most // step).map(lambda n: n * step)


def reference_open(
    hours: Sequence[OpeningHours], holidays: frozenset[date], moment: datetime
) -> bool:
    """Brute force: is the local wall-clock minute of `moment` inside the calendar's hours?

    Wall-clock membership and mapped boundaries agree unless a boundary lies in the DST hour,
    which is why the generated calendars checked against it avoid that hour.
    """
    local = moment.astimezone(VIENNA)
    today = local.date()
    if today in holidays:
        return False
    minute = local.hour * 60 + local.minute
    yesterday = (today.weekday() - 1) % 7
    for h in hours:
        if h.end > h.start:
            if h.weekday == today.weekday() and h.start <= minute < h.end:
                return True
        elif (h.weekday == today.weekday() and minute >= h.start) or (
            h.weekday == yesterday and minute < h.end
        ):
            return True
    return False


@PROPERTY
@given(calendars(avoid_dst_hour=True), instants(MINUTE), durations(MINUTE, timedelta(hours=8)))
def test_deadline_matches_minute_stepping_reference(
    calendar: Calendar, start: datetime, within: timedelta
) -> None:
    due = calendar.add_open_time(start, within)
    assert due is not None
    assume(due - start <= timedelta(days=21))
    counted = timedelta(0)
    moment = start.astimezone(UTC)  # stepping a Vienna datetime would step wall-clock time
    while moment < due:
        expected = reference_open(calendar.hours, calendar.holidays, moment)
        assert calendar.is_open(moment) == expected, moment
        counted += MINUTE if expected else timedelta(0)
        moment += MINUTE
    assert counted == within
    # the deadline is the earliest instant with that much open time behind it
    assert reference_open(calendar.hours, calendar.holidays, due - MINUTE)


@PROPERTY
@given(calendars(), instants(), durations())
def test_deadline_is_never_before_real_time_and_open_just_before(
    calendar: Calendar, start: datetime, within: timedelta
) -> None:
    due = calendar.add_open_time(start, within)
    assert due is not None
    assert is_utc(due)
    assert due >= start.astimezone(UTC) + within
    assert calendar.is_open(due - MICROSECOND)


@PROPERTY
@given(calendars(), instants(), durations(), durations())
def test_deadlines_add_up(
    calendar: Calendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    halfway = calendar.add_open_time(start, first)
    assert halfway is not None
    assert calendar.add_open_time(halfway, second) == calendar.add_open_time(start, first + second)


@PROPERTY
@given(calendars(), instants(), instants(), durations())
def test_later_start_never_gives_earlier_deadline(
    calendar: Calendar, one: datetime, other: datetime, within: timedelta
) -> None:
    # Aware datetimes in one zone compare by wall-clock time, so order them in UTC.
    early, late = sorted([one, other], key=lambda moment: moment.astimezone(UTC))
    first, second = calendar.add_open_time(early, within), calendar.add_open_time(late, within)
    assert first is not None
    assert second is not None
    assert first <= second


@PROPERTY
@given(calendars(), instants())
def test_next_opening_is_the_first_open_instant(calendar: Calendar, moment: datetime) -> None:
    opens = calendar.next_opening(moment)
    assert opens is not None
    assert is_utc(opens)
    assert opens >= moment
    assert calendar.is_open(opens)
    # `==` across zones is never true for a local time in a DST fold (PEP 495): compare in UTC.
    assert (opens == moment.astimezone(UTC)) == calendar.is_open(moment)
    if opens > moment:
        assert not calendar.is_open(opens - MICROSECOND)


@PROPERTY
@given(instants(), durations(most=timedelta(days=30)))
def test_always_counts_real_time(start: datetime, within: timedelta) -> None:
    due = CALENDARS["always"].add_open_time(start, within)
    # In UTC: `start + within` on a Vienna datetime would add wall-clock time across DST.
    assert due == start.astimezone(UTC) + within
    assert is_utc(due)


@PROPERTY
@given(calendars(), instants())
def test_offset_of_the_input_does_not_matter(calendar: Calendar, moment: datetime) -> None:
    in_utc = moment.astimezone(UTC)
    in_tokyo = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    assert calendar.is_open(in_utc) == calendar.is_open(in_tokyo)
    hour = timedelta(hours=1)
    assert calendar.add_open_time(in_utc, hour) == calendar.add_open_time(in_tokyo, hour)


@PROPERTY
@given(st.lists(st.tuples(instants(), durations(most=timedelta(days=2))), max_size=6), instants())
def test_period_matches_its_windows(
    windows: list[tuple[datetime, timedelta]], moment: datetime
) -> None:
    pairs = [
        (start, (start.astimezone(UTC) + length).astimezone(start.tzinfo))
        for start, length in windows
    ]
    period = Period("p", pairs)
    instant = moment.astimezone(UTC)
    expected = any(start.astimezone(UTC) <= instant < end.astimezone(UTC) for start, end in pairs)
    assert period.contains(moment) == expected


# ---- unreachable: where no deadline can be computed -----------------------------------------


def _open_time(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    return sum((e - b for b, e in calendar.open_intervals(start, end)), timedelta(0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calendars(),
    st.sampled_from(BASE_DAYS),
    st.integers(1, 9 * 24 * 60),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
    st.lists(st.integers(0, 10**6), min_size=5, max_size=5),
)
def test_unreachable_is_exactly_where_add_open_time_finds_no_deadline(
    calendar: Calendar, base: datetime, minutes: int, shift: int, picks: list[int]
) -> None:
    """A response time about as long as the calendar is open in HORIZON_DAYS: some arrivals of
    the window have a deadline and some do not; `unreachable` tells them apart to the µs."""
    end = base + timedelta(minutes=minutes)
    within = _open_time(calendar, base, base + timedelta(days=HORIZON_DAYS))
    within += timedelta(minutes=shift)
    assume(within > timedelta(0))
    short = calendar.unreachable(base, end, within)

    def in_short(moment: datetime) -> bool:
        return any(b <= moment < e for b, e in short)

    probes = [base + (end - base) * pick // 10**6 for pick in picks]
    for b, e in short:  # each edge and its neighbours
        probes += [b - MICROSECOND, b, e - MICROSECOND, e]
    for moment in probes:
        if base <= moment < end:
            assert (calendar.add_open_time(moment, within) is None) == in_short(moment), moment


def test_unreachable_of_a_short_response_time_and_of_a_calendar_that_never_opens() -> None:
    office = Calendar("office", ZONE, [OpeningHours(day, 480, 1080) for day in WORKDAYS])
    start, end = at("2027-01-04 00:00"), at("2027-01-11 00:00")
    assert office.unreachable(start, end, timedelta(hours=4)) == []
    # 366 days of office time is about three and a half years of office hours: none in reach.
    assert office.unreachable(start, end, timedelta(days=366)) == [
        (start.astimezone(UTC), end.astimezone(UTC))
    ]
    closed = Calendar("closed", ZONE, [])
    assert closed.unreachable(start, end, timedelta(hours=1)) == [
        (start.astimezone(UTC), end.astimezone(UTC))
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Vienna", "America/St_Johns"])
def test_a_calendar_of_many_ranges_counts_a_long_budget_as_its_intervals_do(zone: str) -> None:
    """Whole days are passed at once when their open time is not enough, and a day's ranges
    are converted at one offset when it has no change (720 ranges a day and a 52-week budget
    took 11 s a check, and coverage hours). Checked against the open intervals summed."""
    hours = [
        OpeningHours(day, minute, minute + 7) for day in range(6) for minute in range(0, 1440, 48)
    ]
    calendar = Calendar("dense", zone, hours, holidays=[date(2026, 4, 6)])
    for start in (
        datetime(2026, 3, 20, 10, 3, tzinfo=UTC),
        datetime(2026, 10, 20, 23, 59, tzinfo=UTC),
    ):
        for budget in (timedelta(minutes=5), timedelta(hours=30), timedelta(days=9, minutes=1)):
            due = calendar.add_open_time(start, budget)
            assert due is not None
            spent = sum((e - b for b, e in calendar.open_intervals(start, due)), timedelta())
            assert spent == budget, (start, budget)
            # Not a moment later: the budget runs out at `due`, inside or at the end of a range.
            assert calendar.is_open(due - timedelta(microseconds=1))
            back = calendar.subtract_open_time(due, budget)
            assert back is not None
            assert (
                sum((e - b for b, e in calendar.open_intervals(back, due)), timedelta()) == budget
            )
            # The latest such instant: no open time between it and the start of the count.
            assert not calendar.open_intervals(min(back, start), max(back, start))
