"""Revision names from users, checked before they reach git.

A ref name typed into `--ref`, sent to the API or read from a config file goes to `git` as an
argument. `validate_ref` accepts only what `git check-ref-format --allow-onelevel` accepts, and
less: a name must be made of ASCII letters, digits and `. _ - + /`, must not start with `-` (git
would read an option), and is at most 255 characters. Ancestry syntax (`HEAD~1`, `main^`), reflog
syntax (`@{-1}`), ranges (`a..b`) and paths (`rev:file`) are all refused here; the store accepts
one `~N` suffix on top of a valid name and walks the parents itself (`split_ancestry`), so git
never parses user syntax.

`split_ancestry` is the one grammar of a revision a user names (`NAME` or `NAME~N`): the CLI, the
API's `?commit=`, scenarios and `engine.source.PolicySource` all validate through it.
"""

from __future__ import annotations

import re

from replygate.engine.errors import InvalidRevision

MAX_REF_LENGTH = 255
MAX_ANCESTRY = 100_000

# What a name may be made of; git allows far more (any non-ASCII byte, `@`, `{`, `,`, …) but a
# policy engine gains nothing from accepting it.
_ALLOWED = re.compile(r"[A-Za-z0-9._+/-]+")
_HEX_SHA = re.compile(r"[0-9a-f]{4,40}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_ANCESTRY = re.compile(r"(?P<base>.+?)~(?P<steps>[0-9]+)")


# The error of the family (`engine.errors`) under the name this module has always used.
InvalidRef = InvalidRevision


def validate_ref(text: str) -> str:
    """Return `text` unchanged if it is a safe ref name or hex sha, else raise `InvalidRef`."""
    if not isinstance(text, str) or not text:
        raise InvalidRef("a revision name is empty")
    shown = _shown(text)
    if len(text) > MAX_REF_LENGTH:
        raise InvalidRef(f"revision name is longer than {MAX_REF_LENGTH} characters")
    if text.startswith("-"):
        raise InvalidRef(f"revision {shown} starts with '-'")
    problem = _name_problem(text)
    if problem is not None:
        raise InvalidRef(f"revision {shown} is not a valid ref name: {problem}")
    return text


def _name_problem(text: str) -> str | None:
    """Why git (or our narrower alphabet) refuses `text`, or None when it is fine."""
    bad = sorted({c for c in text if not _ALLOWED.fullmatch(c)})
    if bad:
        return "it contains " + ", ".join(_describe(c) for c in bad)
    if ".." in text:
        return "it contains '..'"
    if text.startswith("/") or text.endswith("/"):
        return "it starts or ends with '/'"
    if "//" in text:
        return "it contains '//'"
    if text.endswith("."):
        return "it ends with '.'"
    for component in text.split("/"):
        if component.startswith("."):
            return f"the part '{component}' starts with '.'"
        if component.endswith(".lock"):
            return f"the part '{component}' ends with '.lock'"
    return None


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return "a control character"
    return f"'{char}'" if char.isprintable() else f"{char!r}"


def _shown(text: str) -> str:
    """The name as it can safely appear in a message: quoted, escaped and cut short."""
    cut = text if len(text) <= 60 else text[:57] + "..."
    return repr(cut)


def is_hex_sha(text: str) -> bool:
    """True for 4 to 40 lower-case hex digits (what a commit id or its abbreviation looks like)."""
    return _HEX_SHA.fullmatch(text) is not None


def is_full_sha(text: str) -> bool:
    """True for a full 40-hex commit id."""
    return _FULL_SHA.fullmatch(text) is not None


def split_ancestry(text: str) -> tuple[str, int]:
    """`main~3` -> ("main", 3); a plain valid name -> (name, 0). Raises `InvalidRef`.

    Only one `~N` with explicit digits is accepted: `a~`, `a^`, `a~1~2` are refused, so
    `HEAD~1` works on the command line while nothing git would interpret reaches it.
    """
    if not isinstance(text, str) or not text:
        raise InvalidRef("a revision name is empty")
    match = _ANCESTRY.fullmatch(text)
    if match is None:
        return validate_ref(text), 0
    # Compared as digits first: `~99999999999999999999999` is too far, not a name with a '~'.
    digits = match["steps"].lstrip("0") or "0"
    if len(digits) > len(str(MAX_ANCESTRY)) or int(digits) > MAX_ANCESTRY:
        raise InvalidRef(f"revision {_shown(text)} goes back more than {MAX_ANCESTRY} commits")
    if "~" in match["base"]:
        raise InvalidRef(
            f"revision {_shown(text)} has more than one ~N: write the steps as one (HEAD~3)"
        )
    return validate_ref(match["base"]), int(digits)
