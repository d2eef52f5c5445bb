"""Text patterns (`matches /…/i`) compiled with RE2: linear time on untrusted text, no backtracking."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import re2

from replygate.policy_dsl.limits import (
    MAX_LIST_PHRASE_CHARS,
    MAX_PATTERN_PROGRAM,
    MAX_PATTERN_SPELLED,
)


def compile_pattern(pattern: str, ignore_case: bool) -> Any:
    """Compile a policy pattern; raises `PatternError` with RE2's reason in words."""
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print to stderr; we report the error ourselves
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None


class PatternError(ValueError):
    """A pattern RE2 cannot compile (unbalanced parentheses, backreferences, lookaround, …)."""


def pattern_cost(pattern: str, ignore_case: bool) -> str | None:
    """Why searching with a (compilable) pattern could cost too much per character, or None.

    RE2 searches in linear time, but the constant is its lazy DFA only while the DFA's states fit
    in its memory budget; past that (a pattern that holds hundreds of positions open at once, such
    as `.{1000}.{1000}x`) RE2 falls back to a search whose cost per character grows with the size
    of the compiled program, ~10,000x slower. Two sizes of the program bound it (docs/limits.md):
    compiled for single-byte text it counts about the characters the pattern spells out with its
    `{n}` counts expanded; compiled for UTF-8 it also counts the size of Unicode classes.
    """
    program = compile_pattern(pattern, ignore_case).programsize
    spelled = _single_byte_size(pattern, ignore_case)
    if spelled is None:  # RE2 reads only Latin-1 in that mode: count the UTF-8 program instead
        spelled = program
    if spelled > MAX_PATTERN_SPELLED:
        return (
            f"with its counts expanded the pattern is {spelled:,} RE2 instructions long; "
            f"at most {MAX_PATTERN_SPELLED:,} keep a search fast"
        )
    if program > MAX_PATTERN_PROGRAM:
        return (
            f"the pattern compiles to {program:,} RE2 instructions (a Unicode class such as "
            f"\\pL is ~1,200); at most {MAX_PATTERN_PROGRAM:,} keep a search fast"
        )
    return None


def _single_byte_size(pattern: str, ignore_case: bool) -> int | None:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.encoding = re2.Options.Encoding.LATIN1
    try:
        size: int = re2.compile(pattern.encode("utf-8"), options).programsize
    except re2.error:  # e.g. `\x{4e00}`, which single-byte text cannot hold
        return None
    return size


# Around a phrase: the start or end of the text, or a character that is not a Unicode letter,
# digit or `_`. RE2's `\b` knows ASCII letters only, and RE2 has no look-behind, so the
# neighbouring character is matched (a search only asks whether there is a match at all).
# Case-sensitive on its own: folded case-insensitively, RE2 pairs the combining mark U+0345
# (not a letter) with the Greek letter iota and so refused it as an edge.
_EDGE = r"(?-i:[^\pL\pN_])"
# Where a phrase has a space: one or more white-space characters of any kind (RE2's `\s` is ASCII).
_GAP = r"[\s\x{0B}\x{85}\p{Z}]+"
# A 1,000-phrase list needs more than RE2's default 8 MiB for its automaton.
PHRASES_MAX_MEM = 64 << 20


def phrase_pattern(phrases: Iterable[str]) -> str:
    """One RE2 pattern that finds any of the phrases as whole words, taken literally."""
    alternatives = sorted(
        {
            _GAP.join(re2.escape(word) for word in phrase.split())
            for phrase in phrases
            if phrase.split()
        }
    )
    return f"(?:^|{_EDGE})(?:{'|'.join(alternatives)})(?:{_EDGE}|$)"


def compile_phrases(phrases: Iterable[str]) -> Any:
    """`phrase_pattern(phrases)` compiled case-insensitively; raises `PatternError`.

    Compiling 1,000 phrases takes ~0.1 s: the checker and the compiler share one result.
    A list whose phrases hold more than `MAX_LIST_PHRASE_CHARS` characters together is refused
    before RE2 sees it: RE2 could not compile it within `PHRASES_MAX_MEM` anyway, and on a
    pattern of millions of characters it prints pages of warnings to stderr before it gives up.
    """
    phrases = tuple(phrases)
    size = sum(len(phrase) for phrase in phrases)
    if size > MAX_LIST_PHRASE_CHARS:
        raise PatternError(
            f"the list is too large to search ({size:,} characters of phrases; "
            f"at most {MAX_LIST_PHRASE_CHARS:,})"
        )
    return _compile_phrases(phrases)


@lru_cache(maxsize=32)
def _compile_phrases(phrases: tuple[str, ...]) -> Any:
    """See `compile_phrases`.

    The one pattern goes into an RE2 set of one: its `Match(text)` answers only whether the text
    matches (a list, or None), without the Python-side offset bookkeeping of `search` that costs
    more than the search itself on a short reply.
    """
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = False
    options.max_mem = PHRASES_MAX_MEM
    searcher = re2.Set.SearchSet(options)
    try:
        searcher.Add(phrase_pattern(phrases))
        searcher.Compile()
    except re2.error as exc:
        raise PatternError(f"the list is too large to search ({exc})") from None
    return searcher
