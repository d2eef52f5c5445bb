"""Texts around a `matches` pattern: some that match it and some that just miss.

No regex syntax tree is parsed here. The candidates come from RE2 itself, through its public
`possiblematchrange`: for the whole pattern, for each of its top-level alternatives and for the
pattern with a group kept to each of its alternatives, the least and the greatest string a match
can start with. Those are usually the alternatives'
words (`refund|money back` gives "money back" and "refund"; `\\d{3}-\\d{4}` gives "000-0000"
and "999-9999"). A character RE2 only bounds (the NUL or U+10FFFF of `.` or `[^…]`) is
replaced by a plain letter, digit or space. The literal words of the pattern are added as a
fallback. Each candidate is then varied (upper case, a suffix, a prefix) and put in a sentence,
and RE2 decides which variants match; the space gets some of each. A candidate that is wrong
is harmless: it only lands on the "does not match" side.

This replaces reading CPython's private `re._parser` tree, which changes between releases and
reads Python's syntax rather than RE2's.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from typing import Any

import re2

from replygate.engine.review.cases import NEUTRAL_TEXT

MAX_LENGTH = 40  # a match prefix longer than a sentence's word is not a useful example
MAX_WORDS = 6
FILLERS = ("x", "1", " ")  # what a character RE2 only bounds becomes, tried in turn
PER_SIDE = 4  # texts kept that match, and texts kept that do not


def _structure(pattern: str) -> Iterator[tuple[int, str]]:
    """Each `(`, `)` and `|` of a pattern that is syntax: not escaped, not in a class."""
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith(("[^]", "[]"), index):  # a leading ] is a literal
                index += 2 if pattern[index + 1] == "]" else 3
                continue
        elif char in "()|":
            yield index, char
        index += 1


def top_level_alternatives(pattern: str) -> list[str]:
    """`a|b(c|d)` -> ["a", "b(c|d)"]: split at `|` outside groups, classes and escapes."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in _structure(pattern):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
    parts.append(pattern[start:])
    return parts


def group_alternatives(pattern: str, most: int = MAX_WORDS * 2) -> list[str]:
    """`\\b(refund|money back)\\b` -> ["\\b(refund)\\b", "\\b(money back)\\b"]: the pattern once per
    alternative of each group that has some, the group kept to that one (at most `most`).

    RE2's bounds of the whole pattern name only its least and greatest match, so a middle
    alternative inside a group ("money back") was never tried, and removing it went unseen.
    """
    variants: list[str] = []
    opened: list[tuple[int, list[int]]] = []  # each open group: where its body starts, its |s
    for index, char in _structure(pattern):
        if char == "(":
            # (?:…), (?i:…), (?P<name>…): the body starts after the prefix.
            head = re.match(r"\(\?(?:P?<[^>]*>|[a-zA-Z-]*:)", pattern[index:])
            opened.append((index + (len(head.group(0)) if head else 1), []))
        elif char == "|" and opened:
            opened[-1][1].append(index)
        elif char == ")" and opened:
            body, bars = opened.pop()
            edges = [body - 1, *bars, index] if bars else []
            for start, end in itertools.pairwise(edges):
                variants.append(pattern[:body] + pattern[start + 1 : end] + pattern[index:])
        if len(variants) >= most:
            break
    return variants[:most]


def _bounds(pattern: str) -> list[str]:
    """RE2's least and greatest match prefixes of `pattern`, as text ([] when it has none)."""
    try:
        low, high = re2.compile(pattern).possiblematchrange(MAX_LENGTH)
    except (re2.error, TypeError, ValueError):
        return []
    return [b.decode("utf-8", errors="replace") for b in (low, high)]


def _plain(text: str, filler: str) -> str:
    text = re.sub("\ufffd+", "\ufffd", text)  # one bounded character, however many bytes
    return "".join(c if c.isprintable() and c != "\ufffd" else filler for c in text)


def candidate_words(pattern: str) -> list[str]:
    """Words likely to match `pattern` (case as written), unverified."""
    found: list[str] = []
    # Inline flags of the whole pattern (say `(?i)`) apply to every alternative.
    flags = re.match(r"\(\?[a-zA-Z]+\)", pattern)
    prefix = flags.group(0) if flags else ""
    body = pattern[len(prefix) :]
    alternatives = top_level_alternatives(body)
    tried = [body, *alternatives] if len(alternatives) > 1 else [body]
    for alternative in [*tried, *group_alternatives(body)]:
        for bound in _bounds(prefix + alternative):
            found += [_plain(bound, filler) for filler in FILLERS]
    found += re.findall(r"[A-Za-z]{3,}", re.sub(r"\\.", " ", pattern))  # \b is no letter b
    words = [w for w in dict.fromkeys(found) if w.strip()]
    return words or [pattern]


@functools.lru_cache(maxsize=1024)  # a server reviews many policies: bounded
def compiled(pattern: str, ignore_case: bool = False) -> Any:
    """A `matches` pattern as the engine searches it; each is asked about several times."""
    return re2.compile(("(?i)" if ignore_case else "") + pattern)


def matches(pattern: str, ignore_case: bool, text: str) -> bool:
    return compiled(pattern, ignore_case).search(text) is not None


def matches_empty(pattern: str) -> bool:
    """Whether the empty text matches: only then does it differ from no text at all."""
    return matches(pattern, False, "")


def pattern_texts(pattern: str, ignore_case: bool) -> list[str]:
    """Texts around a `matches` pattern: some match it, some just miss (case, a suffix, a prefix)."""
    search = compiled(pattern, ignore_case).search
    first: list[str] = []  # each word's first matching variant, so every alternative shows
    later: list[str] = []
    missing: list[str] = [NEUTRAL_TEXT]
    for word in candidate_words(pattern)[:MAX_WORDS]:
        forms = [f"We {word} it.", f"We {word.upper()} it.", f"We {word}s it.", f"We un{word} it."]
        hits = [form for form in [*forms, word] if search(form) is not None]
        missing += [form for form in forms if search(form) is None]
        first += hits[:1]
        later += hits[1:]
    matching = list(dict.fromkeys([*first, *later]))
    if not matching and search("") is not None:
        matching = [""]  # say `^$`: only the empty text matches
    missing = list(dict.fromkeys(missing))
    return list(dict.fromkeys([*matching[:PER_SIDE], *missing[:PER_SIDE]]))
