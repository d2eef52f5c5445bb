"""Random *valid* policies, written as text, and requests near their edges; as hypothesis strategies.

Every generator here is a plain function of a `Chooser`, the one source of decisions: a
`RandomChooser` (seeded, fast: the differential test's sweep of tens of thousands of pairs),
a `DrawChooser` (hypothesis draws: `policies()` and `requests(policy)` are hypothesis strategies
with hypothesis's shrinking) or a `ReplayChooser` (a recorded sequence of choices, which
`shrink` makes smaller). A policy is drawn in three steps: a `Vocabulary` (the names it declares and the values its
conditions test), the declarations that state it, and rules whose conditions use it. It is
rendered as policy text in a layout of its own (not `fmt`'s), so it goes through the real
parser, and split over one to three files. Requests are drawn from the same vocabulary and
aimed at the edges: thresholds ±1, opening and closing times, closed dates, daylight-saving
changes, period windows, post ages, response deadlines (exactly, one second either side), and
approvals by holders, non-holders and the actor.

What is covered: units, roles with inheritance, persons, groups, channels, accounts; calendars
(weekly and overnight hours, day ranges such as `mon-fri` mixed with single days in any order,
`open always`, closed dates, `holidays AT` / `holidays AT-9`, `closed every 12-24`) and
periods; each policy set in one year (2026 mostly, leap years 2000, 2012, 2024 and 2028, 2100
which is not one, and the years either side) with zones whose summer time moves at midnight,
by 30 minutes, backwards or no longer; response times, several per category (one plain,
others with `via` and `when` on the post, channel, account and context; budgets so long that
the deadline cannot be computed, rarely); text lists (phrases with non-ASCII letters and
punctuation at their ends, in Greek, Cyrillic, Chinese, Japanese and Arabic, with combining
marks) and symbol lists; rosters (members, `during CALENDAR` or their own zone and `open`
lines, `rotate every 1w|2w|7d|1d|3d|1d12h|24h|36h|12h|8h|1h30m|1h from DATE [TIME]`, anchored
up to a year before, overlapping overrides of members and non-members); `share`; rules with
every effect (`require N approvals`, N up to 3), `on`, `via`, `by` and every condition of
README "Conditions" (`mentions any of`, `in LIST`, `actor on duty [in ROSTER]` included) under
`not`, `and`, `or`; groups of escalation rules that match together (an heir of the other
targets after them, targets none of which inherits the others, one target twice) and of
approval rules that do. Numbers, durations and times are also written in the other spellings
the grammar reads (`10_000`, `0100`, `100.0`, `2.50`; `1w`, `90m`, `1h60m`, `0d01h`; `8:00`; a
window's midnight as the date alone). Requests also aim at roster handoffs (turn starts),
on-duty opening and closing times, override edges and daylight-saving weekends in the
roster's zone, at public holidays and recurring dates, at local midnight as a year ends or a
leap day begins, and at daylight-saving changes of other years; their approvals are often
aimed at the policy's requirements (N-1, N or N+1 different holders); their texts hold a
list's phrase as written, in another case, with other white space (tabs, no-break, em and
ideographic spaces, none) and with letters, digits, `_`, marks or punctuation of several
scripts on either side (mentions and near misses). Not generated: declared `category` and
`label` sets (they refuse requests with other words before any rule); letters that are new
since Unicode 14 (Python's tables, the reference's, lack them; RE2's, the engine's, have them).

Adding a language feature is one generator each:

* a condition kind: a function `(Vocabulary, Chooser) -> str | None` in `CONDITIONS`;
* a declaration: a function choosing its text from the vocabulary, called from `make_policy`;
* an effect or rule clause: an entry in `EFFECTS`, or a line in `_rule`;
* a request field: a line in `make_request`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from replygate.policy_dsl import ast
from replygate.policy_dsl.parser import parse_policy
from tests.reference.interpreter import ReferencePolicy

# Zones with something to get wrong: summer time in both hemispheres, a change at midnight
# (Santiago, Havana; Sao Paulo's skipped midnight and Tehran's until they dropped summer time),
# a 45-minute offset, a 30-minute summer shift (Lord Howe), summer time that goes backwards
# for Ramadan (Casablanca), no change at all.
ZONES = (
    "Europe/Vienna",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kathmandu",
    "Europe/London",
    "UTC",
    "America/Sao_Paulo",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "Asia/Tehran",
    "America/Havana",
)
# Each policy is set in one year (its dates, holidays and requests cluster there): mostly the
# current one, and leap years (2000 divisible by 400, 2100 not a leap year though divisible by 4),
# years whose zone rules differ (Sao Paulo and Tehran still had summer time in 2000 and 2012),
# and the years either side. Requests also cross into the neighbouring years.
YEARS = (2026, 2026, 2026, 2024, 2028, 2025, 2027, 2000, 2012, 2100)
YEAR = 2026
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROLE_NAMES = ("agent", "senior", "lead", "legal", "auditor", "intern", "editor")
UNIT_NAMES = ("care", "comms", "legal_dept", "sales")
PERSON_IDS = ("alice", "bob", "carol", "dave", "j.doe@acme.com", "eve-2")
STRANGERS = ("mallory", "zed@example.org")
GROUP_NAMES = ("care-team", "night_shift", "legal-dept")
CHANNEL_NAMES = ("twitter", "facebook", "instagram", "linkedin", "mastodon")
HANDLES = ("@acme_help", "@acme", "@acme_de")
CATEGORIES = ("complaint", "question", "crisis", "praise", "billing")
SENTIMENTS = ("positive", "neutral", "negative")
LABELS = ("mentions_price", "legal_risk", "vip", "spam")
FLAGS = ("crisis", "launch", "score")
WORDS = (
    "refund",
    "Refund",
    "guaranteed",
    "guarantee",
    "price",
    "cost",
    "hello",
    "sorry",
    "42",
    "Привет",
    "谢谢",
    "شكرا",
    "ευχαριστώ",
)
PATTERNS = (r"refund", r"\bguaranteed?\b", r"^hello", r"price|cost", r"[0-9]+", r"sorry$")
NUMBERS = (0, 1, 100, 1000, 10000, 2.5)
AGES = (timedelta(minutes=30), timedelta(hours=2), timedelta(days=1), timedelta(seconds=90))
BUDGETS = (
    timedelta(minutes=1),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=1, minutes=30),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(days=1),
    timedelta(days=2),
)
# Minutes of the day that opening hours are drawn from: day edges, the hours summer time
# changes at, office hours.
CLOCK_MINUTES = (0, 60, 90, 120, 150, 180, 210, 480, 540, 720, 1020, 1080, 1320, 1410, 1439)
OFFSETS = (0, 60, 120, -300, -240, 345, 840, -720)  # minutes; how requests spell their instants
# Response budgets long enough that a sparse calendar cannot give them within 731 days (or only
# just can): the deadline that cannot be computed. Drawn rarely; the reference walks two years.
LONG_BUDGETS = (timedelta(weeks=20), timedelta(weeks=52))
# Public holidays by country and subdivision (the `holidays` package), and recurring dates:
# the year's ends, a leap day, and dates daylight-saving changes fall near.
HOLIDAYS = ("AT", "AT-9", "DE-BY", "US", "US-NY", "GB-SCT", "AU-NSW", "CL-RM", "NZ-AUK")
EVERY = ((12, 24), (12, 31), (1, 1), (2, 29), (3, 29), (10, 25), (4, 5), (11, 27))
# Text lists' phrases: several words, non-ASCII letters, punctuation at either end, digits.
PHRASES = (
    "Acme Rival",
    "Rival Corp",
    "refund",
    "money back",
    "Ärger",
    "naïve café",
    "C++",
    "e.g.",
    "rival.com",
    "42",
    "x_y",
    # Other scripts: Greek with a final sigma (which folds with the other two sigmas), Cyrillic
    # over several words and in letters that look Latin (a Latin "OOO" is no mention), Chinese
    # and Japanese (no case, no spaces between words), Arabic (right to left), and a
    # decomposed é (e and a combining accent: not the letter é, and a mark is no letter).
    "Σίσυφος",
    "Ακμή",
    "Рога и копыта",  # noqa: RUF001
    "ООО Ёлка",  # noqa: RUF001
    "竞争对手",
    "アクメ",
    "منافس",
    "cafe\u0301",
    "\u0301x",
)
# What stands next to a phrase in a request's text: word characters (no mention) and others.
# The letters and digits of other scripts are all in Unicode 14 (Python 3.11's tables, the
# reference's) as in RE2's 15.1 (the engine's); a letter new since 14 would be judged
# differently by the two, and the README leaves that to RE2. Combining marks (Mn, Mc), the
# zero-width joiner, the middle dot and CJK punctuation and space are neither letters nor
# digits; the tatweel (Lm), the prolonged sound mark (Lm), `²` and `½` (No, the second no
# digit to `str.isdigit`), `Ⅻ` (Nl) and Arabic-Indic digits (Nd) are.
OTHER_SCRIPT_NEIGHBOURS = (
    "α",  # noqa: RUF001
    "Я",
    "中",
    "ب",
    "ـ",
    "ー",
    "٣",
    "²",
    "½",
    "Ⅻ",
    "\u0301",
    "\u093e",
    "\u200d",
    "·",
    "、",
    "。",
    "\u3000",
)
BEFORE = ("", "", " ", "x", "_", "-", "é", "1", "(", "\u200b", "\n", *OTHER_SCRIPT_NEIGHBOURS)
AFTER = ("", "", " ", "ry", "s", "_", ".", "!", "ä", "2", ")", ",", *OTHER_SCRIPT_NEIGHBOURS)
GAPS = (" ", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "", "-")
ROSTER_NAMES = ("care-evenings", "on-call", "weekend_desk")
# Rotation lengths: weeks and days are local calendar days, hours and less elapsed time.
ROTATIONS = {
    "1w": (7, 0),
    "2w": (14, 0),
    "1d": (1, 0),
    "3d": (3, 0),
    "12h": (0, 12 * 3600),
    "8h": (0, 8 * 3600),
    "1h30m": (0, 5400),
    "1d12h": (1, 12 * 3600),
    "1h": (0, 3600),  # the shortest turn a rotation may have (docs/limits.md)
    # Other spellings of the same lengths, and lengths a day long in elapsed time: `24h` and
    # `1d` part at a daylight-saving change.
    "7d": (7, 0),
    "0w1d": (1, 0),
    "1d0h": (1, 0),
    "24h": (0, 86400),
    "36h": (0, 36 * 3600),
    "60m": (0, 3600),
    "01h30m": (0, 5400),
}


@cache
def transition_days(zone_name: str, year: int = YEAR) -> tuple[date, ...]:
    """The local dates in and around `year` on which the zone changes its offset."""
    zone = ZoneInfo(zone_name)
    found = []
    day = date(year - 1, 12, 1)
    previous = datetime(day.year, day.month, day.day, 12, tzinfo=zone).utcoffset()
    while day < date(year + 1, 2, 1):
        day += timedelta(days=1)
        offset = datetime(day.year, day.month, day.day, 12, tzinfo=zone).utcoffset()
        if offset != previous:
            # The change happens on this date or the night before it.
            found.extend([day - timedelta(days=1), day])
        previous = offset
    return tuple(found)


def leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def year_edges(year: int) -> tuple[date, ...]:
    """The dates a year turns on: its ends, and its leap day (or the days around where it
    would be)."""
    edges = [date(year - 1, 12, 31), date(year, 1, 1), date(year, 2, 28), date(year, 3, 1)]
    if leap(year):
        edges.append(date(year, 2, 29))
    return (*edges, date(year, 12, 31), date(year + 1, 1, 1))


# ---- the vocabulary --------------------------------------------------------------------------


@dataclass
class CalendarSpec:
    zone: str
    always: bool
    hours: list[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]]
    closed: list[date]  # explicit dates, and this year's holidays and recurring dates
    zoned: bool = True  # whether the text names the zone (an `open always` may leave it out)


@dataclass
class PeriodSpec:
    zone: str
    windows: list[tuple[tuple[date, int], tuple[date, int]]]


@dataclass
class RosterSpec:
    zone: str
    calendar: str | None
    hours: list[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]]
    members: list[str]
    rotation: tuple[int, int, date, int] | None  # days, seconds, anchor date and minute
    overrides: list[tuple[str, tuple[date, int], tuple[date, int]]]


@dataclass
class ResponseSpec:
    category: str
    within: timedelta
    during: str | None
    channels: list[str] | None
    conditions: list[str]


@dataclass
class Vocabulary:
    """What a generated policy declares and what its conditions compare with."""

    roles: list[str]
    units: list[str]
    role_units: dict[str, str]
    persons: list[str]
    groups: list[str]
    channels: list[str]
    accounts: dict[str, list[str]]
    calendars: dict[str, CalendarSpec]
    periods: dict[str, PeriodSpec]
    responses: list[ResponseSpec]
    categories: list[str]
    labels: list[str]
    flags: list[str]
    numbers: list[int | float]
    ages: list[timedelta]
    days: list[date] = field(default_factory=list)  # dates worth aiming requests at
    rosters: dict[str, RosterSpec] = field(default_factory=dict)
    text_lists: dict[str, list[str]] = field(default_factory=dict)  # name -> phrases
    symbol_lists: dict[str, tuple[tuple[str, ...], list[str]]] = field(
        default_factory=dict
    )  # name -> (the attributes it suits, its values as written)
    year: int = YEAR  # the year the policy's dates and most requests fall in
    role_parents: dict[str, list[str]] = field(default_factory=dict)
    # What approval rules require (roles, N): approvals are aimed at their holders.
    requirements: list[tuple[list[str], int]] = field(default_factory=list)
    # role -> {holder: the groups that make them one}: filled once, by the first request.
    holders: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)


@dataclass
class GeneratedPolicy:
    """A valid policy set as text (path -> source), its vocabulary and its reference model."""

    sources: dict[str, str]
    vocabulary: Vocabulary
    files: list[ast.PolicyFile]
    reference: ReferencePolicy

    @property
    def text(self) -> str:
        return "".join(f"# ---- {path}\n{text.rstrip()}\n" for path, text in self.sources.items())

    def __repr__(self) -> str:
        return f"GeneratedPolicy(\n{self.text})"


# ---- rendering -------------------------------------------------------------------------------


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def subject(name: str) -> str:
    """A person or group id: bare when it is a plain name, quoted otherwise."""
    return name if name.replace("-", "_").replace("_", "a").isalnum() else quote(name)


UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(value: timedelta, choose: Chooser | None = None) -> str:
    """Days, hours, minutes and seconds, largest first (`1d1h30m`); with a chooser, a third of
    the time another spelling the grammar reads as the same length (README "Durations": units
    w d h m s, each once, in that order), which the engine must not read differently: weeks,
    one unit alone (`90m`, `5400s`), a part of 60 or more (`1h60m`), zero parts and leading
    zeros (`0d01h30m`)."""
    seconds = int(value.total_seconds())
    counts = dict.fromkeys("wdhms", 0)
    for unit, size in UNITS[1:]:
        counts[unit], seconds = divmod(seconds, size)
    style = 0 if choose is None or choose.integer(0, 2) else choose.integer(1, 4)
    if style == 1:  # whole weeks taken out of the days
        counts["w"], counts["d"] = divmod(counts["d"], 7)
    elif style == 2:  # everything in one unit that divides it
        total = int(value.total_seconds())
        assert choose is not None
        unit, size = choose.choice([(u, n) for u, n in UNITS if total % n == 0])
        counts = {u: (total // size if u == unit else 0) for u in counts}
    elif style == 3:  # the largest part lends one to the next unit (2h as 1h60m)
        units = [u for u, _ in UNITS]
        for index, unit in enumerate(units[1:-1], start=1):
            if counts[unit]:
                size, smaller = UNITS[index][1], UNITS[index + 1][1]
                counts[unit] -= 1
                counts[units[index + 1]] += size // smaller
                break
    parts = []
    for unit, count in counts.items():
        if count or (style == 4 and choose is not None and choose.integer(0, 2) == 0):
            pad = "0" if style == 4 and choose is not None and choose.boolean() else ""
            parts.append(f"{pad}{count}{unit}")
    return "".join(parts)


def number(value: int | float, choose: Chooser | None = None) -> str:
    """The number as Python writes it; with a chooser, a third of the time another spelling
    the grammar reads as the same value (README "Numbers"): `10_000`, `1_0_0`, leading zeros,
    `100.0` (a float that must equal the integer 100), `2.50`."""
    text = str(value)
    if choose is None or choose.integer(0, 2):
        return text
    whole, _, fraction = text.partition(".")
    style = choose.integer(0, 3)
    if style == 0:
        whole = f"{int(whole):_}"
    elif style == 1:
        whole = "_".join(whole)
    elif style == 2:
        whole = "0" * choose.integer(1, 2) + whole
    else:
        fraction += "0" * choose.integer(1, 2)
    return f"{whole}.{fraction}" if fraction else whole


def clock(minutes: int, choose: Chooser | None = None) -> str:
    """`08:00`; with a chooser, sometimes `8:00` (the grammar takes one-digit hours)."""
    hours = minutes // 60
    if choose is not None and hours < 10 and choose.integer(0, 3) == 0:
        return f"{hours}:{minutes % 60:02d}"
    return f"{hours:02d}:{minutes % 60:02d}"


def days_text(days: tuple[int, ...], choose: Chooser | None = None) -> str:
    """`mon, tue, wed`; with a chooser, the same days as ranges and single days in any order,
    sometimes overlapping (`thu, mon-wed`, `mon-fri, wed`, `sat-sat`). The grammar has no
    ranges that wrap round the week end (`fri-mon` is `bad-days`)."""
    if choose is None:
        return ", ".join(DAY_NAMES[d] for d in days)
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        start = 0
        while start < len(run):
            # Mostly the whole run as one range; else a piece of it, or one day.
            end = len(run) - 1 if choose.boolean() else choose.integer(start, len(run) - 1)
            first, last = DAY_NAMES[run[start]], DAY_NAMES[run[end]]
            single = end == start and choose.integer(0, 3) > 0
            parts.append(first if single else f"{first}-{last}")
            start = end + 1
    if choose.integer(0, 4) == 0:  # a day named twice: the days are a set
        parts.append(DAY_NAMES[choose.choice(days)])
    return ", ".join(choose.sample(parts, len(parts), len(parts)))


# ---- choosers: where the decisions come from --------------------------------------------------

T = TypeVar("T")


class Chooser:
    """The one source of decisions for the generators: integers in a closed range."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def boolean(self) -> bool:
        return self.integer(0, 1) == 1

    def sample(self, options: Sequence[T], low: int, high: int) -> list[T]:
        """Between `low` and `high` distinct options, in the order chosen."""
        left = list(options)
        chosen = []
        for _ in range(self.integer(low, min(high, len(left)))):
            chosen.append(left.pop(self.integer(0, len(left) - 1)))
        return chosen


class RandomChooser(Chooser):
    """Seeded random choices, recorded so that a failing case can be replayed and shrunk."""

    def __init__(self, seed: int | str) -> None:
        self.random = random.Random(seed)
        self.record: list[int] = []

    def integer(self, low: int, high: int) -> int:
        # `random()` scaled, not `randint`: a third of the time, and the sweep makes a million.
        offset = int(self.random.random() * (high - low + 1))
        self.record.append(offset)
        return low + offset


class ReplayChooser(Chooser):
    """Plays back recorded choices (as offsets from each range's low end); then the low end."""

    def __init__(self, record: Sequence[int]) -> None:
        self.record = list(record)
        self.position = 0

    def integer(self, low: int, high: int) -> int:
        offset = self.record[self.position] if self.position < len(self.record) else 0
        self.position += 1
        return min(low + offset, high)


class DrawChooser(Chooser):
    """Choices drawn by hypothesis, so that hypothesis shrinks them."""

    _ranges: dict[tuple[int, int], st.SearchStrategy[int]] = {}

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        strategy = self._ranges.get((low, high))
        if strategy is None:
            strategy = self._ranges[(low, high)] = st.integers(low, high)
        return self.draw(strategy)


# ---- conditions: one generator per row of the README's condition table ----------------------

Condition = Callable[[Vocabulary, Chooser], "str | None"]


def _symbols(vocabulary: Vocabulary) -> dict[str, tuple[str, ...]]:
    """Attributes compared with words, and the words worth comparing them with."""
    return {
        "action": ("reply", "post"),
        "channel": tuple(vocabulary.channels),
        "post.sentiment": SENTIMENTS,
        "post.category": tuple(vocabulary.categories),
    }


def _texts(vocabulary: Vocabulary) -> dict[str, tuple[str, ...]]:
    handles = tuple(h for hs in vocabulary.accounts.values() for h in hs) or HANDLES
    return {
        "account": handles,
        "actor.id": (*vocabulary.persons, *STRANGERS),
        "post.id": ("t-1", "t-2"),
        "post.text": WORDS,
        "content.text": (*WORDS, ""),
    }


def any_literal(vocabulary: Vocabulary, choose: Chooser) -> str:
    """Any literal: what a `context.*` flag, typed only at run time, may be compared with."""
    kind = choose.integer(0, 4)
    if kind == 0:
        return number(choose.choice(vocabulary.numbers), choose)
    if kind == 1:
        return duration(choose.choice(vocabulary.ages), choose)
    if kind == 2:
        return choose.choice(("true", "false"))
    if kind == 3:
        return quote(choose.choice(WORDS))
    return choose.choice(("calm", "on", "high"))


def _value_for(path: str, vocabulary: Vocabulary, choose: Chooser) -> str:
    """A literal of the right type for the attribute (the checker refuses the others)."""
    symbols, texts = _symbols(vocabulary), _texts(vocabulary)
    if path in symbols:
        return choose.choice(symbols[path])
    if path in texts:
        return quote(choose.choice(texts[path]))
    if path == "post.author_reach":
        return number(choose.choice(vocabulary.numbers), choose)
    if path == "post.age":
        return duration(choose.choice(vocabulary.ages), choose)
    return any_literal(vocabulary, choose)


def _compared_paths(vocabulary: Vocabulary) -> list[str]:
    return [
        *_symbols(vocabulary),
        *_texts(vocabulary),
        "post.author_reach",
        "post.age",
        *(f"context.{f}" for f in vocabulary.flags),
    ]


def equality(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`post.sentiment == negative`, `!=`."""
    path = choose.choice(_compared_paths(vocabulary))
    return f"{path} {choose.choice(('==', '!='))} {_value_for(path, vocabulary, choose)}"


def ordering(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`post.author_reach >= 10000`, `<`, `<=`, `>`; `post.age > 2h`; flags against anything."""
    path = choose.choice(
        ["post.author_reach", "post.age", *(f"context.{f}" for f in vocabulary.flags)]
    )
    return f"{path} {choose.choice(('<', '<=', '>', '>='))} {_value_for(path, vocabulary, choose)}"


def membership(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`channel in [linkedin, instagram]`, `not in`."""
    path = choose.choice(_compared_paths(vocabulary))
    values = [_value_for(path, vocabulary, choose) for _ in range(choose.integer(1, 3))]
    return f"{path} {choose.choice(('in', 'not in'))} [{', '.join(values)}]"


def has_label(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`content has label mentions_price`: content, post, actor (groups), and the long spellings."""
    owner = choose.choice(
        ("content", "post", "content.labels", "post.labels", "actor.groups", "context.launch")
    )
    label = choose.choice(
        [
            *vocabulary.labels,
            *map(quote, vocabulary.labels),
            *map(quote, vocabulary.groups or GROUP_NAMES),
        ]
    )
    return f"{owner} has label {label}"


def matches(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`content.text matches /\\bguaranteed?\\b/i`."""
    path = choose.choice(
        ("content.text", "post.text", "actor.id", "account", "post.id", "context.launch")
    )
    return f"{path} matches /{choose.choice(PATTERNS)}/{choose.choice(('', 'i'))}"


def actor_is(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`actor is senior_agent`, `actor is not comms_lead`."""
    return f"actor is {choose.choice(('', 'not '))}{choose.choice(vocabulary.roles)}"


def actor_has_no_role(vocabulary: Vocabulary, choose: Chooser) -> str:
    return "actor has no role"


def actor_in_unit(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    return f"actor in unit {choose.choice(vocabulary.units)}" if vocabulary.units else None


def now_in(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    names = sorted([*vocabulary.calendars, *vocabulary.periods])
    return f"now in {choose.choice(names)}" if names else None


def deadline_passed(vocabulary: Vocabulary, choose: Chooser) -> str:
    return "deadline has passed"


def flag(vocabulary: Vocabulary, choose: Chooser) -> str:
    """`context.crisis`: the flag is JSON true."""
    return f"context.{choose.choice(vocabulary.flags)}"


def mentions(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    """`content.text mentions any of competitors` (also `post.text`)."""
    if not vocabulary.text_lists:
        return None
    path = choose.choice(("content.text", "post.text"))
    return f"{path} mentions any of {choose.choice(sorted(vocabulary.text_lists))}"


def in_list(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    """`channel in social`, `not in`: a symbol list stands for its bracketed values."""
    if not vocabulary.symbol_lists:
        return None
    name = choose.choice(sorted(vocabulary.symbol_lists))
    path = choose.choice(vocabulary.symbol_lists[name][0])
    return f"{path} {choose.choice(('in', 'not in'))} {name}"


def actor_on_duty(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    """`actor on duty`, `actor on duty in care-evenings`."""
    if not vocabulary.rosters:
        return None
    roster = choose.choice([None, *sorted(vocabulary.rosters) * 2])
    return "actor on duty" + (f" in {roster}" if roster else "")


CONDITIONS: tuple[Condition, ...] = (
    equality,
    ordering,
    membership,
    has_label,
    matches,
    actor_is,
    actor_has_no_role,
    actor_in_unit,
    now_in,
    deadline_passed,
    flag,
    mentions,
    mentions,
    in_list,
    actor_on_duty,
    actor_on_duty,
)


def _post_paths(vocabulary: Vocabulary) -> list[str]:
    """What a response time's conditions may test: the post (not its age, which grows with the
    time of the check), the channel, account, context."""
    return [
        p
        for p in _compared_paths(vocabulary)
        if not p.startswith(("actor.", "content.")) and p != "post.age"
    ]


def post_comparison(vocabulary: Vocabulary, choose: Chooser) -> str:
    path = choose.choice(_post_paths(vocabulary))
    if choose.boolean() and path in ("post.author_reach", "post.age", "context.score"):
        op = choose.choice(("<", "<=", ">", ">="))
        return f"{path} {op} {_value_for(path, vocabulary, choose)}"
    if choose.boolean():
        values = [_value_for(path, vocabulary, choose) for _ in range(choose.integer(1, 2))]
        return f"{path} {choose.choice(('in', 'not in'))} [{', '.join(values)}]"
    return f"{path} {choose.choice(('==', '!='))} {_value_for(path, vocabulary, choose)}"


def post_text(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    if vocabulary.text_lists and choose.boolean():
        return f"post.text mentions any of {choose.choice(sorted(vocabulary.text_lists))}"
    path = choose.choice(("post.text", "account", "post.id"))
    return f"{path} matches /{choose.choice(PATTERNS)}/{choose.choice(('', 'i'))}"


def post_label(vocabulary: Vocabulary, choose: Chooser) -> str:
    return f"post has label {choose.choice(vocabulary.labels)}"


def post_in_list(vocabulary: Vocabulary, choose: Chooser) -> str | None:
    usable = {
        name: [p for p in paths if not p.startswith(("actor.", "content."))]
        for name, (paths, _) in vocabulary.symbol_lists.items()
    }
    usable = {name: paths for name, paths in usable.items() if paths}
    if not usable:
        return None
    name = choose.choice(sorted(usable))
    return f"{choose.choice(usable[name])} {choose.choice(('in', 'not in'))} {name}"


# README "Response times": conditions on the post, the channel, the account and the context.
POST_CONDITIONS: tuple[Condition, ...] = (
    post_comparison,
    post_comparison,
    post_text,
    post_label,
    post_in_list,
    flag,
)


def post_condition(vocabulary: Vocabulary, choose: Chooser, depth: int = 1) -> str:
    """A response time's condition: the atoms above under `not`, `and`, `or`."""
    shape = choose.integer(0, 4) if depth else 0
    if shape == 1:
        return f"not ({post_condition(vocabulary, choose, depth - 1)})"
    if shape in (2, 3):
        operands = [post_condition(vocabulary, choose, depth - 1) for _ in range(2)]
        return f" {'and' if shape == 2 else 'or'} ".join(f"({o})" for o in operands)
    while True:
        atom = choose.choice(POST_CONDITIONS)(vocabulary, choose)
        if atom is not None:
            return atom


def condition(vocabulary: Vocabulary, choose: Chooser, depth: int = 2) -> str:
    """A condition: the atoms above under `not`, `and`, `or` and parentheses."""
    shape = choose.integer(0, 5) if depth else 0
    if shape == 1:
        return f"not ({condition(vocabulary, choose, depth - 1)})"
    if shape in (2, 3):
        operands = [condition(vocabulary, choose, depth - 1) for _ in range(choose.integer(2, 3))]
        return f" {'and' if shape == 2 else 'or'} ".join(f"({o})" for o in operands)
    while True:
        atom = choose.choice(CONDITIONS)(vocabulary, choose)
        if atom is not None:
            return atom


# ---- effects ---------------------------------------------------------------------------------

Effect = Callable[[Vocabulary, Chooser], str]


def allow(vocabulary: Vocabulary, choose: Chooser) -> str:
    return "allow"


def deny(vocabulary: Vocabulary, choose: Chooser) -> str:
    return "deny"


def escalate(vocabulary: Vocabulary, choose: Chooser) -> str:
    return f"escalate to {choose.choice(vocabulary.roles)}"


def require_approval(vocabulary: Vocabulary, choose: Chooser) -> str:
    chosen = choose.sample(vocabulary.roles, 1, 2)
    roles = ", ".join(chosen)
    # Two or three approvers half the time: what makes N different people count is only seen
    # when requests bring that many approvals (`_approvals` aims at these requirements).
    count = choose.choice((1, 1, 2, 2, 3))
    vocabulary.requirements.append((chosen, count))
    if count == 1 and choose.integer(0, 3):
        return "require approval from " + roles
    # `require 1 approval`, `require 02 approvals`, `require 2 approval`: one rule either way.
    written = choose.choice((str(count), str(count), f"0{count}"))
    return f"require {written} {choose.choice(('approvals', 'approval'))} from {roles}"


# Allow and approval rules twice: most interesting decisions need an allow to match.
EFFECTS: tuple[Effect, ...] = (allow, allow, deny, escalate, require_approval, require_approval)


# ---- declarations ----------------------------------------------------------------------------


def _roles(
    choose: Chooser, units: list[str]
) -> tuple[list[str], dict[str, str], dict[str, list[str]], list[str]]:
    names = choose.sample(ROLE_NAMES, 2, 5)
    lines, role_units, role_parents = [], {}, {}
    for index, name in enumerate(names):
        # Parents come from the roles before it: inheritance without cycles.
        parents = role_parents[name] = choose.sample(names[:index], 0, 2)
        line = f"role {name}"
        if parents:
            line += " extends " + ", ".join(parents)
        if units and choose.boolean():
            role_units[name] = choose.choice(units)
            line += f" in {role_units[name]}"
        lines.append(line)
    return names, role_units, role_parents, lines


def _holders(
    choose: Chooser, keyword: str, ids: Sequence[str], roles: list[str], most: int
) -> tuple[list[str], list[str]]:
    chosen = choose.sample(ids, 0, most)
    lines = [f"{keyword} {subject(h)} is {', '.join(choose.sample(roles, 1, 2))}" for h in chosen]
    return chosen, lines


def _hours(choose: Chooser) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    days = tuple(sorted(choose.sample(range(7), 1, 7)))
    ranges = []
    for _ in range(choose.integer(1, 2)):
        start = choose.choice(CLOCK_MINUTES)
        end = choose.choice([m for m in (*CLOCK_MINUTES[1:], 1440) if m != start])
        ranges.append((start, end))
    return days, tuple(ranges)


def _calendar(choose: Chooser, name: str, year: int) -> tuple[CalendarSpec, str]:
    zone = choose.choice(ZONES)
    if choose.integer(0, 4) == 0:
        zone_line = choose.choice(["", f" zone {quote(zone)}"])
        spec = CalendarSpec(zone, True, [], [], zoned=bool(zone_line))
        return spec, f"calendar {name} {{{zone_line} open always }}"
    hours = [_hours(choose) for _ in range(choose.integer(1, 3))]
    near = [*transition_days(zone, year), *year_edges(year), date(year, 12, 24)]
    closed = choose.sample(near, 0, 3)
    lines = [f"calendar {name} {{", f"    zone {quote(zone)}"]
    for days, ranges in hours:
        spans = ", ".join(f"{clock(s, choose)}-{clock(e, choose)}" for s, e in ranges)
        lines.append(f"    open {days_text(days, choose)} {spans}")
    if closed:
        lines.append("    closed " + ", ".join(d.isoformat() for d in closed))
    aims = list(closed)
    for code in choose.sample(HOLIDAYS, 0, 2) if choose.integer(0, 2) == 0 else []:
        lines.append(f"    holidays {code}")
        aims += public_holidays_of(code, year)
    every = choose.sample(EVERY, 0, 3) if choose.integer(0, 2) == 0 else []
    if every:
        lines.append("    closed every " + ", ".join(f"{m:02d}-{d:02d}" for m, d in every))
        # 02-29 closes nothing in a common year: its neighbours are aimed at then.
        aims += [date(year, m, d) for m, d in every if (m, d) != (2, 29) or leap(year)]
    lines.append("}")
    return CalendarSpec(zone, False, hours, aims), "\n".join(lines)


@cache
def public_holidays_of(code: str, year: int = YEAR) -> tuple[date, ...]:
    """The public holidays of `year` under `holidays CODE`: dates worth aiming requests at."""
    import holidays

    country, _, subdivision = code.partition("-")
    return tuple(sorted(holidays.country_holidays(country, subdiv=subdivision or None, years=year)))


def _period(choose: Chooser, name: str, year: int) -> tuple[PeriodSpec, str]:
    zone = choose.choice(ZONES)
    near = [*transition_days(zone, year), *year_edges(year)]
    windows = []
    for _ in range(choose.integer(1, 2)):
        day, start = choose.choice(near), choose.choice(CLOCK_MINUTES)
        length = choose.choice([30, 60, 150, 1440, 2880])
        end_day = day + timedelta(days=(start + length) // 1440)
        window = ((day, start), (end_day, (start + length) % 1440))
        if _real_time(window[1], zone) <= _real_time(window[0], zone):
            # `02:30 until 03:30` on a spring-forward day is empty in real time, which the
            # checker refuses (`empty-window`); a day long is never empty.
            window = ((day, start), (day + timedelta(days=1), start))
        windows.append(window)
    lines = [f"period {name} {{", f"    zone {quote(zone)}"]
    for begin, end in windows:
        lines.append(f"    from {_point(begin, choose)} until {_point(end, choose)}")
    lines.append("}")
    return PeriodSpec(zone, windows), "\n".join(lines)


def _real_time(point: tuple[date, int], zone: str) -> datetime:
    """A local `(day, minute)` as an instant, the skipped hour read with the offset before it."""
    day, minute = point
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _rule(choose: Chooser, name: str, vocabulary: Vocabulary) -> str:
    clauses = [choose.choice(EFFECTS)(vocabulary, choose)]
    clauses.append("on " + choose.choice(["any", "reply", "post", "reply, post"]))
    if choose.boolean():
        clauses.append("via " + ", ".join(choose.sample(vocabulary.channels, 1, 2)))
    if choose.boolean():
        clauses.append("by anyone")
    else:
        clauses.append("by " + ", ".join(choose.sample(vocabulary.roles, 1, 2)))
    clauses += [f"when {condition(vocabulary, choose)}" for _ in range(choose.integer(0, 2))]
    clauses += [f"unless {condition(vocabulary, choose)}" for _ in range(choose.integer(0, 1))]
    if choose.boolean():
        clauses.append(f"message {quote('because of ' + name)}")
    body = "\n".join(f"    {c}" for c in clauses)
    return f"rule {name} {{\n{body}\n}}"


def _ancestors(role: str, parents: dict[str, list[str]]) -> set[str]:
    """The roles `role` inherits, itself excluded."""
    found: set[str] = set()
    frontier = list(parents.get(role, []))
    while frontier:
        parent = frontier.pop()
        if parent not in found:
            found.add(parent)
            frontier += parents.get(parent, [])
    return found


def _escalations(choose: Chooser, vocabulary: Vocabulary) -> list[str]:
    """Two or three escalation rules that match the same requests, so that which target is
    named is tested (README "Decision semantics": the target that inherits all the others,
    else the first matching rule's): an heir with its ancestors in any order, an heir and its
    ancestor beside a role unrelated to both (no target inherits all: the first is named),
    one target twice, or any roles."""
    roles = vocabulary.roles
    ancestry = {role: _ancestors(role, vocabulary.role_parents) for role in roles}
    heirs = sorted(role for role in roles if ancestry[role])
    shape = choose.integer(0, 3)
    if shape in (0, 1) and heirs:
        heir = choose.choice(heirs)
        targets = [heir, *choose.sample(sorted(ancestry[heir]), 1, 2)]
        others = [
            r for r in roles if r != heir and r not in ancestry[heir] and heir not in ancestry[r]
        ]
        if shape == 1 and others:
            targets = [*targets[:2], choose.choice(others)]
    elif shape == 2:
        targets = [choose.choice(roles)] * 2
    else:
        targets = choose.sample(roles, 2, 3)
    # Loose conditions, mostly shared: the rules must match together often to be compared.
    shared = [f"when {condition(vocabulary, choose, 0)}"] if choose.integer(0, 2) == 0 else []
    rules = []
    for index, target in enumerate(choose.sample(targets, len(targets), len(targets))):
        clauses = [f"escalate to {target}", "on " + choose.choice(("any", "any", "reply"))]
        if choose.integer(0, 2):
            clauses.append("by anyone")
        else:
            clauses.append("by " + ", ".join(choose.sample(roles, 1, 2)))
        clauses += shared
        if choose.integer(0, 3) == 0:  # one rule narrower than the others
            clauses.append(f"when {condition(vocabulary, choose, 0)}")
        body = "\n".join(f"    {c}" for c in clauses)
        rules.append(f"rule escalation-{index} {{\n{body}\n}}")
    return rules


def _approval_rules(choose: Chooser, vocabulary: Vocabulary) -> list[str]:
    """An allow rule and one to three approval rules that match the same requests, mostly
    needing two or three approvers: requirements from several rules are united, the largest N
    for a role wins, and a rule may name two roles (README "Decision semantics")."""
    rules = []
    shared = [f"when {condition(vocabulary, choose, 0)}"] if choose.integer(0, 2) == 0 else []
    if choose.integer(0, 2):
        rules.append(
            "rule permit {\n    allow on any by anyone\n"
            + "".join(f"    {c}\n" for c in shared)
            + "}"
        )
    for index in range(choose.integer(1, 3)):
        roles = choose.sample(vocabulary.roles, 1, 2)
        if index and choose.integer(0, 2) == 0:  # the same role as the rule before
            roles = [choose.choice(vocabulary.requirements[-1][0])]
        count = choose.choice((2, 2, 3, 1))
        vocabulary.requirements.append((roles, count))
        written = choose.choice((str(count), str(count), f"0{count}"))
        word = choose.choice(("approvals", "approval"))
        clauses = [
            f"require {written} {word} from {', '.join(roles)}",
            "on " + choose.choice(("any", "any", "reply")),
            "by anyone"
            if choose.integer(0, 2)
            else "by " + ", ".join(choose.sample(vocabulary.roles, 1, 2)),
            *shared,
        ]
        if choose.integer(0, 3) == 0:
            clauses.append(f"unless {condition(vocabulary, choose, 0)}")
        body = "\n".join(f"    {c}" for c in clauses)
        rules.append(f"rule review-{index} {{\n{body}\n}}")
    return rules


def _window(choose: Chooser, near: Sequence[date]) -> tuple[tuple[date, int], tuple[date, int]]:
    """A half-open local window starting near one of the dates, 30 minutes to three days long."""
    day, start = choose.choice(near), choose.choice(CLOCK_MINUTES)
    length = choose.choice([30, 60, 150, 600, 1440, 2880, 4320])
    end_day = day + timedelta(days=(start + length) // 1440)
    return (day, start), (end_day, (start + length) % 1440)


def _point(point: tuple[date, int], choose: Chooser) -> str:
    """`2026-12-24 18:00`; midnight sometimes as the date alone (the grammar's default)."""
    if point[1] == 0 and choose.boolean():
        return point[0].isoformat()
    return f"{point[0].isoformat()} {clock(point[1], choose)}"


def _roster(
    choose: Chooser,
    name: str,
    persons: list[str],
    calendars: dict[str, CalendarSpec],
    year: int,
) -> tuple[RosterSpec, str]:
    """`roster NAME { members …; during CAL | zone + open lines; rotate …; override … }`."""
    members = choose.sample(persons, 1, 3)
    lines = [f"roster {name} {{", "    members " + ", ".join(subject(m) for m in members)]
    calendar = choose.choice([None, *sorted(calendars)])
    hours: list[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]] = []
    if calendar is not None:
        lines.append(f"    during {calendar}")
        zone = calendars[calendar].zone
        if not calendars[calendar].zoned or choose.integer(0, 3) == 0:
            # A zone of its own for rotations and overrides (an `open always` calendar may
            # have none).
            zone = choose.choice(ZONES)
            lines.append(f"    zone {quote(zone)}")
        else:
            zone = calendars[calendar].zone
    else:
        zone = choose.choice(ZONES)
        lines.append(f"    zone {quote(zone)}")
        hours = [_hours(choose) for _ in range(choose.integer(1, 2))]
        for days, ranges in hours:
            spans = ", ".join(f"{clock(s, choose)}-{clock(e, choose)}" for s, e in ranges)
            lines.append(f"    open {days_text(days, choose)} {spans}")
    near = [*transition_days(zone, year), *year_edges(year), date(year, 11, 30)]
    rotation = None
    if choose.integer(0, 2):
        length = choose.choice(sorted(ROTATIONS))
        # Anchored a year and more before: turns counted across a year end and a leap day.
        shift = choose.choice((0, -1, 1, 30, -30, -400))
        anchor_day = choose.choice(near) + timedelta(days=shift)
        anchor_minute = choose.choice([None, *CLOCK_MINUTES])
        days, seconds = ROTATIONS[length]
        rotation = (days, seconds, anchor_day, anchor_minute or 0)
        at = "" if anchor_minute is None else f" {clock(anchor_minute, choose)}"
        lines.append(f"    rotate every {length} from {anchor_day.isoformat()}{at}")
    overrides = []
    for _ in range(choose.choice((0, 0, 1, 1, 2, 3))):
        person = choose.choice([*members, *persons])
        start, finish = _window(choose, near)
        overrides.append((person, start, finish))
        window = f"from {_point(start, choose)} until {_point(finish, choose)}"
        lines.append(f"    override {subject(person)} {window}")
    lines.append("}")
    spec = RosterSpec(zone, calendar, hours, members, rotation, overrides)
    return spec, "\n".join(lines)


def _lists(choose: Chooser, vocabulary: Vocabulary) -> list[str]:
    """Text lists (phrases for `mentions any of`) and symbol lists (values for `in`)."""
    lines = []
    for name in choose.sample(("competitors", "promises"), 0, 2):
        phrases = choose.sample(PHRASES, 1, 3)
        vocabulary.text_lists[name] = phrases
        lines.append(f"list {name} " + ", ".join(quote(p) for p in phrases))
    kinds = {
        "social": (("channel",), vocabulary.channels),
        "moods": (("post.sentiment",), list(SENTIMENTS)),
        "kinds": (("post.category",), vocabulary.categories),
        "sizes": (("post.author_reach", *(f"context.{f}" for f in vocabulary.flags)), None),
    }
    for name in choose.sample(sorted(kinds), 0, 2):
        paths, pool = kinds[name]
        if pool is None:
            values = [number(n, choose) for n in choose.sample(vocabulary.numbers, 1, 2)]
        else:
            values = choose.sample(pool, 1, 3)
        vocabulary.symbol_lists[name] = (paths, values)
        lines.append(f"list {name} [{', '.join(values)}]")
    return lines


def _responses(
    choose: Chooser, categories: list[str], vocabulary: Vocabulary
) -> tuple[list[ResponseSpec], list[str]]:
    """Per category: at most one plain response time, and up to two with `via` and `when`."""
    specs, lines = [], []
    for category in categories:
        plain = choose.integer(0, 3) > 0
        for index in range(int(plain) + choose.choice((0, 0, 1, 2))):
            budgets = BUDGETS if choose.integer(0, 24) else LONG_BUDGETS
            within = choose.choice(budgets)
            during = choose.choice([None, *sorted(vocabulary.calendars)])
            spec = ResponseSpec(category, within, during, None, [])
            clauses = [f"respond to {category} within {duration(within, choose)}"]
            if during:
                clauses.append(f"during {during}")
            if not (plain and index == 0):
                kind = choose.integer(0, 2)  # via, when, or both
                if kind != 1:
                    spec.channels = choose.sample(vocabulary.channels, 1, 2)
                    clauses.append("via " + ", ".join(spec.channels))
                if kind != 0:
                    for _ in range(choose.integer(1, 2)):
                        spec.conditions.append(post_condition(vocabulary, choose))
                        clauses.append(f"when {spec.conditions[-1]}")
                if kind == 2 and choose.boolean():  # `when` before `via` is fine too
                    clauses[-1], clauses[-2] = clauses[-2], clauses[-1]
            specs.append(spec)
            lines.append(choose.choice((" ", "\n    ")).join(clauses))
    return specs, lines


def make_policy(choose: Chooser) -> GeneratedPolicy:
    """A valid policy set: units, roles, people, groups, channels, accounts, calendars (with
    holidays and recurring dates), periods, lists, rosters, response times (with channels and
    conditions) and rules, in shuffled order over one to three files."""
    year = choose.choice(YEARS)
    units = choose.sample(UNIT_NAMES, 0, 3)
    declarations = [f"unit {u}" + choose.choice(["", f' "{u.title()}"']) for u in units]
    roles, role_units, role_parents, lines = _roles(choose, units)
    declarations += lines
    persons, lines = _holders(choose, "person", PERSON_IDS, roles, 5)
    declarations += lines
    groups, lines = _holders(choose, "group", GROUP_NAMES, roles, 2)
    declarations += lines
    channels = choose.sample(CHANNEL_NAMES, 1, 4)
    declarations.append("channel " + ", ".join(channels))
    accounts: dict[str, list[str]] = {}
    for channel in channels:
        if choose.integer(0, 3) == 0:
            accounts[channel] = choose.sample(HANDLES, 1, 2)
            declarations += [f"account {quote(h)} on {channel}" for h in accounts[channel]]
    calendars: dict[str, CalendarSpec] = {}
    for name in choose.sample(("office", "weekend", "nights"), 0, 2):
        calendars[name], text = _calendar(choose, name, year)
        declarations.append(text)
    periods: dict[str, PeriodSpec] = {}
    for name in choose.sample(("freeze", "launch-week"), 0, 2):
        periods[name], text = _period(choose, name, year)
        declarations.append(text)
    responded = choose.sample(CATEGORIES, 0, 3)
    vocabulary = Vocabulary(
        roles=roles,
        units=units,
        role_units=role_units,
        persons=persons,
        groups=groups,
        channels=channels,
        accounts=accounts,
        calendars=calendars,
        periods=periods,
        responses=[],
        categories=sorted({*responded, *choose.sample(CATEGORIES, 1, 2)}),
        labels=choose.sample(LABELS, 1, 2),
        flags=choose.sample(FLAGS, 1, 2),
        numbers=choose.sample(NUMBERS, 1, 2),
        ages=choose.sample(AGES, 1, 2),
        year=year,
        role_parents=role_parents,
    )
    declarations += _lists(choose, vocabulary)
    if persons:
        for name in choose.sample(ROSTER_NAMES, 0, 2):
            vocabulary.rosters[name], text = _roster(choose, name, persons, calendars, year)
            declarations.append(text)
    vocabulary.responses, lines = _responses(choose, responded, vocabulary)
    declarations += lines
    if units and choose.integer(0, 3) == 0:  # decides nothing; compiled, and formatted by `fmt`
        share = "share " + ", ".join(choose.sample(vocabulary.categories, 1, 2))
        share += " with " + ", ".join(choose.sample(units, 1, 2))
        if choose.boolean():
            share += f" when {post_condition(vocabulary, choose)}"
        declarations.append(share)
    vocabulary.days = sorted(
        {
            *(d for c in calendars.values() for d in c.closed[:4]),  # not every holiday
            *(w[0][0] for p in periods.values() for w in p.windows),
            *(d for c in calendars.values() for d in transition_days(c.zone, year)),
            *(d for r in vocabulary.rosters.values() for d in transition_days(r.zone, year)),
            *(o[1][0] for r in vocabulary.rosters.values() for o in r.overrides),
            *year_edges(year),
            date(year, 11, 27),
        }
    )
    # A third of policies get escalation rules that match together, a third approval rules
    # that do; they take the place of random rules, so that policies stay as large as before
    # (the sweep's time grows with the rules: the reference walks them all for each request).
    cluster = choose.integer(0, 5)
    rules = []
    if cluster < 2:
        rules = _escalations(choose, vocabulary)
    elif cluster < 4:
        rules = _approval_rules(choose, vocabulary)
    for index in range(max(choose.integer(1, 6) - len(rules), 1)):
        rules.append(_rule(choose, f"check-{index}", vocabulary))
    declarations += rules
    if choose.boolean():  # a broad grant, so that the other rules' effects show
        who = choose.choice(["anyone", *vocabulary.roles])
        declarations.append(f"rule grant {{ allow on any by {who} }}")
    files: dict[str, list[str]] = {}
    for declaration in choose.sample(declarations, len(declarations), len(declarations)):
        text = declaration
        if choose.integer(0, 5) == 0:  # a comment, for `fmt` to keep in place
            text = f"# about {declaration.split()[1]}\n{declaration}  # end"
        files.setdefault(choose.choice(("a.policy", "b.policy", "c.policy")), []).append(text)
    # The engine is handed the files in any order: it must read them in sorted path order, as
    # the reference does (which escalation is named can depend on it).
    paths = choose.sample(sorted(files), len(files), len(files))
    sources = {path: "\n".join(files[path]) + "\n" for path in paths}
    parsed = [parse_policy(sources[path], path) for path in sorted(sources)]
    return GeneratedPolicy(sources, vocabulary, parsed, ReferencePolicy(parsed))


# ---- requests --------------------------------------------------------------------------------


def spelled(instant: datetime, offset_minutes: int) -> str:
    """An instant as a request timestamp, with the given UTC offset."""
    return instant.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


def instant(vocabulary: Vocabulary, choose: Chooser) -> datetime:
    """An instant near something a policy cares about: an opening or closing time on a closed
    date or a daylight-saving day, a period's edge, a roster's handoff, opening, closing or
    override edge, local midnight at a year's end or leap day, or any time of the policy's
    year or the years either side."""
    kind = choose.integer(0, 6)
    zone_name = "UTC"
    year = vocabulary.year
    if kind >= 5 and vocabulary.rosters:
        return _roster_instant(vocabulary, choose, kind == 5)
    if kind == 0 and vocabulary.calendars:
        spec = choose.choice(list(vocabulary.calendars.values()))
        zone_name = spec.zone
        minute = choose.choice([m for _, ranges in spec.hours for r in ranges for m in r] or [0])
        day = choose.choice([*spec.closed, *transition_days(spec.zone, year), *vocabulary.days])
        day += timedelta(days=choose.choice((0, 0, -1, 1)))
    elif kind == 1 and vocabulary.periods:
        period = choose.choice(list(vocabulary.periods.values()))
        zone_name = period.zone
        day, minute = choose.choice([edge for w in period.windows for edge in w])
    elif kind == 2:
        # A daylight-saving change of any zone, in the policy's year or another (zones change
        # their rules: Sao Paulo's and Tehran's summer times ended).
        zone_name = choose.choice(ZONES)
        year = choose.choice((year, year, *YEARS))
        day = choose.choice(transition_days(zone_name, year) or (date(year, 3, 29),))
        minute = choose.choice(CLOCK_MINUTES)
    elif kind == 3:
        # Around local midnight as a year ends or a leap day begins or ends, in some zone: the
        # local date differs from the UTC date, and `closed every 02-29` may or may not exist.
        zone_name = choose.choice(ZONES)
        day = choose.choice(year_edges(year))
        minute = choose.choice((0, 0, 1440, 1439, 60, 720))
    elif choose.boolean() and vocabulary.days:
        # Any time within a fortnight of a date the policy names: requests of one policy share
        # weeks, so the engine's per-week duty timelines are built once, not per request.
        day = choose.choice(vocabulary.days) + timedelta(days=choose.integer(-7, 7))
        minute = choose.integer(0, 1439)
    else:
        year += choose.choice((0, 0, 0, 0, -1, 1))
        day = date(year, 1, 1) + timedelta(days=choose.integer(0, 365 if leap(year) else 364))
        minute = choose.integer(0, 1439)
    return _nudged(_wall(day, minute, zone_name, choose.integer(0, 1)), choose)


def _wall(day: date, minute: int, zone_name: str, fold: int = 0) -> datetime:
    """A local wall-clock time (`minute` after midnight, up to 24:00) as a UTC instant."""
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    return wall.replace(tzinfo=ZoneInfo(zone_name), fold=fold).astimezone(UTC)


def _nudged(moment: datetime, choose: Chooser) -> datetime:
    """The instant itself, a second or a minute either side, or somewhere within four hours."""
    nudge = choose.choice((0, 0, -1, 1, -60, 60, None))
    if nudge is None:
        nudge = choose.integer(-4 * 3600, 4 * 3600)
    return moment + timedelta(seconds=nudge)


def _roster_instant(vocabulary: Vocabulary, choose: Chooser, handoff: bool) -> datetime:
    """Near a roster's handoff (a turn's start), an override's edge, or an opening or closing
    of its hours, on a daylight-saving weekend or another date the policy names."""
    roster = vocabulary.rosters[choose.choice(sorted(vocabulary.rosters))]
    day = choose.choice([*transition_days(roster.zone, vocabulary.year), *vocabulary.days])
    day += timedelta(days=choose.choice((0, 0, -1, 1, 2)))
    if handoff and roster.rotation is not None:
        days, seconds, anchor_day, anchor_minute = roster.rotation
        first = _wall(anchor_day, anchor_minute, roster.zone)
        length = days * 86400 + seconds
        target = _wall(day, 0, roster.zone)
        k = int((target - first).total_seconds() // length) + choose.choice((0, 1, 2, -1))
        local = anchor_day + timedelta(days=k * days)
        start = _wall(local, anchor_minute, roster.zone) + timedelta(seconds=k * seconds)
        return _nudged(start, choose)
    if handoff and roster.overrides:
        _, begin, end = choose.choice(roster.overrides)
        point = choose.choice((begin, end))
        return _nudged(_wall(*point, roster.zone, choose.integer(0, 1)), choose)
    hours = roster.hours
    zone_name = roster.zone
    if roster.calendar is not None:
        hours = vocabulary.calendars[roster.calendar].hours
        zone_name = vocabulary.calendars[roster.calendar].zone
    minute = choose.choice([m for _, ranges in hours for r in ranges for m in r] or [0])
    return _nudged(_wall(day, minute, zone_name, choose.integer(0, 1)), choose)


def _person(vocabulary: Vocabulary, choose: Chooser) -> str:
    return choose.choice([*vocabulary.persons, *vocabulary.persons, *STRANGERS])


def _approvals(
    policy: GeneratedPolicy, choose: Chooser, actor: dict[str, Any]
) -> list[dict[str, Any]]:
    """Approvals by holders and non-holders of roles, and by the actor themselves; two times
    in three aimed at the policy's approval requirements."""
    vocabulary = policy.vocabulary
    if vocabulary.requirements and choose.integer(0, 2):
        return _aimed_approvals(policy, choose, actor)
    given = []
    for _ in range(choose.choice((0, 0, 0, 1, 1, 2, 3))):
        approval: dict[str, Any] = {"by": choose.choice([actor["id"], _person(vocabulary, choose)])}
        if vocabulary.groups and choose.integer(0, 3) == 0:
            approval["groups"] = choose.sample(vocabulary.groups, 0, 1)
        given.append(approval)
    return given


def _aimed_approvals(
    policy: GeneratedPolicy, choose: Chooser, actor: dict[str, Any]
) -> list[dict[str, Any]]:
    """Approvals aimed at the policy's requirements (one rule's, or all rules' as if all
    matched, the largest N for a role): for each required role, one fewer different holders
    than it still needs, exactly as many, or one more (persons, or strangers whose groups hold
    it; the actor counts as one when they hold it). Then, now and then, the actor's own
    approval, a non-holder's, or a second one by the same person with other groups, all in
    any order (README "Decision semantics": N different people; a person counts once, for
    every required role they hold). Cheaper than asking the reference what is missing, and
    it reaches N-approver outcomes about as often."""
    vocabulary, reference = policy.vocabulary, policy.reference
    held = reference.roles_held(actor["id"], actor.get("groups", []))
    requirements = vocabulary.requirements
    if choose.boolean():
        requirements = [choose.choice(requirements)]
    missing: dict[str, int] = {}
    for roles, count in requirements:
        for role in roles:
            missing[role] = max(missing.get(role, 0), count - (role in held))
    if not vocabulary.holders:
        candidates = [(person, ()) for person in vocabulary.persons] + [
            (stranger, (group,)) for stranger in STRANGERS for group in vocabulary.groups
        ]
        for person, groups in candidates:
            for role in reference.roles_held(person, groups):
                vocabulary.holders.setdefault(role, {}).setdefault(person, groups)
    chosen: dict[str, tuple[str, ...]] = {}
    for role, count in sorted(missing.items()):
        holders = {
            person: groups
            for person, groups in vocabulary.holders.get(role, {}).items()
            if person != actor["id"]
        }
        wanted = min(max(count + choose.choice((-1, 0, 0, 1)), 0), len(holders))
        for person in choose.sample(sorted(holders), wanted, wanted):
            chosen.setdefault(person, holders[person])
    given: list[dict[str, Any]] = [
        {"by": person, **({"groups": list(groups)} if groups else {})}
        for person, groups in chosen.items()
    ]
    if choose.integer(0, 3) == 0:
        given.append({"by": actor["id"]})
    if choose.integer(0, 3) == 0:
        given.append({"by": _person(vocabulary, choose)})
    if given and choose.integer(0, 3) == 0:
        again = dict(choose.choice(given))
        if vocabulary.groups and choose.boolean():
            again["groups"] = choose.sample(vocabulary.groups, 1, 2)
        given.append(again)
    return choose.sample(given, len(given), len(given))


def _context_value(vocabulary: Vocabulary, choose: Chooser) -> Any:
    kind = choose.integer(0, 3)
    if kind == 0:
        return choose.boolean()
    if kind == 1:
        n = choose.choice(vocabulary.numbers)
        return choose.choice([n, n - 1, n + 1, float(n)])
    if kind == 2:
        return choose.choice([*WORDS, "calm", "on", "1", "true"])
    return None


def _text(vocabulary: Vocabulary, choose: Chooser) -> str:
    """A few words; often around a list's phrase, as written or nearly (README "Lists")."""
    words = [choose.choice(WORDS) for _ in range(choose.integer(0, 3))]
    if choose.integer(0, 2):
        words.insert(choose.integer(0, len(words)), _phrase(vocabulary, choose))
    return choose.choice((" ", "", "\n")).join(words)


def _phrase(vocabulary: Vocabulary, choose: Chooser) -> str:
    """A list's phrase in another case, with other white space (or none) between its words and
    a letter, digit, `_` or something else on either side: a mention or a near miss."""
    phrases = [p for ps in vocabulary.text_lists.values() for p in ps] or list(PHRASES)
    phrase = choose.choice(phrases)
    phrase = choose.choice((phrase, phrase, phrase.upper(), phrase.lower(), phrase.swapcase()))
    gap = choose.choice(GAPS)
    phrase = phrase.replace(" ", gap)
    if choose.integer(0, 4) == 0:  # a longer word that starts like the phrase
        phrase = phrase[:-1] if len(phrase) > 1 else phrase + phrase
    return choose.choice(BEFORE) + phrase + choose.choice(AFTER)


def make_request(policy: GeneratedPolicy, choose: Chooser) -> dict[str, Any]:
    """A valid request (README "Request and decision") aimed at the policy's edges."""
    vocabulary = policy.vocabulary
    actor = _person(vocabulary, choose)
    request: dict[str, Any] = {"actor": {"id": actor}}
    groups = choose.sample([*vocabulary.groups, "visitors"], 0, 2)
    if groups:
        request["actor"]["groups"] = groups
    action = request["action"] = choose.choice(("reply", "reply", "post"))
    # Mostly declared channels and accounts: an undeclared one is refused before any rule.
    undeclared = choose.integer(0, 9) == 0
    channel = request["channel"] = "tiktok" if undeclared else choose.choice(vocabulary.channels)
    declared = vocabulary.accounts.get(channel, [])
    if declared and choose.integer(0, 4):
        account: str | None = choose.choice(declared)
    else:
        account = choose.choice([*HANDLES, None])
    if account is not None:
        request["account"] = account
    received = None
    if action == "reply":
        received = instant(vocabulary, choose)
        category = choose.choice([*vocabulary.categories, "feature_request"])
        reach = choose.choice(vocabulary.numbers)
        post: dict[str, Any] = {
            "id": choose.choice(("t-1", "t-2")),
            "sentiment": choose.choice(SENTIMENTS),
            "category": category,
            "author_reach": choose.choice([int(reach), int(reach) + 1, max(int(reach) - 1, 0)]),
            "received_at": spelled(received, choose.choice(OFFSETS)),
        }
        if choose.boolean():
            post["labels"] = choose.sample(vocabulary.labels, 0, 2)
        if choose.boolean():
            post["text"] = _text(vocabulary, choose)
        request["post"] = post
    content: dict[str, Any] = {}
    if choose.boolean():
        content["labels"] = choose.sample(vocabulary.labels, 0, 2)
    if choose.boolean():
        content["text"] = _text(vocabulary, choose)
    if content:
        request["content"] = content
    context = {
        f: _context_value(vocabulary, choose) for f in vocabulary.flags if choose.integer(0, 2)
    }
    if context:
        request["context"] = context
    approvals = _approvals(policy, choose, request["actor"])
    if approvals:
        request["approvals"] = approvals
    # The time comes last: a deadline may depend on the channel, the post and the context.
    if received is None:
        at = instant(vocabulary, choose)
    else:
        at = _reply_time(policy, choose, request, received)
    request["at"] = spelled(at, choose.choice(OFFSETS))
    return request


def _reply_time(
    policy: GeneratedPolicy, choose: Chooser, request: dict[str, Any], received: datetime
) -> datetime:
    """When the reply comes: at the deadline (±1 s), at an age threshold (±1 s), or anywhere."""
    kind = choose.integer(0, 3)
    nudge = timedelta(seconds=choose.choice((0, -1, 1)))
    if kind == 0:
        _, due = policy.reference.response_time(request)
        if due is not None:
            return due + nudge
    if kind == 1:
        return received + choose.choice(policy.vocabulary.ages) + nudge
    if kind == 2:
        return instant(policy.vocabulary, choose)
    return received + timedelta(seconds=choose.integer(0, 3 * 86400))


# ---- hypothesis strategies -------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> GeneratedPolicy:
    """Valid policy sets, as a hypothesis strategy (shrinks towards fewer, simpler declarations)."""
    return make_policy(DrawChooser(draw))


@st.composite
def requests(draw: st.DrawFn, policy: GeneratedPolicy) -> dict[str, Any]:
    """Requests aimed at `policy`'s edges, as a hypothesis strategy."""
    return make_request(policy, DrawChooser(draw))


@dataclass
class Case:
    """One generated policy and the requests to decide against it."""

    policy: GeneratedPolicy
    requests: list[dict[str, Any]]

    def __repr__(self) -> str:
        shown = "\n".join(show(r) for r in self.requests)
        return f"Case({self.policy!r}\n{shown})"


@st.composite
def cases(draw: st.DrawFn, most: int = 5) -> Case:
    policy = draw(policies())
    return Case(policy, draw(st.lists(requests(policy), min_size=1, max_size=most)))


def show(request: dict[str, Any]) -> str:
    return json.dumps(request, ensure_ascii=False)
