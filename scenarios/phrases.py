"""The phrase catalogue: how step text is matched, and what to suggest when nothing matches.

A phrase is written as a template people can read (it is what the docs and the error
messages show):

    the content is labelled {labels:names}
    {actor} replies [on {channel:name}] [at {time}]

`{slot}` or `{slot:kind}` captures a value (the kinds are in `SLOTS`), `[…]` is optional and
`(a|b)` offers alternatives; `~` marks a spelling that is accepted but not shown (`(a|~an)`). Literal words match case-insensitively and any run of spaces
matches any run of spaces. Templates compile to anchored regular expressions once, at import.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

StepKind = Literal["given", "when", "then"]

# A name as the policy writes it: a word (letters of any script, digits, `_ . @ -`), or quoted
# with anything else in it (`"j.doe@acme.com"`, `"o'brien"`, `"Smith, John"`).
NAME_TOKEN = r'"[^"\n]+"|\w[\w.@-]*'

# What each kind of slot may contain. Values are loose where a dedicated parser gives a better
# error than "no phrase matches" (times, durations, outcomes).
SLOTS: dict[str, str] = {
    "name": rf"(?:{NAME_TOKEN})",
    "names": rf"(?:{NAME_TOKEN})(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)(?:{NAME_TOKEN}))*",
    "count": r"\d[\d,_' ]*",
    "time": r"\S.*?",
    "duration": r"\d.*?",
    "text": r".*",
    "words": r"[A-Za-z_][A-Za-z_]*(?: [A-Za-z_]+)*?",
    "actor": rf"(?:a member of .+? named (?:{NAME_TOKEN})|(?:{NAME_TOKEN}))",
    "outcome": r"(?:is\s+)?(?:not\s+)?(?:allowed|allow|permitted|ok|denied|deny|forbidden|refused"
    r"|escalat\w*|handed\s+on|needs?|requires?|approval|subject|submitted)\b.*?",
    "ref": r"[^\"]+",
    "sentiment": r"positive|neutral|negative",
    "onoff": r"on|off",
    "deadline": r"missed|met|kept",
    "quoted": r"[^\"]*",
    "quotedlist": r"\"[^\"]+\"(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)\"[^\"]+\")*",
}

_TOKEN = re.compile(r"\{(\w+)(?::(\w+))?\}|\[|\]|\(|\)|\||,|\s+|[^\s{}\[\]()|,]+")


_SLOT_KIND = re.compile(r"\{(\w+):(\w+)\}")
_ALTERNATIVES = re.compile(r"\(([^()]*)\)")


# Slots whose few values read better spelled out than named.
_SHOWN_AS = {"onoff": "(on|off)", "deadline": "(missed|met)"}


def readable(template: str) -> str:
    """A template as people read it: `{slot}` without its kind, hidden spellings (`~…`) left out."""

    def slot(found: re.Match[str]) -> str:
        return _SHOWN_AS.get(found.group(2), "{" + found.group(1) + "}")

    def alternatives(found: re.Match[str]) -> str:
        shown = [option for option in found.group(1).split("|") if not option.startswith("~")]
        return shown[0] if len(shown) == 1 else "(" + "|".join(shown) + ")"

    return _ALTERNATIVES.sub(alternatives, _SLOT_KIND.sub(slot, template))


def compile_template(template: str) -> re.Pattern[str]:
    """A template to an anchored, case-insensitive regular expression with named groups."""
    parts: list[str] = []
    depth: list[str] = []
    tokens = list(_TOKEN.finditer(template))
    space_pending = False
    for token in tokens:
        text = token.group(0)
        if text.isspace():
            space_pending = True
            continue
        # A space before an optional part belongs to that part, or `a [b]` would need `a `.
        lead = r"\s+" if space_pending else ""
        space_pending = False
        if token.group(1):
            kind = token.group(2) or token.group(1)
            parts.append(f"{lead}(?P<{token.group(1)}>{SLOTS[kind]})")
        elif text == "[":
            parts.append(f"(?:{lead}")
            depth.append("]")
        elif text == "]":
            if not depth or depth.pop() != "]":
                raise ValueError(f"unbalanced ] in template {template!r}")
            parts.append(f"{lead})?")
        elif text == "(":
            parts.append(f"{lead}(?:")
            depth.append(")")
        elif text == ")":
            if not depth or depth.pop() != ")":
                raise ValueError(f"unbalanced ) in template {template!r}")
            parts.append(f"{lead})")
        elif text == "|":
            parts.append(f"{lead}|")
        elif text == ",":
            parts.append(r"\s*,?")  # people leave out commas, or put spaces before them
        else:
            parts.append(lead + re.escape(text.removeprefix("~")))
    if depth:
        raise ValueError(f"unbalanced brackets in template {template!r}")
    return re.compile(r"\s*" + "".join(parts) + r"\s*", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One way to write a step: its kind, template, an example, and what it does."""

    kind: StepKind
    template: str
    example: str
    action: Callable[..., None]
    pattern: re.Pattern[str]
    needs_docstring: bool = False

    def match(self, text: str) -> dict[str, str] | None:
        """The slot values when `text` is written this way, else None (a quoted name unquoted)."""
        found = self.pattern.fullmatch(text)
        if found is None:
            return None
        names = {slot for slot, kind in _SLOT_KIND.findall(self.template) if kind == "name"}
        return {
            k: unquoted(v) if k in names else v
            for k, v in found.groupdict().items()
            if v is not None
        }

    @property
    def keyword(self) -> str:
        """The Gherkin keyword this phrase is written with."""
        return self.kind.capitalize()

    def shown(self) -> str:
        """The template with its keyword, as the docs and messages show it (`{slot}` only)."""
        return f"{self.keyword} {readable(self.template)}"


class Catalogue:
    """Every phrase the step library knows, in the order they are tried."""

    def __init__(self) -> None:
        self.phrases: list[Phrase] = []

    def add(
        self,
        kind: StepKind,
        template: str,
        example: str,
        *,
        docstring: bool = False,
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register the decorated function as the action of a phrase."""

        def register(action: Callable[..., None]) -> Callable[..., None]:
            phrase = Phrase(kind, template, example, action, compile_template(template), docstring)
            if phrase.match(example) is None:
                raise ValueError(f"the example {example!r} does not match {template!r}")
            self.phrases.append(phrase)
            return action

        return register

    def find(
        self, text: str, has_docstring: bool = False, kind: str | None = None
    ) -> tuple[Phrase, dict[str, str]] | None:
        """The phrase `text` is written in: phrases of the step's own family (Given/When, or
        Then) first, then the others; a docstring phrase only for a step with a text block."""
        ordered = self.phrases
        if kind is not None:
            ordered = sorted(self.phrases, key=lambda p: _family(p.kind) != _family(kind))
        for phrase in ordered:
            if phrase.needs_docstring != has_docstring:
                continue
            values = phrase.match(text)
            if values is not None:
                return phrase, values
        return None

    def closest(self, text: str, kind: str | None = None, count: int = 3) -> list[Phrase]:
        """The phrases most like `text` (difflib ratio on the examples and templates)."""
        # The phrasing is in a step's first words; a long quoted text after them would only
        # make the comparison slow (it grows with the square of the length).
        wanted = _normalise(text)[:SUGGEST_CHARACTERS]
        scored: list[tuple[float, int, Phrase]] = []
        for position, phrase in enumerate(self.phrases):
            score = max(
                difflib.SequenceMatcher(None, wanted, _normalise(candidate)).ratio()
                for candidate in (phrase.example, phrase.template)
            )
            if kind is not None and _family(phrase.kind) == _family(kind):
                score += 0.05  # prefer phrases of the step's own kind when it is a close call
            scored.append((score, -position, phrase))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        seen: set[str] = set()
        found: list[Phrase] = []
        for _, _, phrase in scored:
            if phrase.template in seen:
                continue
            seen.add(phrase.template)
            found.append(phrase)
            if len(found) == count:
                break
        return found

    def of_kind(self, kinds: Iterable[str]) -> list[Phrase]:
        """The phrases of the given kinds, in catalogue order."""
        wanted = set(kinds)
        return [p for p in self.phrases if p.kind in wanted]


SUGGEST_CHARACTERS = 200


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _family(kind: str) -> str:
    """Given and When both describe the request; Then checks the decision."""
    return "check" if kind == "then" else "describe"


def describes(kind: str) -> bool:
    """Whether a step of this kind (given/when/then) describes the request."""
    return _family(kind) == "describe"


def unknown_step_message(catalogue: Catalogue, keyword: str, text: str, kind: str) -> str:
    """`no step is written like this`, then the closest known phrasings with examples."""
    lines = [f'No step is written like "{keyword} {text}".', "The closest known phrasings are:"]
    for phrase in catalogue.closest(text, kind):
        lines.append(f"    {phrase.shown()}")
        lines.append(f"        e.g. {phrase.keyword} {phrase.example}")
    lines.append("All phrasings are listed in docs/scenarios.md.")
    return "\n".join(lines)


def unquoted(name: str) -> str:
    """A name as written in a step, without the quotes that let it hold any character."""
    written = name.strip()
    if len(written) > 1 and written[0] == written[-1] == '"':
        return written[1:-1]
    return written


def slot_values(values: dict[str, str]) -> dict[str, Any]:
    """Slot values as keyword arguments (whitespace trimmed)."""
    return {key: value.strip() for key, value in values.items()}
