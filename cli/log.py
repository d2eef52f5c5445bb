"""`replygate log RULE`: the commits that added, changed or removed a rule, newest first.

A change is a change of the rule's meaning (its syntax tree): a commit that only re-lays the
rule out (`replygate fmt`) is not listed. History follows the first parent, as `--as-of` does,
so on a branch that merges pull requests a change appears as the merge that brought it in.
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule", metavar="RULE", help="the rule's name")
    parser.add_argument(
        "--repo", metavar="PATH", default=".", help="git repository (default: current folder)"
    )
    parser.add_argument(
        "--ref", metavar="REF", default="HEAD", help="branch, tag or commit (default: HEAD)"
    )
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        help="folder of the policy inside the repository (default: policies/, else every *.policy)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from replygate.cli.common import fail, policy_source, report
    from replygate.engine.calendars import strftime
    from replygate.engine.errors import InvalidPolicyDir, PolicyError
    from replygate.policy_dsl.source import shown_path

    try:
        source = policy_source(repo=args.repo, ref=args.ref, policy_dir=args.policy_dir)
        with source.open(blame=False) as repo:
            changes = repo.rule_history(args.rule, args.ref)
    except InvalidPolicyDir as error:  # the engine's words, with the option they are about
        return fail(f"--policy-dir: {error} [{error.code}]")
    except PolicyError as error:
        return report(error)
    if not changes:
        return fail(
            f"no rule named '{shown_path(args.rule)}' in the history of '{shown_path(args.ref)}'", 1
        )
    if args.format == "json":
        print(
            json.dumps(
                {"rule": args.rule, "ref": args.ref, "changes": [c.as_dict() for c in changes]},
                indent=2,
            )
        )
        return 0
    # Authors and subjects come from commits: escaped as file names are (`shown_path`), so an
    # escape sequence or U+202E in them cannot rewrite or reorder the terminal's lines.
    width = max(len(shown_path(c.author)) for c in changes)
    for change in changes:
        date = strftime(change.date, "%Y-%m-%d %H:%M %z")
        author, summary = shown_path(change.author), shown_path(change.summary)
        print(f"{change.commit[:10]}  {date}  {author:<{width}}  {change.change:<7}  {summary}")
        if change.written_in is not None:
            writer = shown_path(str(change.written_by))
            print(f"{'':10}  written by {writer} in {change.written_in[:10]}")
    return 0
