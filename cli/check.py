"""`replygate check`: decide one request (`--request`) or a stream of them (`--requests`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from replygate.cli.common import fail, load_or_report, policy_source, report


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--policy", default="policies", help="policy folder or file (default: policies)"
    )
    where.add_argument(
        "--repo", metavar="PATH", help="read the policy from this git repository instead"
    )
    parser.add_argument(
        "--ref", metavar="REF", help="with --repo: branch, tag or commit (default: HEAD)"
    )
    parser.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="with --repo: use the commit REF pointed to at this time (offset required)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--request", metavar="FILE", help="one request as JSON; '-' reads stdin")
    source.add_argument(
        "--requests", metavar="FILE", help="JSON Lines: one request per line; '-' reads stdin"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print a readable trace of every candidate rule"
    )


def _open(name: str) -> IO[str]:
    return sys.stdin if name == "-" else open(name, encoding="utf-8")


def parse_request(text: str) -> tuple[Any, list[dict[str, str]] | None]:
    """A validated request, or the errors that name each bad field.

    The API's own parser (`engine.models.parse_request`): strict, so a line the API would refuse
    is refused here in the same words.
    """
    from pydantic import ValidationError

    from replygate.engine.models import field_errors
    from replygate.engine.models import parse_request as parse

    try:
        return parse(text), None
    except ValidationError as error:
        details = error.errors(include_url=False)
        if details and details[0]["type"] == "json_invalid":
            reason = details[0].get("ctx", {}).get("error", "invalid JSON")
            return None, [{"field": "request", "message": f"not valid JSON: {reason}"}]
        return None, field_errors(error)


def decide(policy: Any, request: Any) -> tuple[Any, list[dict[str, str]] | None]:
    """The decision, or the errors of a request with an undeclared category or label, or whose
    deadline leaves the calendar."""
    from replygate.engine.models import range_errors

    undeclared = policy.undeclared_values(request)
    if undeclared:
        return None, undeclared
    decision = policy.decide(request)
    refused = range_errors(decision)
    return (None, refused) if refused else (decision, None)


def _decide_one(policy: Any, stream: IO[str], explain: bool) -> int:
    request, errors = parse_request(stream.read())
    decision = None
    if not errors:
        decision, errors = decide(policy, request)
    if errors:
        for item in errors:
            print(f"{item['field']}: {item['message']}", file=sys.stderr)
        return 2
    if explain:
        from replygate.engine.explain import explain as trace

        print(trace(policy, request))
        return 0
    print(decision.model_dump_json(indent=2))
    return 0


def _decide_lines(policy: Any, lines: Iterable[str], explain: bool) -> int:
    """Decide every line; exit 2 when any line was rejected (the good ones are still decided)."""
    out = sys.stdout
    rejected = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        request, errors = parse_request(line)
        decision = None
        if not errors:
            decision, errors = decide(policy, request)
        if errors:
            out.write(
                json.dumps({"error": {"code": "bad_request", "line": number, "fields": errors}})
                + "\n"
            )
            rejected += 1
            continue
        if explain:
            from replygate.engine.explain import explain as trace

            out.write(trace(policy, request) + "\n\n")
            continue
        out.write(decision.model_dump_json() + "\n")
    if rejected:
        print(f"replygate: {rejected} request line(s) rejected", file=sys.stderr)
        return 2
    return 0


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 timestamp with an offset; `ValueError` names what is wrong."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--as-of: '{text}' is not a timestamp (use e.g. 2026-10-01T00:00:00+02:00)"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("--as-of: timestamp needs a time-zone offset (e.g. +02:00 or Z)")
    return when


def _load(args: argparse.Namespace) -> Any:
    """The compiled policy the options name, or None after reporting why there is none."""
    from replygate.engine.errors import PolicyError

    if args.repo is None and (args.ref is not None or args.as_of is not None):
        fail("--ref and --as-of read a policy from git: give --repo PATH too")
        return None
    try:
        as_of = None if args.as_of is None else parse_as_of(args.as_of)
        source = policy_source(args.policy, repo=args.repo, ref=args.ref, as_of=as_of)
    except (PolicyError, ValueError) as error:
        report(error)
        return None
    return load_or_report(source)


def run(args: argparse.Namespace) -> int:
    policy = _load(args)
    if policy is None:
        return 2
    name = args.request or args.requests
    try:
        with _open(name) as stream:
            if args.request:
                return _decide_one(policy, stream, args.explain)
            return _decide_lines(policy, stream, args.explain)
    except OSError as error:
        return fail(f"cannot read requests: {error}")
    except UnicodeDecodeError:
        return fail(f"{name}: not UTF-8 text")
