"""Durations as policies write them: `30m`, `4h`, `1h30m`, `2d`, `1w`, `90s`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
# A response time or age beyond a year is a typo, and timedelta overflows long before "forever".
MAX_SECONDS = 366 * 86400
# ASCII digits only: `\d` would also accept other scripts' digits, which no author means.
_DURATION = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_LONGEST = 40


def parse_duration(text: str) -> timedelta:
    """Read `1h30m`-style text; units w, d, h, m, s each at most once and in that order."""
    written = text.strip()
    match = _DURATION.fullmatch(written)
    if not written or match is None:
        raise ValueError(
            f"'{text}' is not a duration: use units w, d, h, m, s in that order, e.g. 1h30m"
        )
    if len(written) > _LONGEST:
        raise ValueError(_too_long(text))
    seconds = sum(
        int(part) * size for part, (_, size) in zip(match.groups(), _UNITS, strict=True) if part
    )
    if seconds <= 0:
        raise ValueError(f"'{text}' is not a positive duration")
    if seconds > MAX_SECONDS:
        raise ValueError(_too_long(text))
    return timedelta(seconds=seconds)


def _too_long(text: str) -> str:
    return f"'{text}' is longer than a year: a duration is at most 366d"


def format_duration(value: timedelta) -> str:
    """The canonical spelling of a duration: 5400 s -> `1h30m`, 86400 s -> `24h`.

    Hours are the largest unit written: response times are read in hours ("within 24h").
    Fractions of a second are dropped; zero is `0s`.
    """
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {value}")
    remaining = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS[2:]:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def split_duration(text: str) -> tuple[int, int]:
    """`1w`, `2d12h` as (local calendar days, elapsed seconds): what a rotation length means.

    Weeks and days count local calendar days (a handoff stays at 08:00 across a daylight-saving
    change); hours, minutes and seconds are elapsed time. Raises `ValueError` like
    `parse_duration`.
    """
    total = parse_duration(text)
    match = _DURATION.fullmatch(text.strip())
    if match is None:  # pragma: no cover - parse_duration accepted the same text
        raise ValueError(f"'{text}' is not a duration")
    weeks, days = (int(part or 0) for part in match.groups()[:2])
    calendar_days = weeks * 7 + days
    return calendar_days, int(total.total_seconds()) - calendar_days * 86400
