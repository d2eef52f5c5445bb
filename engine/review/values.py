"""Which attribute values matter: each value a condition names, one it does not, and the
numbers either side of every threshold (9,999 / 10,000 / 10,001).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from replygate.engine.review.cases import (
    ABSENT_TEXTS,
    BASE_REACH,
    CONTEXT_KEY,
    MINUTE,
    NEUTRAL_TEXT,
    REPLY_GAP,
    TEXT_FIELDS,
    UNMENTIONED,
    Dimension,
    Patch,
)
from replygate.engine.review.patterns import matches, matches_empty, pattern_texts
from replygate.policy_dsl import ast
from replygate.policy_dsl.schema import SENTIMENTS


def neighbours(value: float, integers: bool) -> list[int | float]:
    """The values just below, at and just above a threshold.

    For an integer attribute (author reach) the integers around it, never negative; for a free
    number (a context value) one step of the literal's last decimal either side.
    """
    if integers:
        low, high = math.floor(value), math.ceil(value)
        found = {low - 1, low, high, high + 1}
        return sorted(n for n in found if n >= 0)
    if isinstance(value, int):
        return [value - 1, value, value + 1]
    decimals = len(repr(value).partition(".")[2])
    step = 10.0**-decimals
    return [round(value - step, decimals), value, round(value + step, decimals)]


def literal_variants(literals: Sequence[ast.Literal], integers: bool = False) -> list[Any]:
    """The values a comparison could turn on: each literal, numbers' neighbours, one unmentioned."""
    found: list[Any] = []
    for literal in literals:
        value = literal.value
        if literal.kind == "number" and isinstance(value, int | float):
            found += neighbours(value, integers)
        elif literal.kind == "bool":
            found += [True, False]
        elif literal.kind in ("text", "symbol"):
            found.append(str(value))
    if any(lit.kind in ("text", "symbol") for lit in literals):
        found.append(UNMENTIONED)
    return list(dict.fromkeys(found))


def _context(dotted: str) -> tuple[str, str]:
    name = dotted.split(".", 1)[1]
    return name, CONTEXT_KEY + name


def value_dimensions(
    dotted: str, literals: list[ast.Literal], base_category: str, base_at: datetime
) -> list[Dimension]:
    """The values to try for an attribute a comparison or `in` names."""
    if dotted in ("action", "channel", "actor.id"):
        return []  # actions, channels and named actors are enumerated, not patched
    if dotted == "post.sentiment":
        return [Dimension(dotted, [{"sentiment": s} for s in sorted(SENTIMENTS)], True)]
    variants = literal_variants(literals)
    if dotted == "post.category":
        values = list(dict.fromkeys([*variants, base_category]))
        return [Dimension(dotted, [{"category": c} for c in values], True)]
    if dotted == "post.author_reach":
        values = list(dict.fromkeys([BASE_REACH, *literal_variants(literals, True)]))
        return [Dimension(dotted, [{"reach": n} for n in values if isinstance(n, int)], True)]
    if dotted == "post.age":
        return [_age_dimension(literals, base_at)]
    if dotted == "account":
        return [Dimension(dotted, [{"account": a} for a in [*variants, None]])]
    if dotted in ("post.id", "post.text", "content.text"):
        field_name = TEXT_FIELDS[dotted]
        texts: list[Any] = [str(v) for v in variants]
        if dotted in ABSENT_TEXTS:
            texts += _no_text(texts, empty_differs=True)  # `!= "x"` holds for "", not for none
        return [Dimension(dotted, [{field_name: t} for t in texts], dotted != "content.text")]
    if dotted.startswith("context."):
        name, key = _context(dotted)
        patches: list[Patch] = [{key: None}]
        patches += [{key: (name, type(v).__name__, v)} for v in variants]
        return [Dimension(dotted, patches)]
    return []


def _age_dimension(literals: list[ast.Literal], base_at: datetime) -> Dimension:
    ages: set[timedelta] = set()
    second = timedelta(seconds=1)
    for literal in literals:
        if isinstance(literal.value, timedelta):
            step = MINUTE if literal.value >= 2 * MINUTE else second
            # A second either side too: `> 2h` moved to `>= 2h1m` differs only between them,
            # where a minute either side of each finds nothing.
            ages |= {literal.value - step, literal.value, literal.value + step}
            ages |= {literal.value - second, literal.value + second}
    ages.add(REPLY_GAP)
    patches = [{"at": base_at, "received_at": base_at - a} for a in sorted(ages)]
    return Dimension("post.age", patches, True)


def label_dimension(owner: str, labels: list[str]) -> Dimension:
    """No label, each alone, and all of them: for a post, a publication or an actor's groups."""
    unique = list(dict.fromkeys(labels))
    sets: list[tuple[str, ...]] = [(), *((label,) for label in unique)]
    if len(unique) > 1:
        sets.append(tuple(sorted(unique)))
    if owner == "actor.groups":
        return Dimension(owner, [{}] + [{"+groups": label} for label in unique])
    key = "post_labels" if owner == "post.labels" else "content_labels"
    return Dimension(owner, [{key: s} for s in sets], owner == "post.labels")


def phrase_texts(phrase: str) -> list[str]:
    """Texts around a phrase of a list: it as written, in capitals, and inside a longer word."""
    return [f"We {phrase} it.", f"We {phrase.upper()} it.", f"We {phrase}s it."]


def pattern_dimensions(
    dotted: str, patterns: list[tuple[str, bool]], phrases: Sequence[str] = ()
) -> list[Dimension]:
    """Texts that match and texts that miss each `matches` pattern (and each tried phrase of a
    `mentions any of` list) on the attribute."""
    texts: list[str | None] = list(
        dict.fromkeys(t for p, ic in patterns for t in pattern_texts(p, ic))
    )
    if phrases:
        texts = [NEUTRAL_TEXT, *texts, *(t for phrase in phrases for t in phrase_texts(phrase))]
    field_name = TEXT_FIELDS.get(dotted)
    if field_name is not None:
        if dotted in ABSENT_TEXTS:
            texts += _no_text(texts, any(matches_empty(p) for p, _ in patterns))
        patches: list[Patch] = [{field_name: t} for t in texts]
        order = _telling_first(texts, patterns, phrases)
        return [Dimension(dotted, patches, dotted.startswith("post."), cut_order=order)]
    if dotted.startswith("context."):
        name, key = _context(dotted)
        return [Dimension(dotted, [{key: None}, *({key: (name, "str", t)} for t in texts)])]
    return []


def _telling_first(
    texts: Sequence[str | None], patterns: Sequence[tuple[str, bool]], phrases: Sequence[str]
) -> tuple[int, ...]:
    """The texts' indices, one that matches a pattern (or names a phrase) and one that does not
    in turn: cut to two, a thinned joint kept the neutral text and none, and never named a
    competitor."""
    named = {t for phrase in phrases for t in phrase_texts(phrase)}

    def telling(text: str | None) -> bool:
        return text is not None and (
            text in named or any(matches(p, ignore_case, text) for p, ignore_case in patterns)
        )

    hits = [i for i, text in enumerate(texts) if telling(text)]
    misses = [i for i, text in enumerate(texts) if not telling(text)]
    paired = [i for pair in itertools.zip_longest(hits, misses) for i in pair if i is not None]
    return tuple(paired)


def _no_text(texts: Sequence[str | None], empty_differs: bool) -> list[str | None]:
    """No text at all (a reply with only an image: absent matches no pattern), and the empty
    text where it differs from none, where not tried yet. Elsewhere the two decide alike, and
    one more text in every combination cost crossed rules their every combination."""
    return [t for t in ("", None) if t not in texts and (t is None or empty_differs)]


def flag_dimensions(dotted: str) -> list[Dimension]:
    """A context flag absent, true and false."""
    if not dotted.startswith("context."):
        return []
    name, key = _context(dotted)
    patches: list[Patch] = [{key: None}, {key: (name, "bool", True)}, {key: (name, "bool", False)}]
    return [Dimension(dotted, patches)]
