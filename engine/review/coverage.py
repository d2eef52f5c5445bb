"""The coverage section of a review: response-time gaps a policy change opens or closes.

Self-contained, so that `replygate diff` adds it after the rest of the review whatever the
renderer looks like: `coverage_changes(base, head, start, end)` compares, per class of post the
two versions tell apart, the arrival windows nobody could answer in time (engine.coverage);
`coverage_text`, `coverage_markdown` and `coverage_json` print the result. An opened gap counts
as widening for `--fail-on widening`: a promise the policy no longer keeps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from replygate.engine.calendars import _merge, strftime
from replygate.engine.coverage import (
    PostClass,
    _describe_reach,
    _reach_thresholds,
    channels_phrase,
    class_gaps,
    policy_zone,
    post_classes,
    traits_phrase,
)
from replygate.engine.evaluator import CompiledPolicy

Interval = tuple[datetime, datetime]
WEEKS = 4


@dataclass(frozen=True)
class GapChange:
    """Classes of post whose uncovered arrival windows changed, the same way."""

    category: str
    sentiments: tuple[str, ...]
    channels: tuple[str, ...]
    reach: tuple[int, ...]
    opened: tuple[Interval, ...]
    closed: tuple[Interval, ...]
    traits: tuple[str, ...] = ()  # the labels and context the classes share (empty: any)


@dataclass(frozen=True)
class CoverageDiff:
    """What a change does to response-time coverage over [start, end)."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    changes: tuple[GapChange, ...]
    channels: tuple[str, ...] = ()  # every channel of both versions
    thresholds: tuple[int, ...] = ()  # every reach threshold of both versions

    @property
    def opened(self) -> bool:
        return any(c.opened for c in self.changes)


def default_window(
    policy: CompiledPolicy, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Four weeks from the Monday 00:00 of this week in the policy's zone."""
    zone = ZoneInfo(policy_zone(policy))
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    end_day = monday + timedelta(weeks=WEEKS)
    return start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)


def _minus(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The parts of `a` outside `b`, merged: one sweep over both, sorted (a class's gaps run to
    thousands of intervals; cutting each by every other made `diff` quadratic in them)."""
    cuts = _merge(b)
    found: list[Interval] = []
    first = 0  # the first cut that may still reach the next piece of `a`
    for start, end in _merge(a):
        while first < len(cuts) and cuts[first][1] <= start:
            first += 1
        cursor = start
        for low, high in itertools.islice(cuts, first, None):
            if low >= end:
                break
            if low > cursor:
                found.append((cursor, low))
            cursor = max(cursor, high)
            if cursor >= end:
                break
        if cursor < end:
            found.append((cursor, end))
    return found


def coverage_changes(
    base: CompiledPolicy, head: CompiledPolicy, start: datetime, end: datetime
) -> CoverageDiff:
    """Per class of post, the gaps opened and closed from `base` to `head`."""
    own = set(post_classes(base)), set(post_classes(head))
    kinds = sorted(
        own[0] | own[1],
        key=lambda k: (k.category, k.sentiment, k.channel, k.reach, repr(k.traits)),
    )
    every_trait = sorted(
        {k.traits for k in kinds}, key=repr
    )  # both sides' combinations: a class one side does not test still counts
    before, after = class_gaps(base, kinds, start, end), class_gaps(head, kinds, start, end)
    grouped: dict[tuple[str, tuple[Interval, ...], tuple[Interval, ...]], list[PostClass]] = {}
    twins = [_by_channel(classes) for classes in own]
    for kind in kinds:
        old, new = _gaps_on(before, own[0], twins[0], kind), _gaps_on(after, own[1], twins[1], kind)
        opened, closed = tuple(_minus(new, old)), tuple(_minus(old, new))
        if opened or closed:
            grouped.setdefault((kind.category, opened, closed), []).append(kind)
    changes = tuple(
        GapChange(
            category=category,
            sentiments=tuple(sorted({k.sentiment for k in group})),
            channels=tuple(sorted({k.channel for k in group})),
            reach=tuple(sorted({k.reach for k in group})),
            opened=opened,
            closed=closed,
            traits=tuple(traits_phrase(group, every_trait)),
        )
        for (category, opened, closed), group in grouped.items()
    )
    channels = tuple(sorted(set(base.channels) | set(head.channels)))
    thresholds = tuple(sorted(set(_reach_thresholds(base)) | set(_reach_thresholds(head))))
    return CoverageDiff(start, end, ZoneInfo(policy_zone(head)), changes, channels, thresholds)


def _by_channel(classes: set[PostClass]) -> dict[PostClass, list[PostClass]]:
    """A side's classes under their account-less twin."""
    found: dict[PostClass, list[PostClass]] = {}
    for kind in classes:
        found.setdefault(replace(kind, account=None), []).append(kind)
    return found


def _gaps_on(
    gaps: dict[PostClass, list[Interval]],
    classes: set[PostClass],
    twins: dict[PostClass, list[PostClass]],
    kind: PostClass,
) -> list[Interval]:
    """The gaps of `kind` on a side whose own classes are `classes`. A channel given accounts
    on one side only takes posts to those accounts there: posts without one (the other side's
    class) are refused, and judging them so opened a gap at every hour. Such a class is
    compared with the side's classes for its accounts, a gap where any of them has one."""
    if kind in classes:
        return gaps.get(kind, [])
    same = twins.get(replace(kind, account=None), [])
    if not same:
        return gaps.get(kind, [])
    return _merge([interval for twin in same for interval in gaps.get(twin, [])])


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return strftime(moment.astimezone(zone), "%a %Y-%m-%d %H:%M")


def _hours(intervals: tuple[Interval, ...]) -> float:
    return round(sum((e - s).total_seconds() for s, e in intervals) / 3600, 2)


def posts_phrase(change: GapChange, diff: CoverageDiff) -> str:
    """Which posts a gap change is about, as every format names them: the category, then the
    sentiments, channels, reach (when not any) and the labels and context the classes share."""
    sentiments = "any sentiment" if len(change.sentiments) == 3 else ", ".join(change.sentiments)
    channels = channels_phrase(change.channels, diff.channels)
    reach = _describe_reach(change.reach, diff.thresholds)
    reach_part = "" if reach == "any reach" else f"; {reach}"
    traits = "".join(f"; {phrase}" for phrase in change.traits)
    return f"{change.category.replace('_', ' ')} ({sentiments}; {channels}{reach_part}{traits})"


GAP_OPENS = "a coverage gap opens (below)"
GAP_MEANS = "some posts can no longer be answered in time by anyone on duty"


def gap_headline(form: str) -> str:
    """The headline of a change that widens through an opened coverage gap alone: what
    `replygate diff` prints above the report (text, markdown) and the review page shows (html:
    the words after its "Widening:")."""
    if form == "markdown":
        return f"> **This change widens decisions**: {GAP_OPENS}, so {GAP_MEANS}. Compliance sign-off needed."
    if form == "html":
        return f"{GAP_OPENS}: {GAP_MEANS}"
    return f"WIDENING: {GAP_OPENS}: {GAP_MEANS}; compliance sign-off needed."


def coverage_text(diff: CoverageDiff) -> str:
    """The section for a terminal."""
    head = f"Coverage {_local(diff.start, diff.zone)} - {_local(diff.end, diff.zone)} ({diff.zone.key})"
    if not diff.changes:
        return f"{head}: no response-time gap opened or closed"
    lines = [f"{head}:"]
    for change in diff.changes:
        lines.append(
            f"  {posts_phrase(change, diff)}: {_hours(change.opened):g} h opened, {_hours(change.closed):g} h closed"
        )
        lines.extend(
            f"    + {_local(s, diff.zone)} - {_local(e, diff.zone)}" for s, e in change.opened
        )
        lines.extend(
            f"    - {_local(s, diff.zone)} - {_local(e, diff.zone)}" for s, e in change.closed
        )
    return "\n".join(lines)


def coverage_markdown(diff: CoverageDiff) -> str:
    """The section for a pull-request comment."""
    lines = [
        "### Response-time coverage",
        "",
        f"{_local(diff.start, diff.zone)} to {_local(diff.end, diff.zone)}, local time "
        f"({diff.zone.key}). A gap is a time at which a post could arrive and nobody on duty "
        "who may answer it could do so before it is due.",
    ]
    if not diff.changes:
        return "\n".join([*lines, "", "No gap opened or closed."])
    lines += ["", "| posts | change | from | until |", "|---|---|---|---|"]
    for change in diff.changes:
        for label, windows in (("gap opened", change.opened), ("gap closed", change.closed)):
            lines.extend(
                f"| {posts_phrase(change, diff)} | {label} | {_local(s, diff.zone)} | {_local(e, diff.zone)} |"
                for s, e in windows
            )
    return "\n".join(lines)


def coverage_json(diff: CoverageDiff) -> dict[str, Any]:
    """The section for a machine."""

    def local(moment: datetime) -> str:
        return moment.astimezone(diff.zone).isoformat(timespec="seconds")

    return {
        "from": local(diff.start),
        "until": local(diff.end),
        "zone": diff.zone.key,
        "opened": diff.opened,
        "changes": [
            {
                "category": c.category,
                "posts": posts_phrase(c, diff),  # the words the text and markdown use
                "sentiments": list(c.sentiments),
                "channels": list(c.channels),
                "reach": list(c.reach),
                "traits": list(c.traits),
                "opened": [{"from": local(s), "until": local(e)} for s, e in c.opened],
                "closed": [{"from": local(s), "until": local(e)} for s, e in c.closed],
            }
            for c in diff.changes
        ],
    }


def review_coverage(
    base: CompiledPolicy, head: CompiledPolicy, start: datetime | None = None
) -> CoverageDiff | None:
    """The coverage change of a review over `WEEKS` weeks from `start` (default: this week);
    None when neither side has rosters (a policy without rosters promises no coverage)."""
    if not base.duty.rosters and not head.duty.rosters:
        return None
    if start is None:
        start, end = default_window(head)
    else:
        end = start + timedelta(weeks=WEEKS)
    return coverage_changes(base, head, start, end)
