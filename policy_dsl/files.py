"""Which files make a policy folder: every `*.policy` file below it.

One listing for every caller (compiling, `lint`, `fmt`), so none of them can skip a folder the
others read. A folder that cannot be listed is an error, not an empty folder: its rules (a
freeze, a deny) would otherwise vanish from the policy without a word (fail closed).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from replygate.policy_dsl.source import Diagnostic, PolicyError, Span

__all__ = [
    "POLICY_SUFFIX",
    "misnamed",
    "not_a_policy",
    "policy_files",
    "policy_text",
    "shown_name",
]

POLICY_SUFFIX = ".policy"


def policy_files(root: Path) -> list[Path]:
    """Every `.policy` file below the folder `root`, sorted; PolicyError for a folder that
    cannot be listed, a policy file that cannot be read or named, or a linked folder of them."""
    found: list[Path] = []
    problems: list[Diagnostic] = []

    def refuse(error: OSError) -> None:
        folder = shown_name(str(error.filename or root))
        message = f"cannot read the folder: {error.strerror or error}"
        problems.append(Diagnostic("unreadable", message, Span(folder, 1, 1, 1, 1)))

    for folder, folders, names in os.walk(root, onerror=refuse):
        for name in folders:
            linked = Path(folder, name)
            if linked.is_symlink() and _holds_policy_files(linked):
                problems.append(_at(linked, "symlink", _LINKED_FOLDER))
        for name in names:
            if name.endswith(POLICY_SUFFIX):
                problem = _unreadable(Path(folder, name))
                if problem is None:
                    found.append(Path(folder, name))
                else:
                    problems.append(problem)
    if problems:
        raise PolicyError(problems)
    # Sorted as text, as git lists a commit's files and the README's "sorted path order" reads:
    # `Path` sorts by components, which puts `a/b.policy` before `a-b.policy` and made the same
    # files decide differently from a folder and from a commit (the first rule wins ties).
    return sorted(found, key=lambda path: path.as_posix())


# Walked, a linked folder's rules were served while a commit (which stores the link, not the
# folder) never had them; not walked, they vanished without a word. Neither is safe.
_LINKED_FOLDER = (
    "a folder of policy files that is a symbolic link is not read (a commit would hold the link, "
    "not the files): copy the folder in, or serve the real folder"
)


def not_a_policy(mode: int, shown: str) -> str:
    """Why a path whose `st_mode` is `mode` (0: nothing there) is neither a policy file nor a
    folder. A named pipe or a device is named as such: "no file at" a path that `ls` shows
    sends the user looking for a typo."""
    kinds = {
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
    }
    kind = next((name for test, name in kinds.items() if mode and test(mode)), None)
    if kind is None:
        return f"no policy file or folder at '{shown}'"
    return f"'{shown}' is {kind}, not a policy file or folder"


def shown_name(path: str) -> str:
    """A path as reports print it: bytes that are not UTF-8 (a file name is any bytes on Linux)
    as `\\xff`, so JSON and terminals can carry it."""
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name decoding made: shown as \\udxxx
        raw = path.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def misnamed(path: str) -> Diagnostic | None:
    """`bad-file-name` when a policy file's path is not UTF-8: decisions name their rule's file,
    and no report (JSON above all) can carry the name as it is."""
    shown = shown_name(path)
    if shown == path:
        return None
    message = "the file's name is not UTF-8 text, so no decision could name it: rename the file"
    return Diagnostic("bad-file-name", message, Span(shown, 1, 1, 1, 1))


def _unreadable(path: Path) -> Diagnostic | None:
    """Why a policy file found in a folder cannot be read as one, or None."""
    named = misnamed(str(path))
    if named is not None:
        return named
    try:
        mode = path.stat().st_mode  # through a link, as reading it would
    except OSError as error:
        if path.is_symlink() and isinstance(error, FileNotFoundError):
            return _at(path, "unreadable", "a symbolic link to a file that does not exist")
        return _at(path, "unreadable", f"cannot read the file: {error.strerror or error}")
    if not stat.S_ISREG(mode):
        return _at(path, "unreadable", "not a regular file")
    return None


def _holds_policy_files(folder: Path) -> bool:
    return any(name.endswith(POLICY_SUFFIX) for _, _, names in os.walk(folder) for name in names)


def _at(path: Path, code: str, message: str) -> Diagnostic:
    return Diagnostic(code, message, Span(shown_name(str(path)), 1, 1, 1, 1))


def policy_text(data: bytes, path: str) -> str:
    """A policy file's bytes as text (decoded as they are: the same text git gives), or
    PolicyError `not-utf8` at the line and column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start].decode("utf-8")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        message = f"not UTF-8 text: the byte 0x{data[error.start]:02x} here cannot be decoded"
        where = Span(path, line, column, line, column + 1)
        # The text as far as it can be shown, so the diagnostic quotes its line.
        shown = data.decode("utf-8", errors="replace")
        raise PolicyError([Diagnostic("not-utf8", message, where)], {path: shown}) from None
