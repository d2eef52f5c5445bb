"""`replygate audit verify|anchor`: check the decision log's hash chains; anchor their heads.

    replygate audit verify --decision-log sqlite:///replygate-decisions.db
    replygate audit verify --decision-log postgresql://… --log-key-file log.key --anchors a.json
    replygate audit verify … --log-key-file new.key --log-key-file old.key   # after a rotation
    replygate audit anchor --decision-log postgresql://… --log-key-file log.key --out a.json
    replygate audit anchor … --out refs/replygate/anchors --repo /path/to/audit-repo

verify exit codes: 0 every record verified, 1 a record was altered, removed or inserted, a row
or a table of the log was tampered with, a chain verifies under none of the keys given, or an
anchor does not match (altered, signed with a key not given, or unsigned while a key is
given), 2 the log or the anchors cannot be read (bad URL, no such file, database unreachable
or locked, not an anchor, a key file bigger than 4 KiB).
Without a key, anchors are read but their signature cannot be checked, and the report says so.
`--save-heads` saves nothing for a log that fails (exit 1): a cut tail is no baseline.
`anchor` verifies first and refuses (exit 1) to anchor a log that does not verify; it writes
the chain heads signed with the first key given to a file or a commit on a git ref of its
own (a branch, a tag, a remote-tracking ref or HEAD's ref is refused, exit 2: the commit holds
only anchors.json): keep it where the database's owners cannot write, and pass it to
`--anchors` later, so a chain cut short, removed or rewritten since is found too. The log keys
come from every `--log-key-file` (the current key first), else the file $REPLYGATE_LOG_KEY_FILE
names, else $REPLYGATE_LOG_KEY; each keyed chain is checked under the key it was written with
(docs/decision-log.md: threat model and key handling).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replygate.decision_log import VerifyResult
    from replygate.decision_log.anchors import Anchor

MORE_FINDINGS = 10  # findings printed after the first in text

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
        action="append",
        help="a log key (keyed chains, signed anchors); give it again for each older key after "
        "a rotation, the current key first (anchor signs with it): each chain is checked under "
        "the key it was written with (default: the file $REPLYGATE_LOG_KEY_FILE names, else "
        "$REPLYGATE_LOG_KEY)",
    )
    parser.add_argument(
        "--allow-unkeyed",
        action="store_true",
        help="with a key: accept unkeyed chains (written before the log had a key); with "
        "--anchors too, only those the anchors list. Anyone who can write the database can "
        "still rewrite such a chain beyond its anchored head, or any of them without anchors",
    )
    parser.add_argument(
        "--repo", metavar="PATH", default=".", help="git repository of a refs/… anchor (default: .)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="verify every hash chain of the decision log",
        description="Verify every hash chain of the decision log, each keyed chain under the "
        "key it was written with: exit 0 when intact, 1 at the first record altered, removed or "
        "inserted (or a chain that verifies under none of the keys given), 2 when the log, a key "
        "or the anchors cannot be read.",
    )
    _common(verify)
    verify.add_argument(
        "--anchors",
        metavar="FILE|REF",
        help="an anchor of `audit anchor` (a file, or refs/… in --repo), or heads saved by "
        "--save-heads: each anchored record must still be in the log, unchanged; with log keys "
        "the anchor must be signed with the one its fingerprint names; with --allow-unkeyed, "
        "an unkeyed chain it does not list is a finding",
    )
    verify.add_argument(
        "--save-heads",
        metavar="FILE",
        help="write the last record of every chain to FILE, unsigned (for a log without a key; "
        "anchor a keyed log with `audit anchor`); nothing is saved when the log fails (exit 1)",
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")
    anchor = actions.add_parser(
        "anchor",
        help="verify, then write the chain heads signed with the log key",
        description="Verify the decision log, then write its chain heads, signed with the log "
        "key (the first --log-key-file: give the current key first), to a file or a commit on "
        "a git ref kept where the database's owners cannot write.",
    )
    _common(anchor)
    anchor.add_argument(
        "--out",
        metavar="FILE|REF",
        required=True,
        help="a file, or a ref of its own in --repo such as refs/replygate/anchors (never a "
        "branch, a tag or HEAD's ref: the anchor commit holds only anchors.json)",
    )


def run(args: argparse.Namespace) -> int:
    from replygate.cli.common import fail
    from replygate.decision_log import DecisionLogError, verify_log
    from replygate.decision_log.anchors import (
        AnchorMismatch,
        check_anchor_ref,
        is_ref,
        read_anchor,
    )
    from replygate.decision_log.keys import load_keys

    if args.audit_action == "anchor" and is_ref(args.out):
        try:
            # Before the log is verified (minutes for a large one): a branch, a tag or HEAD's
            # ref would lose its files to the anchor commit (save_anchor refuses them too).
            check_anchor_ref(args.out, args.repo)
        except ValueError as error:
            return fail(f"--out: {error}")
    url = args.decision_log or default_log()
    anchor: Anchor | None = None
    refused: str | None = None  # an anchor that is not genuine: a finding, not an error
    try:
        keys = load_keys(args.log_key_file, os.environ)
        if args.audit_action == "verify" and args.save_heads and keys:
            # Unsigned heads of a keyed log would be refused by every later `--anchors` check.
            return fail(
                "--save-heads writes unsigned heads, which a keyed log's --anchors refuses: "
                "use `replygate audit anchor` (it signs them with the log key)"
            )
        if args.audit_action == "verify" and args.anchors:
            try:
                anchor = read_anchor(args.anchors, keys, args.repo)
            except AnchorMismatch as error:
                refused = str(error)
        heads = anchor.heads if anchor is not None else None
        result = verify_log(
            url,
            anchors=heads,
            keys=keys,
            allow_unkeyed=args.allow_unkeyed,
            anchored_by_current_key=anchor is not None and anchor.by_current_key,
        )
    except (ValueError, DecisionLogError, OSError) as error:
        return fail(str(error))
    if refused is not None:
        result = _with_first(result, refused)
    if args.audit_action == "anchor":
        return _anchor(args, result, keys, url)
    saved: str | None = None  # why the heads were not saved, for the report
    if args.save_heads:
        if not result.heads:
            return fail(f"--save-heads: the log holds no chain; nothing saved in {args.save_heads}")
        if result.ok:
            heads = result.as_dict()["heads"]
            try:
                Path(args.save_heads).write_text(json.dumps({"heads": heads}, indent=2) + "\n")
            except OSError as error:
                return fail(f"cannot write {args.save_heads}: {error}")
        else:
            # The heads of a log that fails are no baseline: a cut tail would pass from now on.
            saved = (
                f"Nothing saved in {args.save_heads}: the log failed verification, and its "
                "heads would make what was found the new baseline"
            )
    if args.format == "json":
        report = _report(result, anchor, args.anchors)
        if args.save_heads:
            report["save_heads"] = {"file": args.save_heads, "saved": saved is None}
        print(json.dumps(report, indent=2))
    else:
        print(_text(result, anchor) + (f"\n{saved}" if saved else ""))
    return 0 if result.ok else 1


def _with_first(result: VerifyResult, finding: str) -> VerifyResult:
    """The result with one more problem, found before the others (the anchors are read first)."""
    return dataclasses.replace(
        result,
        ok=False,
        first_problem=finding,
        problem_record=None,
        problems=result.problems + 1,
        findings=(finding, *result.findings),
    )


def _report(result: VerifyResult, anchor: Anchor | None, source: str | None) -> dict[str, Any]:
    report = result.as_dict()
    if source:
        report["anchors"] = {
            "source": source,
            "chains": len(anchor.heads) if anchor else None,
            # valid | unsigned | not checked; null when the anchor was refused (a finding)
            "signature": anchor.signature if anchor else None,
        }
    return report


def _text(result: VerifyResult, anchor: Anchor | None) -> str:
    if result.ok:
        chains = "chain" if result.chains == 1 else "chains"
        lines = [
            f"OK: {result.records} records in {result.chains} {chains} verified{_mode(result)}"
        ]
    else:
        more = f" ({result.problems} problems in all)" if result.problems > 1 else ""
        lines = [f"FAILED: {result.first_problem}{more}"]
        others = result.findings[1 : 1 + MORE_FINDINGS]
        lines += [f"  also {finding}" for finding in others]
        if result.problems > 1 + len(others):
            lines.append(f"  … and {result.problems - 1 - len(others)} more (--format json lists "
                         "the first 100)")  # fmt: skip
    lines += [f"Note: {note}" for note in result.notes]
    if anchor is not None:
        lines.append(anchor.describe())
    return "\n".join(lines)


def _mode(result: VerifyResult) -> str:
    keyed, unkeyed = result.keyed_chains, result.unkeyed_chains
    # Unkeyed: plain SHA-256, which anyone who can write the log could recompute.
    if unkeyed and not keyed:
        return " (unkeyed)"
    if unkeyed:
        return f" ({keyed} keyed, {unkeyed} unkeyed)"
    return " (keyed)" if keyed else ""


def _anchor(args: argparse.Namespace, result: VerifyResult, keys: list[bytes], url: str) -> int:
    from replygate.cli.common import fail
    from replygate.decision_log.anchors import make_anchor, save_anchor
    from replygate.decision_log.log import open_backend

    if not keys:
        return fail("audit anchor signs with the log key: pass --log-key-file or set "
                    "$REPLYGATE_LOG_KEY_FILE or $REPLYGATE_LOG_KEY")  # fmt: skip
    if not result.ok:
        print(f"FAILED: {result.first_problem}; nothing anchored")
        return 1
    if not result.heads:
        return fail("the log holds no chain: nothing to anchor")
    backend = open_backend(url, readonly=True)
    where = backend.where
    backend.close()
    try:
        # Signed with the current key, the first given: the next audit checks it with that.
        written = save_anchor(make_anchor(result.heads, keys[0], where), args.out, args.repo)
    except ValueError as error:
        return fail(str(error))
    chains = "chain" if result.chains == 1 else "chains"
    print(f"Anchored {result.chains} {chains} ({result.records} records) in {written}")
    return 0
