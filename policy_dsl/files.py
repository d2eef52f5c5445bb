"""Which files make a policy folder: every `*.policy` file below it.

One listing for every caller (compiling, `lint`, `fmt`), so none of them can skip a folder the
others read. A folder that cannot be listed is an error, not an empty folder: its rules (a
freeze, a deny) would otherwise vanish from the policy without a word (fail closed).
"""

from __future__ import annotations

import os
from pathlib import Path

from replygate.policy_dsl.source import Diagnostic, PolicyError, Span

__all__ = ["POLICY_SUFFIX", "policy_files", "policy_text"]

POLICY_SUFFIX = ".policy"


def policy_files(root: Path) -> list[Path]:
    """Every `.policy` file below the folder `root`, sorted; PolicyError for an unreadable folder."""
    found: list[Path] = []
    unreadable: list[Diagnostic] = []

    def refuse(error: OSError) -> None:
        folder = str(error.filename or root)
        message = f"cannot read the folder: {error.strerror or error}"
        unreadable.append(Diagnostic("unreadable", message, Span(folder, 1, 1, 1, 1)))

    for folder, _, names in os.walk(root, onerror=refuse):
        found.extend(Path(folder, name) for name in names if name.endswith(POLICY_SUFFIX))
    if unreadable:
        raise PolicyError(unreadable)
    # Sorted as text, as git lists a commit's files and the README's "sorted path order" reads:
    # `Path` sorts by components, which puts `a/b.policy` before `a-b.policy` and made the same
    # files decide differently from a folder and from a commit (the first rule wins ties).
    return sorted((path for path in found if path.is_file()), key=lambda path: path.as_posix())


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
