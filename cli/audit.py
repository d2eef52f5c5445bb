"""`replygate audit verify`: walk the decision log's hash chains and report the first problem.

    replygate audit verify --decision-log sqlite:///replygate-decisions.db
    replygate audit verify --decision-log postgresql://… --save-heads heads.json
    replygate audit verify --decision-log postgresql://… --anchors heads.json

Exit codes: 0 every record verified, 1 a record was altered, removed or inserted, 2 the log
cannot be read (bad URL, no such file, database unreachable). `--save-heads` writes the end of
every chain; keep that file where the database's owners cannot change it and pass it back with
`--anchors` later: a chain that was cut short or rewritten since is then found too.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

LOG_VARIABLE = "REPLYGATE_DECISION_LOG"


def default_log() -> str:
    """The log `replygate serve` would write to: $REPLYGATE_DECISION_LOG or its default file."""
    from replygate.api.settings import DEFAULT_DECISION_LOG

    return os.environ.get(LOG_VARIABLE) or DEFAULT_DECISION_LOG


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="verify every hash chain of the decision log",
        description="Verify every hash chain of the decision log: exit 0 when intact, 1 at "
        "the first record altered, removed or inserted.",
    )
    verify.add_argument(
        "--decision-log",
        metavar="URL",
        default=None,
        help=f"sqlite:///PATH or postgresql://… (default: ${LOG_VARIABLE}, else the file "
        "replygate serve writes)",
    )
    verify.add_argument(
        "--anchors",
        metavar="FILE",
        help="chain heads saved by an earlier --save-heads: each must still be in the log",
    )
    verify.add_argument(
        "--save-heads", metavar="FILE", help="write the last record of every chain to FILE"
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from replygate.cli.common import fail
    from replygate.decision_log import DecisionLogError, verify_log

    url = args.decision_log or default_log()
    try:
        anchors = _read_anchors(args.anchors) if args.anchors else None
        result = verify_log(url, anchors=anchors)
    except (ValueError, DecisionLogError, OSError) as error:
        return fail(str(error))
    if args.save_heads:
        heads = result.as_dict()["heads"]
        try:
            Path(args.save_heads).write_text(json.dumps({"heads": heads}, indent=2) + "\n")
        except OSError as error:
            return fail(f"cannot write {args.save_heads}: {error}")
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2))
    elif result.ok:
        chains = "chain" if result.chains == 1 else "chains"
        print(f"OK: {result.records} records in {result.chains} {chains} verified")
    else:
        more = f" ({result.problems} problems in all)" if result.problems > 1 else ""
        print(f"FAILED: {result.first_problem}{more}")
    return 0 if result.ok else 1


def _read_anchors(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    heads = data.get("heads", data) if isinstance(data, dict) else None
    if not isinstance(heads, dict) or not all(
        isinstance(head, dict) and "seq" in head and "hash" in head for head in heads.values()
    ):
        raise ValueError(f"{path}: not a heads file of `replygate audit verify --save-heads`")
    return heads
