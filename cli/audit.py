"""`replygate audit verify|anchor`: check the decision log's hash chains; anchor their heads.

    replygate audit verify --decision-log sqlite:///replygate-decisions.db
    replygate audit verify --decision-log postgresql://… --log-key-file log.key --anchors a.json
    replygate audit anchor --decision-log postgresql://… --log-key-file log.key --out a.json
    replygate audit anchor … --out refs/replygate/anchors --repo /path/to/audit-repo

verify exit codes: 0 every record verified, 1 a record was altered, removed or inserted (or an
anchor does not match), 2 the log cannot be read (bad URL, no such file, database unreachable,
no key for a keyed log's anchors). `anchor` verifies first and refuses (exit 1) to anchor a log
that does not verify; it writes the chain heads signed with the log key to a file or a commit
on a git ref: keep it where the database's owners cannot write, and pass it to `--anchors`
later, so a chain cut short, removed or rewritten since is found too. The log key comes from
`--log-key-file` or $REPLYGATE_LOG_KEY (docs/decision-log.md: threat model and key handling).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replygate.decision_log import VerifyResult

LOG_VARIABLE = "REPLYGATE_DECISION_LOG"


def default_log() -> str:
    """The log `replygate serve` would write to: $REPLYGATE_DECISION_LOG or its default file."""
    from replygate.api.settings import DEFAULT_DECISION_LOG

    return os.environ.get(LOG_VARIABLE) or DEFAULT_DECISION_LOG


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--decision-log",
        metavar="URL",
        default=None,
        help=f"sqlite:///PATH or postgresql://… (default: ${LOG_VARIABLE}, else the file "
        "replygate serve writes)",
    )
    parser.add_argument(
        "--log-key-file",
        metavar="FILE",
        help="the log key (keyed chains, signed anchors); default: $REPLYGATE_LOG_KEY",
    )
    parser.add_argument(
        "--allow-unkeyed",
        action="store_true",
        help="with a key: accept unkeyed chains (written before the log had a key)",
    )
    parser.add_argument(
        "--repo", metavar="PATH", default=".", help="git repository of a refs/… anchor (default: .)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="verify every hash chain of the decision log",
        description="Verify every hash chain of the decision log: exit 0 when intact, 1 at "
        "the first record altered, removed or inserted.",
    )
    _common(verify)
    verify.add_argument(
        "--anchors",
        metavar="FILE|REF",
        help="an anchor of `audit anchor` (a file, or refs/… in --repo), or heads saved by "
        "--save-heads: each anchored record must still be in the log, unchanged",
    )
    verify.add_argument(
        "--save-heads", metavar="FILE", help="write the last record of every chain to FILE"
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")
    anchor = actions.add_parser(
        "anchor",
        help="verify, then write the chain heads signed with the log key",
        description="Verify the decision log, then write its chain heads, signed with the log "
        "key, to a file or a commit on a git ref kept where the database's owners cannot write.",
    )
    _common(anchor)
    anchor.add_argument(
        "--out", metavar="FILE|REF", required=True, help="a file, or refs/… in --repo"
    )


def run(args: argparse.Namespace) -> int:
    from replygate.cli.common import fail
    from replygate.decision_log import DecisionLogError, verify_log
    from replygate.decision_log.anchors import AnchorMismatch, load_anchor
    from replygate.decision_log.keys import load_key

    url = args.decision_log or default_log()
    try:
        key = load_key(args.log_key_file, os.environ)
        anchors = None
        if args.audit_action == "verify" and args.anchors:
            anchors = load_anchor(args.anchors, key, args.repo)
        result = verify_log(url, anchors=anchors, key=key, allow_unkeyed=args.allow_unkeyed)
    except AnchorMismatch as error:
        print(f"FAILED: {error}")
        return 1
    except (ValueError, DecisionLogError, OSError) as error:
        return fail(str(error))
    if args.audit_action == "anchor":
        return _anchor(args, result, key, url)
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
        print(f"OK: {result.records} records in {result.chains} {chains} verified{_mode(result)}")
    else:
        more = f" ({result.problems} problems in all)" if result.problems > 1 else ""
        print(f"FAILED: {result.first_problem}{more}")
    return 0 if result.ok else 1


def _mode(result: VerifyResult) -> str:
    keyed, unkeyed = result.keyed_chains, result.unkeyed_chains
    # Unkeyed: plain SHA-256, which anyone who can write the log could recompute.
    if unkeyed and not keyed:
        return " (unkeyed)"
    if unkeyed:
        return f" ({keyed} keyed, {unkeyed} unkeyed)"
    return " (keyed)" if keyed else ""


def _anchor(args: argparse.Namespace, result: VerifyResult, key: bytes | None, url: str) -> int:
    from replygate.cli.common import fail
    from replygate.decision_log.anchors import make_anchor, save_anchor
    from replygate.decision_log.log import open_backend

    if key is None:
        return fail("audit anchor signs with the log key: pass --log-key-file or set "
                    "$REPLYGATE_LOG_KEY")  # fmt: skip
    if not result.ok:
        print(f"FAILED: {result.first_problem}; nothing anchored")
        return 1
    backend = open_backend(url, readonly=True)
    where = backend.where
    backend.close()
    try:
        written = save_anchor(make_anchor(result.heads, key, where), args.out, args.repo)
    except ValueError as error:
        return fail(str(error))
    chains = "chain" if result.chains == 1 else "chains"
    print(f"Anchored {result.chains} {chains} ({result.records} records) in {written}")
    return 0
