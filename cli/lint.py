"""`replygate lint PATH`: every error and warning of a policy set, not only the first."""

from __future__ import annotations

import argparse
import json
import sys

from replygate.cli.common import fail


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", default="policies", help="policy folder or file (default: policies)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")


# Problems that leave nothing to lint: the folder is missing or cannot be read.
NOT_READ = frozenset({"no-policy", "unreadable"})


def run(args: argparse.Namespace) -> int:
    from replygate.engine.loader import check_sources, read_folder
    from replygate.policy_dsl.source import PolicyError, Severity

    try:
        sources = read_folder(args.path)
    except PolicyError as error:
        if any(d.code in NOT_READ for d in error.diagnostics):
            print(error.render(), file=sys.stderr)  # nothing to lint: like a missing argument
            return 2
        # A file over a limit or not UTF-8 is a finding about that file, as any other (exit 1).
        sources, diagnostics = {}, list(error.diagnostics)
    except OSError as error:
        return fail(f"cannot read policy: {error}")
    else:
        _, diagnostics = check_sources(sources)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if args.format == "json":
        print(
            json.dumps(
                {
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": [d.as_dict() for d in diagnostics],
                },
                indent=2,
            )
        )
    else:
        for diagnostic in diagnostics:
            print(diagnostic.render(sources))
        print(f"{len(sources)} files: {errors} errors, {warnings} warnings", file=sys.stderr)
    return 1 if errors or (args.strict and warnings) else 0
