"""`replygate check`: decide one request (`--request`) or a stream of them (`--requests`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from replygate.cli.common import (
    TooLarge,
    add_policy_options,
    fail,
    load_from_options,
    read_request,
    request_lines,
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_policy_options(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--request", metavar="FILE", help="one request as JSON; '-' reads stdin")
    source.add_argument(
        "--requests", metavar="FILE", help="JSON Lines: one request per line; '-' reads stdin"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print a readable trace of every candidate rule"
    )


class _WriteFailed(Exception):
    """Writing the answers to stdout failed (a full disk): not to be taken for a read error."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """A failure to write stdout raised as `_WriteFailed` (`| head` stays BrokenPipeError)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as error:
        raise _WriteFailed(error) from error


def _emit(text: str) -> None:
    with _writing():
        sys.stdout.write(text)


def _flush() -> None:
    # Buffered answers would otherwise fail only at interpreter exit, after `run` said "ok".
    with _writing():
        sys.stdout.flush()


def _drop_output() -> None:
    """Point stdout at /dev/null, so the answers left in its buffer are not written (and fail)
    again at exit, after the error was reported."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError):  # no real file behind stdout (a test's capture): nothing left
        pass


def _open(name: str) -> IO[bytes]:
    # Bytes: the request's size is counted as the API counts a body (read_request).
    return sys.stdin.buffer if name == "-" else open(name, "rb")


def _open_lines(name: str) -> IO[bytes]:
    # Bytes: each line is decoded on its own, so one line that is not UTF-8 is refused alone.
    return sys.stdin.buffer if name == "-" else open(name, "rb")


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


def _decide_one(policy: Any, stream: IO[bytes], explain: bool) -> int:
    request, errors = parse_request(read_request(stream))
    decision: Any = None
    if not errors:
        decision, errors = decide(policy, request)
    if errors:
        for item in errors:
            print(f"{item['field']}: {item['message']}", file=sys.stderr)
        return 2
    if explain:
        from replygate.engine.explain import explain as trace

        _emit(trace(policy, request) + "\n")
        return 0
    _emit(decision.model_dump_json(indent=2) + "\n")
    return 0


def _read_line(raw: bytes) -> tuple[Any, list[dict[str, str]] | None] | None:
    """The request of one line, or the errors naming what is wrong; None for a blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:  # this line is refused, not the whole file
        message = f"not UTF-8 text (byte {error.start + 1} of the line cannot be decoded)"
        return None, [{"field": "request", "message": message}]
    return parse_request(line) if line.strip() else None


def _decide_lines(policy: Any, lines: Iterable[bytes], explain: bool) -> int:
    """Decide every line; exit 2 when any line was rejected (the good ones are still decided)."""
    rejected = 0
    for number, raw in enumerate(lines, start=1):
        read = _read_line(raw)
        if read is None:
            continue
        request, errors = read
        decision: Any = None
        if not errors:
            decision, errors = decide(policy, request)
        if errors:
            _emit(
                json.dumps({"error": {"code": "bad_request", "line": number, "fields": errors}})
                + "\n"
            )
            rejected += 1
            continue
        if explain:
            from replygate.engine.explain import explain as trace

            _emit(trace(policy, request) + "\n\n")
            continue
        _emit(decision.model_dump_json() + "\n")
    if rejected:
        print(f"replygate: {rejected} request line(s) rejected", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    policy = load_from_options(args)
    if policy is None:
        return 2
    name = args.request or args.requests
    try:
        if args.requests:
            with _open_lines(name) as lines:
                code = _decide_lines(policy, request_lines(lines), args.explain)
        else:
            with _open(name) as stream:
                code = _decide_one(policy, stream, args.explain)
        _flush()
        return code
    except BrokenPipeError:  # the reader went away (`| head`): main() ends quietly
        raise
    except _WriteFailed as error:
        _drop_output()
        return fail(f"cannot write the answers: {error}")
    except OSError as error:
        option = "--requests" if args.requests else "--request"
        return fail(f"{option}: cannot read '{name}': {error.strerror or error}")
    except UnicodeDecodeError:
        return fail(f"{name}: not UTF-8 text")
    except TooLarge as error:
        _flush()
        return fail(f"{name}: {error}")
