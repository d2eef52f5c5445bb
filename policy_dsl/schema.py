"""The request attributes a condition may name, and their types.

The checker uses this table to reject unknown attributes and mistyped comparisons; the engine
uses the same table to know what it must read from a request. One table, so they never drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from replygate.policy_dsl.ast import ActionName, SentimentName


class Kind(StrEnum):
    """The type of a request attribute as the language sees it."""

    TEXT = "text"  # free text, compared with quoted text or bare symbols
    SYMBOL = "symbol"  # one of a known or open set of words (sentiment, category, channel)
    NUMBER = "number"
    LABELS = "labels"  # a set of words: `has label`
    BOOL = "bool"
    DURATION = "duration"
    ANY = "any"  # free-form request context: typed only at run time


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute: its kind, and for symbols the closed set of values (None when open)."""

    kind: Kind
    values: frozenset[str] | None = None
    reply_only: bool = False


# The closed sets come from the `Literal` types, so a word added there is known here too.
ACTIONS: frozenset[str] = frozenset(get_args(ActionName))
SENTIMENTS: frozenset[str] = frozenset(get_args(SentimentName))
CATEGORIES = frozenset({"question", "complaint", "praise", "feature_request", "crisis"})

ATTRIBUTES: dict[str, Attribute] = {
    "action": Attribute(Kind.SYMBOL, ACTIONS),
    "channel": Attribute(Kind.SYMBOL),  # the values are the policy's declared channels
    "account": Attribute(Kind.TEXT),
    "actor.id": Attribute(Kind.TEXT),
    "actor.groups": Attribute(Kind.LABELS),
    "post.id": Attribute(Kind.TEXT, reply_only=True),
    "post.sentiment": Attribute(Kind.SYMBOL, SENTIMENTS, reply_only=True),
    "post.category": Attribute(
        Kind.SYMBOL, reply_only=True
    ),  # open: other categories match by name
    "post.author_reach": Attribute(Kind.NUMBER, reply_only=True),
    "post.labels": Attribute(Kind.LABELS, reply_only=True),
    "post.text": Attribute(Kind.TEXT, reply_only=True),
    "post.age": Attribute(Kind.DURATION, reply_only=True),
    "content.labels": Attribute(Kind.LABELS),
    "content.text": Attribute(Kind.TEXT),
}

# `content has label x` is shorthand for `content.labels has label x`.
LABEL_OWNERS = {"content": "content.labels", "post": "post.labels", "actor": "actor.groups"}

CONTEXT_PREFIX = "context"


def lookup(dotted: str) -> Attribute | None:
    """The attribute a path names; `context.*` is free-form and typed at run time."""
    if dotted.startswith(CONTEXT_PREFIX + ".") and dotted.count(".") == 1:
        return Attribute(Kind.ANY)
    return ATTRIBUTES.get(dotted)


def known_paths() -> list[str]:
    """Every attribute name, for 'did you mean' suggestions."""
    return [*ATTRIBUTES, "context.<flag>"]
