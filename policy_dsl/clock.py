"""A policy's wall-clock points (`2026-03-29 02:30` in a zone) as instants.

One reading for the compiler and the checker: zoneinfo's with fold=0, so a time the clocks skip
(02:30 on a spring-forward day) is the instant an hour later in summer time, and a time they
repeat is its first occurrence (README, "Time").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def instant(point: tuple[date, int], zone: ZoneInfo) -> datetime:
    """`(day, minutes after midnight)` in `zone`, as an aware UTC datetime."""
    day, minutes = point
    local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minutes)
    # Added to a zoned midnight, the minutes are wall-clock minutes (datetime arithmetic does
    # not cross the offset change): exactly the time as written.
    return local.astimezone(UTC)
