"""What several commands share: where the policy comes from, and its errors for a person."""

from __future__ import annotations

import argparse
import codecs
import itertools
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy
    from replygate.engine.source import PolicySource


class TooLarge(ValueError):
    """A request (a file, or one line of requests) larger than the API would take."""


def read_request(stream: IO[bytes]) -> str:
    """A whole request file as text, or TooLarge past the API's default body size in bytes
    (not all of `/dev/zero` into memory first); UnicodeDecodeError for text that is not UTF-8."""
    from replygate.engine.models import MAX_REQUEST_BYTES

    data = stream.read(MAX_REQUEST_BYTES + 1)
    if len(data) > MAX_REQUEST_BYTES:
        raise TooLarge(f"the request is larger than {MAX_REQUEST_BYTES:,} bytes")
    # utf-8-sig: Windows tools (PowerShell 5's Out-File, Notepad) start a file with a BOM.
    return data.decode("utf-8-sig")


def request_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of a requests file; TooLarge at a line longer than the API's body size (its
    line end, LF or CRLF, not counted)."""
    from replygate.engine.models import MAX_REQUEST_BYTES

    for number in itertools.count(1):
        # Line 1 may start with a byte-order mark (Windows tools write one), not counted.
        mark = len(codecs.BOM_UTF8) if number == 1 else 0
        line = stream.readline(MAX_REQUEST_BYTES + 2 + mark)
        if not line:
            return
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if len(line.rstrip(b"\r\n")) > MAX_REQUEST_BYTES:
            raise TooLarge(f"line {number} is longer than {MAX_REQUEST_BYTES:,} bytes")
        yield line


def counted(count: int, word: str) -> str:
    """`1 file`, `2 files`: a count with its noun (an English plural in -s)."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def fail(message: str, code: int = 2) -> int:
    """Print `replygate: error: …` on stderr and return the exit code."""
    print(f"replygate: error: {message}", file=sys.stderr)
    return code


def report(error: Exception, source: PolicySource | None = None) -> int:
    """Print a loading error (any of the `PolicyError` family, or a bad option) and return 2.

    A problem outside the files (git, a revision) is one `replygate: error:` line with its code;
    errors in the files are printed each with its location, source line and caret.
    """
    from replygate.engine.errors import PolicyError, SourceError

    if isinstance(error, SourceError):
        return fail(f"{error} [{error.code}]")
    if not isinstance(error, PolicyError):
        return fail(str(error))
    print(error.render(), file=sys.stderr)
    if source is not None and source.is_git:
        return fail(f"the policy at '{source.ref}' does not compile")
    return 2


def policy_source(
    policy: str | Path | None = None,
    *,
    repo: str | Path | None = None,
    ref: str | None = None,
    as_of: datetime | None = None,
    policy_dir: str | None = None,
) -> PolicySource:
    """The source the usual options name: `--repo` (with `--ref`, `--as-of`, `--policy-dir`),
    else the folder `--policy`. Raises `PolicyError` (a bad revision) or `ValueError`."""
    from replygate.engine.source import PolicySource

    if repo is None:
        return PolicySource.folder(policy if policy is not None else "policies")
    return PolicySource.git(repo, ref or "HEAD", as_of=as_of, policy_dir=policy_dir)


def load_or_report(source: PolicySource | str | Path) -> CompiledPolicy | None:
    """Compile the policy of `source` (a `PolicySource`, or a folder path), or print every
    error and return None."""
    from replygate.engine.errors import PolicyError
    from replygate.engine.source import PolicySource

    if not isinstance(source, PolicySource):
        source = PolicySource.folder(source)
    try:
        return source.load()
    except PolicyError as error:
        report(error, source)
        return None


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """`--policy DIR | --repo PATH [--ref REF] [--as-of T]`: where the policy comes from, the
    same for every command that decides (read by `load_from_options`)."""
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


def option_time(option: str, text: str) -> datetime:
    """A command-line timestamp, read as the API reads one (the wire contract's grammar and
    limits); ValueError naming `option` otherwise."""
    from replygate.engine.models import read_timestamp

    try:
        return read_timestamp(text)
    except ValueError as error:
        said = str(error)
        if said.startswith("is "):  # "is not a timestamp", "is outside the range"
            said = f"{text!r} {said}"
        raise ValueError(f"{option}: {said}") from None


def load_from_options(args: argparse.Namespace) -> CompiledPolicy | None:
    """The compiled policy `add_policy_options` named, or None after reporting why not."""
    from replygate.engine.errors import PolicyError

    if args.repo is None and (args.ref is not None or args.as_of is not None):
        fail("--ref and --as-of read a policy from git: give --repo PATH too")
        return None
    try:
        as_of = None if args.as_of is None else option_time("--as-of", args.as_of)
        source = policy_source(args.policy, repo=args.repo, ref=args.ref, as_of=as_of)
    except (PolicyError, ValueError) as error:
        report(error)
        return None
    return load_or_report(source)
