"""Durations as policies write them: `30m`, `4h`, `1h30m`, `2d`, `90s`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
# A response time or age beyond a year is a typo, and timedelta overflows long before "forever".
MAX_SECONDS = 366 * 86400
# ASCII digits only: `\d` would also accept other scripts' digits, which no author means.
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_LONGEST = 40


def parse_duration(text: str) -> timedelta:
    """Read `1h30m`-style text; units d, h, m, s each at most once and in that order."""
    written = text.strip()
    match = _DURATION.fullmatch(written)
    if not written or match is None:
        raise ValueError(
            f"'{text}' is not a duration: use units d, h, m, s in that order, e.g. 1h30m"
        )
    if len(written) > _LONGEST:
        raise ValueError(f"'{text}' is longer than a year")
    seconds = sum(
        int(part) * size for part, (_, size) in zip(match.groups(), _UNITS, strict=True) if part
    )
    if seconds <= 0:
        raise ValueError(f"'{text}' is not a positive duration")
    if seconds > MAX_SECONDS:
        raise ValueError(f"'{text}' is longer than a year")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The canonical spelling of a duration: 5400 s -> `1h30m`, 86400 s -> `24h`.

    Hours are the largest unit written: response times are read in hours ("within 24h").
    Fractions of a second are dropped; zero is `0s`.
    """
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {value}")
    remaining = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS[1:]:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
