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


# A shell variable that is unset (`--anchors "$ANCHORS"`) arrives as an empty value. Read as
# "not given" it silently skipped the anchor check, formatted every file under `.` (`fmt ''`)
# or followed HEAD instead of the ref meant: an empty value is refused, naming the option.
def _empty_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            found = None if chosen is None else _empty_option(chosen, args)
            if found is not None:
                return found
            continue
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and not item.strip() for item in values):
            if action.option_strings:
                return action.option_strings[-1]
            return action.metavar if isinstance(action.metavar, str) else action.dest
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    empty = _empty_option(parser, args)
    if empty is not None:
        parser.exit(2, f"replygate: error: {empty}: is empty; give a value or leave it out\n")
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): what the command found is unknown to it, so never
        # "ok". 141 is what a shell reports for a process ended by SIGPIPE.
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
