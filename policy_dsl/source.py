"""Source positions and the one error shape of the language.

Every diagnostic — syntax error, checker error, lint warning — is a `Diagnostic`: a code, a
message and a span. It renders as `file:line:col: error: message [code]`, the source line and
a caret under the span, so an author can fix a whole file in one go.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

# A source line longer than this is shown as a window around the span, with an ellipsis at each
# cut end: rendering stays cheap (and readable) for a 100,000-character line.
MAX_SHOWN = 120
CONTEXT_BEFORE = 40
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node stands in its file: 1-based line and column where it starts and just past its end."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{shown_path(self.file)}:{self.line}:{self.column}"


# Control and bidirectional formatting characters in a file name (a name from a commit may hold
# a newline) would let it forge or hide lines of a report: they are shown escaped.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# In text shown on several lines (a page's value, a decision's JSON) TAB and LF stay; the line
# separators U+2028/U+2029, which some readers break lines at and others do not, are escaped.
# Characters a reader cannot see as a program reads them: control characters but TAB, LF and
# CR, the line separators, the bidirectional formatting characters (a regex character class).
# Policy text refuses them (`parser`), pages and reports show them escaped.
INVISIBLE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSHOWABLE_IN_TEXT = re.compile(f"[{INVISIBLE}\r]")


def _escaped(found: re.Match[str]) -> str:
    return found.group().encode("unicode_escape").decode()


def shown_path(path: str) -> str:
    """A file name as a report shows it: control characters escaped (`a\\nb.policy`)."""
    return _UNSHOWABLE.sub(_escaped, path)


def shown_text(text: str) -> str:
    """Text as a page shows it: TAB and LF kept, other control and bidi characters escaped."""
    return _UNSHOWABLE_IN_TEXT.sub(_escaped, text)


UNKNOWN_SPAN = Span("<unknown>", 1, 1, 1, 1)

# The span of a problem that lies in no file (a git failure, an unknown revision): line 0 means
# "no position"; it renders without a location and is sent as `location: null`.
NO_POSITION = Span("", 0, 0, 0, 0)


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop compilation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a policy: what (code, message), where (span) and how to fix it (help)."""

    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    help: str | None = None

    def render(self, sources: dict[str, str] | None = None) -> str:
        """`file:line:col: error: message [code]`, then the source line and a caret under the span."""
        head = f"{self.severity.value}: {self.message} [{self.code}]"
        lines = [f"{self.span}: {head}" if self.span.line else head]
        text = (sources or {}).get(self.span.file)
        if text is not None:
            source_lines = _lines(text)
            if 1 <= self.span.line <= len(source_lines):
                line = source_lines[self.span.line - 1]
                width = (
                    self.span.end_column - self.span.column
                    if self.span.end_line == self.span.line
                    else len(line) - self.span.column + 1
                )
                shown, column, width = _window(line, self.span.column, max(1, width))
                lines.append(f"  {_visible(shown)}")
                lines.append("  " + _caret(shown, column, width))
        if self.help:
            lines.append(f"  help: {self.help}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The JSON form the API and `--format json` use."""
        location = None
        if self.span.line:
            location = {
                "file": self.span.file,
                "line": self.span.line,
                "column": self.span.column,
                "end_line": self.span.end_line,
                "end_column": self.span.end_column,
            }
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "location": location,
            "help": self.help,
        }


# A source line is shown as a terminal would show it, so a control character in it (the very
# thing an `unwanted-character` error points at) cannot move the cursor or erase lines: each is
# drawn as one visible character, which keeps the caret's columns.
_PICTURES = {
    **{code: chr(0x2400 + code) for code in range(0x20) if code != 0x09},  # ␀ … ␟, TAB kept
    0x7F: "\u2421",  # ␡
    **dict.fromkeys(range(0x80, 0xA0), "\ufffd"),
    **dict.fromkeys((0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)), "\ufffd"),
}
# U+FEFF: a byte-order mark starting a file, or a zero-width no-break space anywhere; no cell.
_UNSHOWN = {0xFEFF: None}


def _visible(line: str) -> str:
    return line.translate(_PICTURES).translate(_UNSHOWN)


def _caret(line: str, column: int, width: int) -> str:
    """Carets under columns `column`..`column + width - 1` of `line`, as a terminal lays it out.

    The TABs before the span are copied (the terminal's tab stops then line up both lines), and
    a wide character (CJK, most emoji) takes two cells, before the span and within it.
    """
    before = "".join("\t" if char == "\t" else " " * _cells(char) for char in line[: column - 1])
    under = sum(_cells(char) for char in line[column - 1 : column - 1 + width])
    return before + "^" * max(1, under)


def _cells(char: str) -> int:
    """The terminal cells a character of a shown line takes: combining marks, joiners and other
    format characters none (they attach to the character before), wide ones two."""
    if ord(char) in _PICTURES:
        return 1  # drawn as one visible character
    if unicodedata.category(char) in _ZERO_WIDTH:
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


_ZERO_WIDTH = frozenset({"Mn", "Me", "Cf"})  # combining marks, enclosing marks, ZWSP/ZWJ/BOM


@lru_cache(maxsize=8)
def _lines(text: str) -> list[str]:
    # Many diagnostics of one file render against the same text: split it once, not per line.
    # A CR before the LF is part of the line break (CRLF files), not a character to show.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _window(line: str, column: int, width: int) -> tuple[str, int, int]:
    """The part of `line` to show, and the caret's column and width in it.

    A line of at most MAX_SHOWN characters is shown whole. A longer one is cut to MAX_SHOWN
    characters starting CONTEXT_BEFORE before the span, with an ellipsis where it was cut.
    """
    if len(line) <= MAX_SHOWN:
        return line, column, width
    start = max(0, min(column - 1 - CONTEXT_BEFORE, len(line) - MAX_SHOWN))
    end = start + MAX_SHOWN
    head = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(line) else ""
    caret = column - start + len(head)
    width = max(1, min(width, end - (column - 1)))
    return head + line[start:end] + tail, caret, width


@dataclass
class PolicyError(Exception):
    """Raised when a policy cannot be used: carries every error found, with the sources to show them."""

    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def render(self) -> str:
        """All diagnostics, rendered, with a count at the end when there is more than one."""
        parts = [d.render(self.sources) for d in self.diagnostics]
        count = len(self.errors)
        if count > 1:
            parts.append(f"{count} errors")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()
