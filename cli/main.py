"""`replygate`: one entry point, one module per subcommand (cli/<command>.py).

Each command module exposes `configure(parser)` and `run(args) -> int`. Modules import their
heavy dependencies inside `run`, so `replygate check` does not pay for the web stack.
Exit codes: 0 success, 1 a finding (lint errors, failing scenarios, widening diff), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from replygate import __version__

COMMANDS = {
    "check": "decide requests against a policy",
    "lint": "report every error and warning in a policy",
    "fmt": "rewrite policy files in the canonical layout",
    "diff": "show what a policy change does to rules and decisions",
    "log": "list the commits that changed a rule",
    "serve": "run the decision API",
    "test": "run the Gherkin scenarios against a policy",
    "audit": "verify the decision log's hash chain",
    "replay": "re-decide logged requests under another policy revision",
    "route": "list who may answer a post, who is on duty, and whether anyone can in time",
    "coverage": "find the hours in which promised response times have nobody to answer",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replygate", description="Governance-as-code for social-media publishing."
    )
    parser.add_argument("--version", action="version", version=f"replygate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        try:
            module = importlib.import_module(f"replygate.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"replygate.cli.{name}":
                raise
            continue
        sub = commands.add_parser(name, help=summary, description=summary)
        module.configure(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
