"""`replygate fmt PATH...`: rewrite policy files in the canonical layout.

Without options every file that is not canonical is rewritten in place. `--check` rewrites
nothing, lists the files that would change and exits 1 if there are any (for CI); `--diff`
rewrites nothing and prints what would change as a unified diff. A file that does not parse is
reported and left untouched; the others are still formatted, and the command exits 2.

Before a file is written, its new text is parsed again: if the tree or the comments differ, the
file is left alone and reported, so a formatter bug can never change what a policy means. A file
is replaced whole (its new text written beside it, then renamed over it), so a write that fails
(a full disk) leaves it as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from replygate.cli.common import counted
from replygate.policy_dsl.source import shown_path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a policy file, or a folder: every *.policy under it",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rewrite nothing; list the files that would change and exit 1 if there are any",
    )
    parser.add_argument(
        "--diff", action="store_true", help="rewrite nothing; print the changes as a unified diff"
    )


@dataclass
class _Tally:
    """What happened to the files, for the summary line and the exit code."""

    files: int = 0
    changed: int = 0
    failed: int = 0


def run(args: argparse.Namespace) -> int:
    tally = _Tally()
    dry_run = args.check or args.diff
    for path in _policy_files(args.paths, tally):
        tally.files += 1
        new = _formatted(path, tally)
        if new is None or new[0] == new[1]:
            continue
        old, text = new
        if args.diff:
            sys.stdout.writelines(_unified_diff(path, old, text))
        elif args.check:
            print(shown_path(str(path)))
        # A file is "reformatted" only once its new text is written: a failed write is a failure.
        if not dry_run and not _write(path, text):
            tally.failed += 1
            continue
        tally.changed += 1
    print(_summary(tally, dry_run), file=sys.stderr)
    if tally.failed:
        return 2
    return 1 if args.check and tally.changed else 0


def _error(message: str) -> None:
    print(f"replygate: error: {message}", file=sys.stderr)


def _policy_files(paths: list[str], tally: _Tally) -> Iterator[Path]:
    """Each named file, and every `*.policy` file under each named folder, once and sorted."""
    from replygate.policy_dsl.files import POLICY_SUFFIX, not_a_policy, policy_files
    from replygate.policy_dsl.source import PolicyError

    seen: set[Path] = set()
    for name in paths:
        root = Path(name)
        if root.is_dir():
            try:
                found = policy_files(root)
            except PolicyError as error:  # a folder that cannot be listed: never skip it quietly
                for problem in error.diagnostics:
                    _error(f"{shown_path(problem.span.file)}: {problem.message}")
                tally.failed += 1
                continue
            if not found:
                _error(f"'{shown_path(name)}' holds no {POLICY_SUFFIX} files")
                tally.failed += 1
        elif root.is_file():
            found = [root]
        else:
            try:
                mode = root.stat().st_mode
            except OSError:
                mode = 0
            _error(not_a_policy(mode, shown_path(name)))
            tally.failed += 1
            continue
        for path in found:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def _formatted(path: Path, tally: _Tally) -> tuple[str, str] | None:
    """(current text, canonical text), or None after reporting why the file cannot be formatted."""
    from replygate.policy_dsl.files import policy_text
    from replygate.policy_dsl.formatter import format_source
    from replygate.policy_dsl.source import PolicyError

    try:
        data = path.read_bytes()  # as it is: "\r\n" kept, so the file's line ends can be kept
    except OSError as error:
        _failed(tally, f"cannot read {shown_path(str(path))}: {error.strerror or error}")
        return None
    try:
        old = policy_text(data, str(path))
        text = _as_written(format_source(old, str(path)), old)
        problem = _changed_meaning(old, text, str(path))
    except PolicyError as error:
        print(error.render(), file=sys.stderr)
        tally.failed += 1
        return None
    except Exception as error:
        # parse_policy lets a few absurd inputs (a billion-day duration, conditions nested a
        # thousand deep) escape as other exceptions; fmt promises a message, not a traceback.
        _failed(tally, f"{shown_path(str(path))}: cannot format: {type(error).__name__}: {error}")
        return None
    if problem is not None:
        shown = shown_path(str(path))
        _failed(tally, f"{shown}: not formatted, the result would {problem}; please report")
        return None
    return old, text


def _as_written(canonical: str, old: str) -> str:
    """The canonical text with the file's own line ends and byte-order mark, as ruff and black
    keep them: a Windows checkout (core.autocrlf) must not fail `fmt --check` on every line."""
    first_end = old.find("\n")
    if first_end > 0 and old[first_end - 1] == "\r":
        canonical = canonical.replace("\n", "\r\n")
    if old.startswith("\ufeff") and not canonical.startswith("\ufeff"):
        canonical = "\ufeff" + canonical
    return canonical


def _failed(tally: _Tally, message: str) -> None:
    """Report a file that cannot be formatted."""
    _error(message)
    tally.failed += 1


def _changed_meaning(old: str, new: str, path: str) -> str | None:
    """Why `new` may not replace `old` (another tree, lost comments), or None if it may."""
    from replygate.policy_dsl.parser import parse_policy

    before, after = parse_policy(old, path), parse_policy(new, path)
    if before.declarations != after.declarations:
        return "change the policy's meaning"
    if sorted(c[2] for c in before.comments) != sorted(c[2] for c in after.comments):
        return "lose or change comments"
    return None


def _unified_diff(path: Path, old: str, new: str) -> Iterator[str]:
    """A unified diff; a last line without its newline is marked as `diff` marks it."""
    # The header names the file as lint does: a newline in a name would forge a diff line.
    shown = shown_path(str(path))
    lines = difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), shown, f"{shown} (formatted)"
    )
    for line in lines:
        yield line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n"


def _write(path: Path, text: str) -> bool:
    """Replace the file's text atomically; False after reporting why it could not be.

    Written in place, a write that failed midway (a full disk, `ulimit -f`) left the file cut
    short and its rules lost. The new text goes to a temporary file beside it, reaches the disk
    (fsync), takes the file's permission bits and then replaces it in one rename: a reader sees
    the old text or the new, and on any failure the old file is untouched and the temporary
    removed.
    """
    # A symbolic link stays a link: the file it points to is replaced, as an editor saving it
    # would, so a policy shared into several folders by links is formatted for all of them.
    # (A hard link is not kept: the rename gives the name a new file.)
    target = Path(os.path.realpath(path))
    temporary: str | None = None
    try:
        before = target.stat()
        if not os.access(target, os.W_OK):
            # A rename needs only the folder's permission; a file made read-only stays unformatted,
            # as it did when it was written in place.
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".fmt-tmp", dir=target.parent
        )
        os.close(handle)
        Path(temporary).write_text(text, encoding="utf-8", newline="")  # line ends are in `text`
        if (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
            # Root formatting a colleague's file leaves it theirs. Anyone else cannot give a
            # file away: it is then owned by whoever ran fmt, as an editor's save makes it.
            with contextlib.suppress(OSError):
                os.chown(temporary, before.st_uid, before.st_gid)
        # mkstemp makes it 0600: keep who may read and write the policy (after chown, which
        # clears set-id bits).
        os.chmod(temporary, stat.S_IMODE(before.st_mode))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
        temporary = None
        _sync_folder(target.parent)
    except OSError as error:
        _error(f"cannot write {shown_path(str(path))}: {error.strerror or error}")
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; a filesystem that cannot sync a folder is no failure."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _summary(tally: _Tally, dry_run: bool) -> str:
    verb = "would be reformatted" if dry_run else "reformatted"
    text = f"{counted(tally.files, 'file')}: {tally.changed} {verb}"
    return text + (f", {tally.failed} failed" if tally.failed else "")
