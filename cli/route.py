"""`replygate route`: who should get this post, who is on duty to answer it, and by when."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from replygate.cli.common import (
    TooLarge,
    add_policy_options,
    fail,
    load_from_options,
    read_request,
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_policy_options(parser)
    parser.add_argument(
        "--request", metavar="FILE", required=True, help="the post as JSON; '-' reads stdin"
    )


def parse_route_request(text: str) -> tuple[Any, list[dict[str, str]] | None]:
    """A validated route request, or the errors that name each bad field."""
    from pydantic import ValidationError

    from replygate.engine.models import field_errors, parse_route_request, route_field_errors

    try:
        return parse_route_request(text), None
    except ValidationError as error:
        return None, route_field_errors(field_errors(error))


def run(args: argparse.Namespace) -> int:
    from replygate.engine.routing import route_or_refusal

    policy = load_from_options(args)
    if policy is None:
        return 2
    try:
        if args.request == "-":
            text = read_request(sys.stdin.buffer)
        else:
            with open(args.request, "rb") as stream:
                text = read_request(stream)
    except OSError as error:
        return fail(f"cannot read the request: {error}")
    except TooLarge as error:
        return fail(f"{args.request}: {error}")
    except UnicodeDecodeError:
        return fail(f"{args.request}: not UTF-8 text")
    request, errors = parse_route_request(text)
    if errors:
        for item in errors:
            print(f"{item['field']}: {item['message']}", file=sys.stderr)
        return 2
    answer, refused = route_or_refusal(policy, request)
    if answer is None:
        for item in refused:
            print(f"{item['field']}: {item['message']}", file=sys.stderr)
        return 2
    print(answer.model_dump_json(indent=2))
    return 0
