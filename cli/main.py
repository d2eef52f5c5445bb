"""`replygate`: one entry point, one module per subcommand (cli/<command>.py).

Each command module exposes `configure(parser)` and `run(args) -> int`. Modules import their
heavy dependencies inside `run`, so `replygate check` does not pay for the web stack.
Exit codes: 0 success, 1 a finding (lint errors, failing scenarios, widening diff), 2 bad input.

What a command prints goes through `_Output`, which remembers a failed write: an output that
could not be written (a full disk, `>&-`) is `replygate: error: cannot write the output: …`,
exit 2, whatever the command found, since 0 or 1 would report a result nobody received.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

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

# What a shell reports for a process ended by SIGPIPE, and by SIGINT.
BROKEN_PIPE_EXIT = 141
INTERRUPTED_EXIT = 130


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


class OutputError(OSError):
    """Writing stdout failed (ENOSPC, EIO, EBADF…). An OSError still, so a command that reports
    its own write failures (`check`: "cannot write the answers") keeps doing so."""


def _closed() -> OSError:
    """The error of a standard stream that was closed when replygate started (`>&-`, `<&-`)."""
    return OSError(errno.EBADF, os.strerror(errno.EBADF))


class _ClosedInput:
    """stdin when replygate was started without one: reading it fails as a closed descriptor
    does, so `--request -` says it cannot read the request instead of reading nothing."""

    closed = False
    encoding = "utf-8"
    errors = "strict"

    @property
    def buffer(self) -> _ClosedInput:
        return self

    def read(self, *_: Any) -> Any:
        raise _closed()

    readline = read

    def __iter__(self) -> _ClosedInput:
        return self

    def __next__(self) -> Any:
        raise _closed()

    def __enter__(self) -> _ClosedInput:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def close(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise _closed()


class _Output:
    """stdout as the commands see it: every write and flush of the real stream, with a failure
    raised as `OutputError` (a broken pipe stays `BrokenPipeError`) and remembered, since some
    writers swallow it (argparse prints `--version` and `--help` ignoring OSError)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream  # None: stdout was closed when replygate started
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        return int(self._guarded(lambda stream: stream.write(text)))

    def writelines(self, lines: Iterable[str]) -> None:
        self._guarded(lambda stream: stream.writelines(lines))

    def flush(self) -> None:
        if self.stream is not None:
            self._guarded(lambda stream: stream.flush())

    def fileno(self) -> int:
        if self.stream is None:
            raise _closed()
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _guarded(self, call: Any) -> Any:
        try:
            if self.stream is None:
                raise _closed()
            return call(self.stream)
        except BrokenPipeError as error:
            self.failure = error
            raise
        except OSError as error:
            self.failure = OutputError(error.errno, error.strerror or str(error))
            raise self.failure from error
        except ValueError as error:
            # Only a stream closed under us; a text it cannot encode is another problem.
            if not getattr(self.stream, "closed", False):
                raise
            self.failure = OutputError(errno.EBADF, "the output stream is closed")
            raise self.failure from error

    def discard(self) -> None:
        """After a failure: point the real stdout at the null device, so what its buffer still
        holds is not written again when the interpreter exits ("Exception ignored …")."""
        try:
            fd = self.fileno()
        except (OSError, ValueError):  # no descriptor (closed at start, a test's capture)
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            return
        try:
            os.dup2(null, fd)
        except OSError:
            pass
        finally:
            os.close(null)


def _open_descriptors() -> None:
    """Give a standard descriptor closed at start (`>&-`) the null device, so the next file
    opened (a policy, the decision log) does not become "stdout" or "stderr" of whatever writes
    there: git children, a C library's warning, this process's own error message."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _streams(output: _Output) -> tuple[Any, Any, Any]:
    """Install `output` as stdout, and stand-ins for streams closed at start; what to restore."""
    saved = (sys.stdin, sys.stdout, sys.stderr)
    if sys.stdin is None or sys.stdout is None or sys.stderr is None:
        _open_descriptors()
    if sys.stdin is None:
        sys.stdin = _ClosedInput()
    if sys.stderr is None:
        # Errors have nowhere to go but must not end up on stdout (print's fallback for None);
        # the exit code still says what happened.
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = output
    return saved


def _restore(saved: tuple[Any, Any, Any]) -> None:
    if saved[2] is None:
        sys.stderr.close()  # the null device `_streams` opened
    sys.stdin, sys.stdout, sys.stderr = saved


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    empty = _empty_option(parser, args)
    if empty is not None:
        parser.exit(2, f"replygate: error: {empty}: is empty; give a value or leave it out\n")
    code: int = args.handler(args)
    return code


def _error(message: str) -> None:
    # When stderr cannot be written either, the exit code alone says it.
    with contextlib.suppress(OSError):
        print(f"replygate: error: {message}", file=sys.stderr, flush=True)


def _utf8(stream: Any) -> None:
    """A stream whose locale cannot encode every character (ISO-8859-1, ASCII under `LC_ALL=C`
    without Python's UTF-8 mode) writes UTF-8 instead, as that mode would: any `→`, `…` or name
    in another script was a UnicodeEncodeError traceback, and JSON is UTF-8 anyway (RFC 8259)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding or not hasattr(stream, "reconfigure"):
        return
    with contextlib.suppress(LookupError, ValueError, OSError):
        if codecs.lookup(encoding).name not in _UNICODE_CODECS:
            stream.reconfigure(encoding="utf-8")


_UNICODE_CODECS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"})


def main(argv: Sequence[str] | None = None) -> int:
    # Everything, the imports of the commands and the parser included, runs inside the `try`:
    # Ctrl-C during start-up is an interruption like any other, not a traceback.
    _utf8(sys.stdout)
    _utf8(sys.stderr)
    output = _Output(sys.stdout)
    saved: tuple[Any, Any, Any] | None = None
    try:
        saved = _streams(output)
        stopped: SystemExit | None = None
        try:
            code = _run(argv)
        except SystemExit as done:  # argparse: --help, --version, a usage error
            stopped = done
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
        # Flushed here, not at exit: a failure is then still this function's to report.
        output.flush()
        if output.failure is not None and code == 0:
            # Swallowed on the way (argparse ignores OSError): the output was not written, so
            # this is no success. A command that failed already said why (check: its answers).
            raise output.failure
        if stopped is not None:
            raise stopped
        return code
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        # The reader went away (`| head`): what the command found is unknown to it, so never
        # "ok". 141 is what a shell reports for a process ended by SIGPIPE.
        output.discard()
        return BROKEN_PIPE_EXIT
    except OutputError as error:
        output.discard()
        _error(f"cannot write the output: {error.strerror}")
        return 2
    finally:
        if saved is not None:
            _restore(saved)


if __name__ == "__main__":
    sys.exit(main())
