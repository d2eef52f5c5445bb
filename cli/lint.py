"""`replygate lint PATH`: every error and warning of a policy set, not only the first."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from replygate.cli.common import counted, fail
from replygate.policy_dsl.files import shown_name


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", default="policies", help="policy folder or file (default: policies)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")


# Problems that leave nothing to lint: the folder is missing or cannot be read.
NOT_READ = frozenset({"no-policy", "unreadable"})


def _valid_text(value: Any) -> Any:
    """`value` with every lone surrogate shown as the byte it stands for (`c\\xff.policy`).

    A file name that is not UTF-8 reaches Python with its bytes as lone surrogates, which JSON
    can only write as `\\udcff`: strict consumers refuse that, so the JSON output never holds one.
    """
    if isinstance(value, str):
        return shown_name(value)
    if isinstance(value, dict):
        return {key: _valid_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_valid_text(item) for item in value]
    return value


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
        sources, diagnostics = dict(error.sources), list(error.diagnostics)
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
                    "diagnostics": [_valid_text(d.as_dict()) for d in diagnostics],
                },
                indent=2,
            )
        )
    else:
        for diagnostic in diagnostics:
            print(diagnostic.render(sources))
        tally = f"{counted(errors, 'error')}, {counted(warnings, 'warning')}"
        print(f"{counted(len(sources), 'file')}: {tally}", file=sys.stderr)
    return 1 if errors or (args.strict and warnings) else 0
