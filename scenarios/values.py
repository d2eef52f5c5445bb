"""The values people write in scenarios: times, durations, counts, lists of names, outcomes.

Each parser takes the text as written and either returns the value or raises `StepProblem`
with a sentence that says what to write instead. Times are local times with an IANA zone, as
people write them (`2026-11-27 21:40 Europe/Vienna`); a time that does not exist or exists
twice in that zone (a daylight-saving change) is refused rather than guessed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from replygate.engine.calendars import strftime
from replygate.scenarios.phrases import NAME_TOKEN, unquoted

TIME_EXAMPLE = "2026-11-27 21:40 Europe/Vienna"


class StepProblem(ValueError):
    """A step is written in a way the library cannot use; the message says how to fix it."""


# ---- times --------------------------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TIME = re.compile(
    r"""(?ix)
    (?:(?P<weekday>[a-z]+),?\s+)?
    (?P<date>\d{4}-\d{1,2}-\d{1,2})
    (?:\s+|T)
    (?P<clock>\d{1,2}:\d{2}(?::\d{2})?)
    (?:\s*(?P<zone>[^\s]+))?
    """
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


@dataclass(frozen=True, slots=True)
class WrittenTime:
    """A parsed time: the instant, and the zone it was written in (to show times back)."""

    at: datetime
    zone: tzinfo
    zone_name: str


def parse_time(text: str) -> WrittenTime:
    """`2026-11-27 21:40 Europe/Vienna` (or `… UTC`, `… +01:00`, ISO 8601) to an aware datetime."""
    written = text.strip()
    found = _TIME.fullmatch(written)
    if found is None:
        raise StepProblem(f"'{written}' is not a time: write it as {TIME_EXAMPLE}")
    zone_text = found["zone"]
    if zone_text is None:
        raise StepProblem(f"'{written}' has no time zone: write it as {TIME_EXAMPLE} (or with UTC)")
    try:
        naive = datetime.fromisoformat(f"{_padded_date(found['date'])} {_padded(found['clock'])}")
    except ValueError as error:
        raise StepProblem(
            f"'{written}' is not a time ({error}): write it as {TIME_EXAMPLE}"
        ) from None
    zone, zone_name = _zone(zone_text)
    at = _localise(naive, zone, zone_name, written)
    try:
        at.astimezone(UTC)  # every time the steps write must be one the wire can carry
    except OverflowError:
        raise StepProblem(
            f"'{written}' lies outside the range of timestamps: in UTC it must be between "
            "0001-01-01 00:00 and 9999-12-31 23:59"
        ) from None
    weekday = found["weekday"]
    if weekday is not None:
        _check_weekday(weekday, at.astimezone(zone), written)
    # A fixed offset, as the same time arrives over the wire: arithmetic on a datetime whose
    # tzinfo is a ZoneInfo follows the wall clock across daylight-saving changes, not real time.
    offset = at.utcoffset()
    assert offset is not None  # _localise returns an aware time
    return WrittenTime(at.astimezone(timezone(offset)), zone, zone_name)


def _padded_date(text: str) -> str:
    year, month, day = text.split("-")
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _padded(clock: str) -> str:
    hours, rest = clock.split(":", 1)
    return f"{int(hours):02d}:{rest}"


def _zone(text: str) -> tuple[tzinfo, str]:
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC, "UTC"
    offset = _OFFSET.fullmatch(text)
    if offset is not None:
        sign = -1 if offset[1] == "-" else 1
        delta = timedelta(hours=int(offset[2]), minutes=int(offset[3]))
        if delta >= timedelta(hours=24):
            raise StepProblem(f"'{text}' is not a time-zone offset: it must be less than 24 hours")
        return timezone(sign * delta), text
    if "/" not in text:
        raise StepProblem(
            f"'{text}' is not a time zone: use a zone name such as Europe/Vienna, or UTC"
        )
    try:
        return ZoneInfo(text), text
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(text, _zone_names(), n=1)
        hint = f": did you mean {close[0]}?" if close else ": use a zone name such as Europe/Vienna"
        raise StepProblem(f"unknown time zone '{text}'{hint}") from None


@lru_cache(maxsize=1)
def _zone_names() -> list[str]:
    return sorted(available_timezones())


def _localise(naive: datetime, zone: tzinfo, zone_name: str, written: str) -> datetime:
    """Attach the zone, refusing wall-clock times that a daylight-saving change skips or repeats."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise StepProblem(
            f"'{written}' does not exist: the clocks skip that hour in {zone_name} "
            "(daylight-saving time starts); pick another time or write it in UTC"
        )
    earlier, later = (show_time(moment, UTC, "UTC") for moment in (first, second))
    raise StepProblem(
        f"'{written}' happens twice in {zone_name} (the clocks go back): write it in UTC, "
        f"{earlier} for the first time or {later} for the second"
    )


def _check_weekday(word: str, local: datetime, written: str) -> None:
    lowered = word.lower()
    names = [name for name in _WEEKDAYS if name.startswith(lowered[:3])]
    if len(lowered) < 3 or not names or not names[0].startswith(lowered):
        raise StepProblem(f"'{word}' in '{written}' is not a day of the week")
    actual = _WEEKDAYS[local.weekday()]
    if names[0] != actual:
        raise StepProblem(
            f"'{written}': {local.date().isoformat()} is a {actual.capitalize()}, "
            f"not a {names[0].capitalize()}"
        )


def show_time(at: datetime, zone: tzinfo, zone_name: str) -> str:
    """An instant as scenarios write it, in the zone the scenario uses (in UTC when that zone's
    clock would read past 9999-12-31 or before 0001-01-01, which no datetime holds)."""
    try:
        local = at.astimezone(zone)
    except OverflowError:
        local, zone_name = at.astimezone(UTC), "UTC"
    clock = "%H:%M:%S" if local.second else "%H:%M"
    # `strftime`: year 1 as 0001, which a scenario can read back (glibc writes "1").
    return f"{strftime(local, '%Y-%m-%d ' + clock)} {zone_name}"


# ---- durations and counts -----------------------------------------------------------------------

MAX_DURATION_SECONDS = 10_000 * 366 * 86_400  # past any time a step can write
_UNIT_SECONDS = {
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_DURATION_PART = re.compile(r"(\d+)\s*([a-z]+)")
_DURATION_GLUE = re.compile(r"(?:\s|,|\band\b)*")


def parse_duration(text: str) -> timedelta:
    """`30 minutes`, `1 hour and 5 minutes`, `4h`, `1h30m` to a timedelta."""
    written = text.strip().lower()
    position = 0
    seconds = 0
    parts = 0
    while position < len(written):
        glue = _DURATION_GLUE.match(written, position)
        position = glue.end() if glue else position
        if position >= len(written):
            break
        part = _DURATION_PART.match(written, position)
        if part is None or part[2] not in _UNIT_SECONDS:
            raise StepProblem(
                f"'{text.strip()}' is not a duration: write e.g. 30 minutes, 4 hours or 1 hour and 5 minutes"
            )
        seconds += int(part[1]) * _UNIT_SECONDS[part[2]]
        parts += 1
        position = part.end()
    if parts == 0:
        raise StepProblem(
            f"'{text.strip()}' is not a duration: write e.g. 30 minutes, 4 hours or 1 hour and 5 minutes"
        )
    if seconds > MAX_DURATION_SECONDS:
        raise StepProblem(f"'{text.strip()}' is longer than a duration can be here (10,000 years)")
    return timedelta(seconds=seconds)


_COUNT = re.compile(r"\d{1,3}(?:([,_' ])\d{3})?(?:\1\d{3})*|\d+")


def parse_count(text: str) -> int:
    """`25000`, `25,000` or `25 000` to an int; a count is never negative."""
    written = text.strip()
    if _COUNT.fullmatch(written) is None:
        raise StepProblem(f"'{written}' is not a whole number: write e.g. 25000 or 25,000")
    return int(re.sub(r"[,_' ]", "", written))


# ---- names ---------------------------------------------------------------------------------------

_NAME = re.compile(NAME_TOKEN)
_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


def parse_names(text: str) -> list[str]:
    """`comms_lead and legal`, `a, b and c`, `"Smith, John" and lee` to a list of names, in the
    order written; a quoted name may hold any character but the quote. Anything else between
    the names (a space: `care team`, a doubled comma) is refused, never split into guesses."""
    written = text.strip()
    if not written:
        raise StepProblem("expected at least one name")
    names: list[str] = []
    position = 0
    while True:
        name = _NAME.match(written, position)
        if name is None or name[0].lower() == "and":  # `a, and`: a list cut short
            rest = written[position:] or written
            raise StepProblem(
                f"'{rest}' is not a name: names are single words such as comms_lead or "
                'care-team; quote one with other characters ("j.doe@acme.com")'
            )
        names.append(unquoted(name[0]))
        position = name.end()
        if position == len(written):
            return names
        separator = _SEPARATOR.match(written, position)
        if separator is None or separator.end() == len(written):
            raise StepProblem(
                f"'{written}' is not a list of names: write them as a, b and c "
                '(quote a name with a space: "care team")'
            )
        position = separator.end()


def parse_category(text: str) -> str:
    """The post category as people say it: `feature request` is `feature_request`, and a
    trailing `post` is just a word (`a crisis post` has the category `crisis`)."""
    words = text.strip().lower().split()
    if len(words) > 1 and words[-1] == "post":
        words.pop()
    return "_".join(words)


# ---- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedOutcome:
    """What a Then step expects: an outcome and, for escalations and approvals, the roles."""

    decision: str  # allow | deny | escalate | approval_required
    roles: tuple[str, ...] = ()
    negated: bool = False
    count: int | None = None  # `needs 2 approvals from legal`: approvals still missing per role

    def describe(self) -> str:
        """The expectation in the words of the vocabulary."""
        if self.decision == "escalate":
            text = f"escalate to {self.roles[0]}"
        elif self.decision == "approval_required" and self.count is not None:
            text = f"{self.count} approvals required from " + " and ".join(self.roles)
        elif self.decision == "approval_required":
            text = "approval required from " + " and ".join(self.roles)
        else:
            text = self.decision
        return f"anything but {text}" if self.negated else text


_ALLOW = {"allowed", "allow", "permitted", "ok"}
_DENY = {"denied", "deny", "forbidden", "refused"}
_ESCALATE = re.compile(
    r"(?:is\s+)?(?:escalates|escalated|escalate|escalation|handed on)\s+to\s+(.+)"
)
_APPROVAL = re.compile(
    r"(?:(?:needs|requires|require|need)\s+(?:an?\s+)?approval"
    r"|approval(?:\s+is)?(?:\s+required)?"
    r"|(?:is\s+)?(?:subject|submitted)\s+to\s+approval)\s+(?:from|by)\s+(.+)"
)
_APPROVALS = re.compile(
    r"(?:needs|requires|require|need)\s+(\d+)\s+(?:more\s+)?approvals?\s+(?:from|by)\s+(.+)"
)

OUTCOME_WORDS = (
    "allowed",
    "denied",
    "not allowed",
    "escalates to ROLE",
    "needs approval from ROLE and ROLE",
    "needs 2 approvals from ROLE",
)


def parse_outcome(text: str) -> ExpectedOutcome:
    """`allowed`, `is denied`, `escalates to senior_agent`, `needs approval from a and b`."""
    written = " ".join(text.strip().split())
    lowered = written.lower()
    for prefix in ("is not ", "not "):
        if lowered.startswith(prefix) and lowered[len(prefix) :] in _ALLOW:
            return ExpectedOutcome("allow", negated=True)
    if lowered.startswith("is "):
        written, lowered = written[3:], lowered[3:]
    if lowered in _ALLOW:
        return ExpectedOutcome("allow")
    if lowered in _DENY:
        return ExpectedOutcome("deny")
    escalation = _ESCALATE.fullmatch(lowered)
    if escalation is not None:
        roles = parse_names(written[escalation.start(1) :])
        if len(roles) != 1:
            raise StepProblem(f"'{text.strip()}': an escalation goes to exactly one role")
        return ExpectedOutcome("escalate", (roles[0],))
    counted = _APPROVALS.fullmatch(lowered)
    if counted is not None:
        roles = parse_names(written[counted.start(2) :])
        count = int(counted.group(1))
        if count < 1:
            raise StepProblem(f"'{text.strip()}': a reply needs at least 1 approval")
        return ExpectedOutcome("approval_required", tuple(sorted(set(roles))), count=count)
    approval = _APPROVAL.fullmatch(lowered)
    if approval is not None:
        roles = parse_names(written[approval.start(1) :])
        return ExpectedOutcome("approval_required", tuple(sorted(set(roles))))
    raise StepProblem(
        f"'{text.strip()}' is not an outcome: write one of "
        + ", ".join(OUTCOME_WORDS)
        + " (role names as in the policy)"
    )
