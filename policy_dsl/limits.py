"""The bounds every policy keeps, so that lint and compile take time linear in a policy's size.

Each limit is generous for real policies (docs/limits.md gives the figures and the reasons) and
is checked before the work it protects: file sizes before parsing, list lengths and nesting
while lexing, inheritance depth before the role closure is built. Going past one is a
diagnostic at the offending item, never an exception or a hang.
"""

from __future__ import annotations

from collections.abc import Mapping

from replygate.policy_dsl.source import Diagnostic, Span

MAX_FILE_BYTES = 16 * 1024 * 1024  # one policy file, in UTF-8 bytes
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all files of a policy set together
MAX_LIST_ITEMS = 10_000  # items in one comma-separated list (`[…]`, `on`, `channel`, `closed`, …)
MAX_NESTING = 64  # parentheses and `not`s around a condition
MAX_INHERITANCE_DEPTH = 1_000  # `extends` steps from a role to its farthest ancestor
MAX_NAME_LENGTH = 256  # names, ids, handles and attribute paths, in characters
MAX_TEXT_LENGTH = 10_000  # quoted text: messages, titles, values compared with
MAX_PATTERN_LENGTH = 4_096  # a `matches /…/` pattern
# What a pattern costs per character of text searched (docs/limits.md, "Patterns"): RE2 stays
# linear, but once its DFA runs out of memory it falls back to a search that costs in proportion to
# the pattern's size. Two measures of the compiled RE2 program bound that size:
MAX_PATTERN_SPELLED = 1_100  # instructions for single-byte text: ~ characters spelt out by the
# pattern once `{n}` counts are expanded (`(?s).{400}` is ~400, `.{200}` ~400). RE2's DFA holds
# about 1,100 open positions of `.` before it falls back (`(?s).{1000}.{90}x`: 21 ms on 100,000
# characters, `(?s).{1000}.{500}x`: 1.2 s); a 300-word alternation (~2,100) would be fast, but
# this measure cannot tell it from `[ab]` and 2,000 literal letters (1.2 s): word lists belong
# in a text list.
# Instructions for UTF-8 text, which also counts Unicode classes (`\pL` alone is ~1,200):
MAX_PATTERN_PROGRAM = 20_000
MAX_LIST_PHRASE_CHARS = 250_000  # characters of all the phrases of one `list … "…", "…"` together
# A rotation's turn: each turn is a piece of the duty timeline that routes look 28 days along,
# so one-second turns made a single route take minutes. Shifts are hours, days or weeks long.
MIN_ROTATION_SECONDS = 3600
MAX_ZONE_LENGTH = 255  # longer than any IANA zone name: such a zone is simply unknown

# Suggestions ("did you mean …?") compare a word with every candidate; past this many
# candidates a suggestion would cost more than it helps, and it would make reporting quadratic.
MAX_SUGGESTION_CANDIDATES = 1_000


def _mib(size: int) -> str:
    # Exact bytes: one byte over the limit must not read "16.0 MiB; at most 16.0 MiB".
    return f"{size:,} bytes ({size / (1024 * 1024):.1f} MiB)"


def _file_start(path: str) -> Span:
    return Span(path, 1, 1, 1, 2)


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8 bytes (as the file on disk), encoding only non-ASCII text."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def file_too_large(path: str, size: int) -> Diagnostic | None:
    """A diagnostic when one file is over `MAX_FILE_BYTES`; checked before it is parsed."""
    if size <= MAX_FILE_BYTES:
        return None
    return Diagnostic(
        "file-too-large",
        f"policy file is {_mib(size)}; a file may hold at most {_mib(MAX_FILE_BYTES)}",
        _file_start(path),
        help="split the policy into several files",
    )


def set_too_large(sizes: Mapping[str, int]) -> Diagnostic | None:
    """A diagnostic at the first file that takes a policy set over `MAX_TOTAL_BYTES`."""
    total = 0
    for path, size in sizes.items():
        total += size
        if total > MAX_TOTAL_BYTES:
            return Diagnostic(
                "policy-too-large",
                f"the policy set reaches {_mib(sum(sizes.values()))} with this file; "
                f"a policy set may hold at most {_mib(MAX_TOTAL_BYTES)}",
                _file_start(path),
                help="remove files that are not policy from the policy folder",
            )
    return None
