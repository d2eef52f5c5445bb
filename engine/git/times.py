"""Commit times as dates, for commits whose time Python's `datetime` cannot hold.

git keeps a commit time as seconds since 1970 and accepts far more than `datetime` covers
(`GIT_COMMITTER_DATE="@253402300800 +0000"` is the year 10000; a crafted object can say
anything up to 2^64 - 1), and an offset such as `+9959` that `timezone` refuses. Such a commit
is a legitimate object in the repository, so it must not make `log` or `--as-of` fail:
comparisons stay on the seconds, and only what is shown becomes a date, clamped to the range
`datetime` covers when it falls outside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(microsecond=0, tzinfo=UTC)


def commit_date(seconds: int, offset_west: float = 0) -> datetime:
    """The date of a commit time in the committer's offset (seconds west of UTC, gitpython's
    sign); a time outside `datetime`'s range is clamped to its first or last second in UTC."""
    zone = _zone(offset_west)
    try:
        return datetime.fromtimestamp(seconds, zone)
    except (ValueError, OverflowError, OSError):
        # Out of range for `datetime` (or for the platform's time_t): clamp, do not fail.
        return LATEST if seconds > 0 else EARLIEST


def describe(seconds: int) -> str:
    """A commit time for a message: its ISO 8601 date in UTC, or, when `datetime` cannot hold
    it, git's own `@seconds` form and the last (or first) date `datetime` can."""
    if seconds > LATEST.timestamp():
        return f"@{seconds}, later than {LATEST.isoformat()}"
    if seconds < EARLIEST.timestamp():
        return f"@{seconds}, earlier than {EARLIEST.isoformat()}"
    return commit_date(seconds).isoformat()


def _zone(offset_west: float) -> tzinfo:
    try:
        return timezone(timedelta(seconds=-offset_west))
    except (ValueError, OverflowError):
        # git takes an offset of up to +9959 hours:minutes; `timezone` stops short of a day.
        return UTC
