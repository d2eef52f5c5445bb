"""`replygate replay`: which real decisions would another policy revision have changed?

    replygate replay --decision-log sqlite:///replygate-decisions.db --ref my-branch
    replygate replay --decision-log postgresql://… --policy ./policies --since 7d --format json

Every logged request (since `--since`) is decided again, as of its own time, under the policy
at `--ref` in `--repo` (or the folder `--policy`); the ones whose outcome would change are
listed with the rule that decided before and after. Requests are replayed as stored: a field
redacted before logging is gone or a hash. A decision whose outcome would change while a rule
that could decide it reads a redacted field is *not replayable* for that rule: counted apart,
never listed as a change, and `--fail-on` ignores it.
Exit codes: 0 replayed, 1 `--fail-on` matched, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from replygate.cli.common import counted

_RELATIVE = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": 60, "h": 3600, "d": 86400}  # seconds
# A span back from now reaches at most 100 years back; an older start is written as a date.
MAX_SPAN_DAYS = 36_500


def since_time(text: str) -> datetime:
    """`--since`: an ISO timestamp with offset, or a span back from now (`30m`, `24h`, `7d`).

    ValueError with the message for `replygate: error: --since: …`.
    """
    shown = text if len(text) <= 40 else text[:39] + "…"
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        digits, unit = relative.groups()
        digits = digits.lstrip("0") or "0"
        limit = MAX_SPAN_DAYS * 86400 // _UNITS[unit]
        # Compared as text first: int() refuses numbers of thousands of digits.
        if len(digits) > len(str(limit)) or int(digits) > limit:
            raise ValueError(
                f"'{shown}' reaches back more than {MAX_SPAN_DAYS} days (at most {limit}{unit}); "
                "for an older start write the date, e.g. 1990-01-01T00:00:00+00:00"
            )
        return datetime.now(UTC) - timedelta(seconds=int(digits) * _UNITS[unit])
    from replygate.engine.models import (
        NEEDS_OFFSET,
        NOT_A_TIMESTAMP_TEXT,
        OUT_OF_RANGE,
        read_timestamp,
    )

    try:
        return read_timestamp(text)
    except ValueError as error:
        said = str(error)
        if said == NOT_A_TIMESTAMP_TEXT:
            said = "is not a time: write 2026-11-27T08:00:00+01:00, or 30m, 24h, 7d"
        elif said == NEEDS_OFFSET:
            raise ValueError(f"'{shown}': the time needs a time-zone offset") from None
        elif said == OUT_OF_RANGE:  # only years 1 and 9999 can be: the advice points away
            bound = "before 9999-12-31" if text.startswith("9999") else "after 0001-01-02"
            said = f"is out of range: write a time {bound}"
        raise ValueError(f"'{shown}' {said}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    from replygate.cli.audit import LOG_VARIABLE

    parser.add_argument(
        "--decision-log",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://… (default: ${LOG_VARIABLE}, else the file "
        "replygate serve writes)",
    )
    policy = parser.add_mutually_exclusive_group(required=True)
    policy.add_argument("--ref", metavar="REV", help="the policy at this git revision")
    policy.add_argument("--policy", metavar="PATH", help="the policy in this folder")
    parser.add_argument("--repo", metavar="PATH", help="with --ref: git repository (default: .)")
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        help="with --ref: folder of the policy inside the repository (default: policies/, else "
        "every *.policy)",
    )
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="only decisions at or after TIME (2026-11-27T08:00:00+01:00, or 30m, 24h, 7d ago; "
        f"at most {MAX_SPAN_DAYS}d)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--fail-on",
        choices=("change", "widening"),
        help="exit 1 when any decision changes (or becomes more permissive)",
    )


def run(args: argparse.Namespace) -> int:
    from replygate.cli.audit import default_log
    from replygate.cli.common import fail
    from replygate.decision_log import DecisionLogError
    from replygate.decision_log.replay import replay

    if args.since is not None:
        try:
            args.since = since_time(args.since)
        except ValueError as error:
            return fail(f"--since: {error}")
    policy = _load(args)
    if isinstance(policy, int):
        return policy
    try:
        result = replay(args.decision_log or default_log(), policy, args.since)
    except (ValueError, DecisionLogError) as error:
        return fail(str(error))
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(_text(result, args))
    if args.fail_on == "change" and result.changes:
        return 1
    if args.fail_on == "widening" and result.count("widening"):
        return 1
    return 0


def _load(args: argparse.Namespace) -> Any:
    """The policy to replay under, or the exit code after reporting why there is none."""
    from replygate.cli.common import fail, load_or_report, policy_source, report
    from replygate.engine.errors import PolicyError

    if args.policy is not None:
        given = [o for o, v in (("--repo", args.repo), ("--policy-dir", args.policy_dir)) if v]
        if given:
            # They name a git source; with a folder they would be ignored without a word.
            return fail(f"{' and '.join(given)}: only with --ref (a policy from git), not --policy")
    try:
        if args.policy is not None:
            source = policy_source(args.policy)
        else:
            source = policy_source(repo=args.repo or ".", ref=args.ref, policy_dir=args.policy_dir)
    except (PolicyError, ValueError) as error:
        return report(error)
    loaded = load_or_report(source)
    return 2 if loaded is None else loaded


def _text(result: Any, args: argparse.Namespace) -> str:
    from replygate.engine.calendars import strftime

    version = result.policy
    under = args.policy or f"{args.ref}" + (f" ({version.commit[:10]})" if version.commit else "")
    since = f" since {args.since.isoformat()}" if args.since else ""
    lines = [f"Replayed {counted(result.replayed, 'logged decision')}{since} under {under}."]
    if result.unreplayable:
        count = len(result.unreplayable)
        lines.append(
            f"{counted(count, 'logged request')} could not be rebuilt and "
            f"{'were' if count != 1 else 'was'} skipped "
            f"(first: {result.unreplayable[0][0]}: {result.unreplayable[0][1]})."
        )
    if result.unreadable:
        count = len(result.unreadable)
        lines.append(
            f"{count} stored record{'s' if count != 1 else ''} could not be read (altered in "
            f"the database? `replygate audit verify` checks) and {'were' if count != 1 else 'was'}"
            f" skipped (first: {result.unreadable[0][0]}: {result.unreadable[0][1]})."
        )
    if result.not_replayable:
        rules = ", ".join(f"{rule} ({n})" for rule, n in result.not_replayable_by_rule().items())
        count = len(result.not_replayable)
        lines.append(
            f"{count} logged decision{'s are' if count != 1 else ' is'} not replayable and not "
            f"counted as changes: {'they depend' if count != 1 else 'it depends'} on a redacted "
            f"field read by {rules}."
        )
    if not result.changes:
        lines.append("No decision would change.")
    else:
        counts = ", ".join(
            f"{result.count(klass)} {klass}"
            for klass in ("widening", "narrowing", "changed")
            if result.count(klass)
        )
        lines.append(f"{len(result.changes)} would change ({counts}):")
        for change in result.changes:
            when = strftime(change.time, "%Y-%m-%d %H:%M:%SZ")
            lines.append(
                f"  {change.decision_id}  {when}  {change.actor} {change.action} on "
                f"{change.channel}: {change.before} → {change.after}  [{change.klass}]"
            )
            lines.append(f"      deciding rule: {change.rule_before} → {change.rule_after}")
            lines.extend(f"      note: {note}" for note in change.notes)
    lines.extend(f"Note: {note}." for note in result.notes)
    return "\n".join(lines)
