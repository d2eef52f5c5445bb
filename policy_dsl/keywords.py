"""The language's reserved words, read from the grammar so that no list can fall behind it.

The highlighters (`policy_dsl.highlight`, `editors/`) and the README's list of reserved words are
checked against this one source.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Words that open a top-level declaration; highlighters show them apart from clause keywords.
_QUOTED_WORD = re.compile(r'"([a-z][a-z_]*)"')


@cache
def grammar_text() -> str:
    """The grammar as shipped in the package."""
    folder = resources.files("replygate.policy_dsl")
    return folder.joinpath("grammar.lark").read_text(encoding="utf-8")


@cache
def reserved_words() -> tuple[str, ...]:
    """Every keyword of the language, sorted: the quoted words of the grammar."""
    return tuple(sorted(set(_QUOTED_WORD.findall(grammar_text()))))


@cache
def declaration_words() -> tuple[str, ...]:
    """The keywords that start a top-level declaration (the grammar's `_declaration` rules)."""
    rules = re.search(r"^_declaration:(.*?)^\S", grammar_text(), re.M | re.S)
    names = re.findall(r"[a-z_]+", rules.group(1)) if rules else []
    found = []
    for name in names:
        rule = re.search(rf"^{name}:\s*\"([a-z]+)\"", grammar_text(), re.M)
        if rule:
            found.append(rule.group(1))
    return tuple(sorted(set(found)))
