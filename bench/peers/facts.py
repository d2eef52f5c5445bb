"""The parts of the example policy that every peer shares: the team, the calendar, the clock.

The floor reads these tables directly. Cedar and Casbin cannot count business hours, compute a
deadline or (Cedar) match a regular expression, so they receive what this module computes as
request attributes ("precomputed facts", see bench/peers/README.md). Keeping one copy here means
the peers disagree only where their policy translations do, never over a calendar.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from replygate.engine.calendars import Calendar, OpeningHours

# ---- the team (policies/team.policy) ---------------------------------------------------------

# Each role and the roles it inherits directly.
ROLE_PARENTS: dict[str, tuple[str, ...]] = {
    "agent": (),
    "senior_agent": ("agent",),
    "comms_lead": ("senior_agent",),
    "legal": (),
    "marketing": (),
    "product_manager": (),
}
PEOPLE: dict[str, tuple[str, ...]] = {
    "alice": ("agent",),
    "bob": ("agent",),
    "carol": ("senior_agent",),
    "dave": ("comms_lead",),
    "erin": ("legal",),
    "frank": ("marketing",),
    "grace": ("product_manager",),
    "heidi": ("agent", "legal"),
}
GROUPS: dict[str, tuple[str, ...]] = {"care-team": ("agent",)}
CHANNELS = ("twitter", "facebook", "instagram", "linkedin")


def _closure(role: str) -> frozenset[str]:
    held = {role}
    for parent in ROLE_PARENTS.get(role, ()):
        held |= _closure(parent)
    return frozenset(held)


# Every role a holder of the key role holds too (the key included).
ROLE_CLOSURE: dict[str, frozenset[str]] = {role: _closure(role) for role in ROLE_PARENTS}


@lru_cache(maxsize=4096)
def roles_of(person: str, groups: tuple[str, ...] = ()) -> frozenset[str]:
    """Every role a person holds: assigned to them or to their directory groups, and inherited."""
    held: set[str] = set()
    for role in PEOPLE.get(person, ()):
        held |= ROLE_CLOSURE[role]
    for group in groups:
        for role in GROUPS.get(group, ()):
            held |= ROLE_CLOSURE[role]
    return frozenset(held)


# ---- calendars and response times (policies/hours.policy) ----------------------------------

HOLIDAYS = (
    date(2026, 12, 8),
    date(2026, 12, 24),
    date(2026, 12, 25),
    date(2026, 12, 26),
    date(2027, 1, 1),
    date(2027, 1, 6),
)
OFFICE = Calendar(
    "office",
    "Europe/Vienna",
    [OpeningHours(weekday, 8 * 60, 18 * 60) for weekday in range(5)],
    HOLIDAYS,
)
# Category -> (response time, business calendar or None for real time, i.e. the `always` calendar).
RESPONSE_TIMES: dict[str, tuple[timedelta, Calendar | None]] = {
    "complaint": (timedelta(minutes=30), None),
    "question": (timedelta(hours=4), OFFICE),
    "feature_request": (timedelta(hours=8), OFFICE),
    "praise": (timedelta(hours=24), None),
    "crisis": (timedelta(minutes=15), None),
}


def respond_by(category: str, received_at: datetime) -> datetime | None:
    """The reply deadline for a post of `category` received at `received_at` (UTC), or None.

    None also when the calendar never opens again; callers treat that as a passed deadline,
    as the engine does (fail closed).
    """
    rule = RESPONSE_TIMES.get(category)
    if rule is None:
        return None
    within, calendar = rule
    if calendar is None:
        return received_at.astimezone(UTC) + within
    return calendar.add_open_time(received_at, within)


# ---- content (policies/safety.policy) --------------------------------------------------------

# ASCII word boundaries, as RE2 (the engine's regex library) draws them.
PROMISE = re.compile(r"\bguaranteed?\b", re.IGNORECASE | re.ASCII)
LEGAL_LABELS = frozenset({"mentions_price", "legal_claim"})


# ---- timestamps ------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp that must carry an offset (a naive one is ambiguous by hours)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp needs a time-zone offset: {text!r}")
    return moment


def utc_text(moment: datetime) -> str:
    """UTC with a `Z`, the spelling decisions use."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since 1970 as an exact integer (Cedar compares Longs, not timestamps)."""
    return (moment - EPOCH) // MICROSECOND
