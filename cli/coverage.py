"""`replygate coverage`: the hours in which promised response times have nobody to answer."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import Any

from replygate.cli.common import add_policy_options, fail, load_from_options, option_time


def configure(parser: argparse.ArgumentParser) -> None:
    add_policy_options(parser)
    parser.add_argument(
        "--from", dest="start", required=True, metavar="T", help="start (offset required)"
    )
    parser.add_argument(
        "--until", dest="end", required=True, metavar="T", help="end (offset required)"
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument(
        "--fail-on-gap", action="store_true", help="exit 1 when any class has a gap"
    )


def outside_window(options: str, start: datetime, end: datetime) -> str | None:
    """Why coverage cannot be computed over [start, end), or None when it can."""
    from replygate.engine.models import EARLIEST_DUTY, LATEST_DUTY
    from replygate.engine.rosters import LOOKAHEAD_DAYS

    first, last = EARLIEST_DUTY, LATEST_DUTY - timedelta(days=LOOKAHEAD_DAYS)
    if first <= start and end <= last:
        return None
    return _window_words(options)


def _window_words(options: str) -> str:
    from replygate.engine.models import EARLIEST_DUTY, LATEST_DUTY
    from replygate.engine.rosters import LOOKAHEAD_DAYS

    first, last = EARLIEST_DUTY, LATEST_DUTY - timedelta(days=LOOKAHEAD_DAYS)
    return (
        f"{options} must lie between {first.date()} and {last.date()}: who is on duty is not "
        "computed closer to the ends of time"
    )


def window_time(option: str, text: str, options: str) -> datetime:
    """`option_time`, with an instant beyond UTC's years 1-9999 refused as outside the window
    (`outside_window`'s words: they name the range that can be used)."""
    from replygate.engine.models import OUT_OF_RANGE

    try:
        return option_time(option, text)
    except ValueError as error:
        if OUT_OF_RANGE not in str(error):
            raise
        raise ValueError(_window_words(options)) from None


def _local(moment: datetime, report: Any) -> str:
    from replygate.engine.calendars import strftime

    return strftime(moment.astimezone(report.zone), "%a %Y-%m-%d %H:%M")


def _window(interval: tuple[datetime, datetime], report: Any) -> str:
    return f"{_local(interval[0], report)} - {_local(interval[1], report)}"


def _title(item: Any, report: Any) -> str:
    sentiments = "any sentiment" if len(item.sentiments) == 3 else " or ".join(item.sentiments)
    from replygate.engine.coverage import channels_phrase

    channels = channels_phrase(item.channels, report.channels)
    traits = f" ({' or '.join(item.traits)})" if item.traits else ""
    rest = item.rest_phrase
    return (
        f"{item.category.replace('_', ' ')}: {sentiments}, {item.reach}, {channels}{traits}{rest}"
    )


def as_json(report: Any) -> dict[str, Any]:
    def local(moment: datetime) -> str:
        return moment.astimezone(report.zone).isoformat(timespec="seconds")

    return {
        "from": local(report.start),
        "until": local(report.end),
        "zone": report.zone.key,
        "gaps": report.has_gaps,
        "notes": list(report.notes),
        "classes": [
            {
                "category": item.category,
                "sentiments": item.sentiments,
                "channels": item.channels,
                "reach": item.reach,
                "traits": item.traits,
                "response_time": _promise_json(item.response_time),
                # Each arrival is due by the earliest of these (one, unless several hold).
                "response_times": [_promise_json(rule) for rule in item.response_times],
                "promise": item.promise,
                "gaps": [{"from": local(a), "until": local(b)} for a, b in item.gaps],
                "gap_hours": item.gap_hours,
                "single_person": [
                    {"from": local(a), "until": local(b), "person": person}
                    for (a, b), person in item.single
                ],
                "single_person_hours": item.single_hours,
            }
            for item in report.classes
        ],
        "staffed_hours": report.staffed,
    }


def _promise_json(rule: Any) -> dict[str, Any]:
    source = rule.reason.source
    return {"message": rule.reason.message, "source": source.model_dump() if source else None}


def as_text(report: Any) -> str:
    lines = [
        f"coverage {_local(report.start, report)} - {_local(report.end, report)} ({report.zone.key})"
    ]
    for item in report.classes:
        lines.append("")
        lines.append(f"{_title(item, report)}  [{item.promise}]")
        lines.append(f"  gaps: {item.gap_hours:g} h")
        lines.extend(f"    {_window(gap, report)}" for gap in item.gaps)
        lines.append(f"  one person only: {item.single_hours:g} h")
        lines.extend(f"    {_window(w, report)}  {person}" for w, person in item.single)
    lines.append("")
    lines.append("staffed hours per roster and week")
    for roster, weeks in report.staffed.items():
        lines.append(f"  {roster}: " + ", ".join(f"{w} {h:g} h" for w, h in weeks.items()))
    lines.extend(f"\nNote: {note}" for note in report.notes)
    return "\n".join(lines)


def as_markdown(report: Any) -> str:
    """For a compliance reviewer: one table per class, weekday and hours, no internal names."""
    lines = [
        f"# Response-time coverage, {_local(report.start, report)} to {_local(report.end, report)}",
        "",
        f"Times are local ({report.zone.key}). A gap is a time in which a post of this kind could "
        "arrive and nobody on duty who may answer it could do so before it is due.",
    ]
    for item in report.classes:
        lines += ["", f"## {_title(item, report).capitalize()}", ""]
        lines.append(
            f"Promise: {item.promise}. "
            f"Not covered: {item.gap_hours:g} hours. One person only: {item.single_hours:g} hours."
        )
        lines += ["", "| weekday | from | until | covered by |", "|---|---|---|---|"]
        for a, b in item.gaps:
            lines.append(
                f"| {a.astimezone(report.zone):%A} | {_local(a, report)} | {_local(b, report)} | nobody |"
            )
        for (a, b), _person in item.single:
            lines.append(
                f"| {a.astimezone(report.zone):%A} | {_local(a, report)} | {_local(b, report)} | one person only |"
            )
    lines += ["", "## Staffed hours per week", "", "| team | week | hours |", "|---|---|---|"]
    for roster, weeks in report.staffed.items():
        lines.extend(f"| {roster} | {week} | {hours:g} |" for week, hours in weeks.items())
    lines.extend(f"\n_Note: {note}._" for note in report.notes)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from replygate.engine.coverage import coverage
    from replygate.engine.models import OutOfRange

    try:
        window = "--from … --until"
        start = window_time("--from", args.start, window)
        end = window_time("--until", args.end, window)
    except ValueError as error:
        return fail(str(error))
    if end <= start:
        return fail("--until must be after --from")
    if (end - start).days > 366:
        return fail("--from … --until spans more than a year")
    outside = outside_window("--from … --until", start, end)
    if outside:
        return fail(outside)
    policy = load_from_options(args)
    if policy is None:
        return 2
    try:
        report = coverage(policy, start, end)
    except (OutOfRange, OverflowError):
        return fail(
            "the response deadlines of posts arriving in this window reach past "
            "9999-12-31T23:59:59.999999Z: choose an earlier --until"
        )
    if args.format == "json":
        print(json.dumps(as_json(report), indent=2))
    elif args.format == "markdown":
        print(as_markdown(report))
    else:
        print(as_text(report))
    return 1 if args.fail_on_gap and report.has_gaps else 0
