"""Properties of the language as a whole, checked on generated input (hypothesis).

- Printing any valid tree and parsing the text gives the same tree back, and the printed text is
  already canonical: the formatter never changes what a policy means.
- Whatever text the parser is given, it returns a tree or raises `PolicyError`, nothing else:
  the API and the CLI can show every failure as a diagnostic.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replygate.policy_dsl import ast
from replygate.policy_dsl.durations import MAX_SECONDS
from replygate.policy_dsl.formatter import format_policy, format_source
from replygate.policy_dsl.parser import MAX_NUMBER, parse_policy
from replygate.policy_dsl.source import PolicyError

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every word the grammar spells out. They are fine as names almost everywhere (the lexer knows
# from context what may come next), so the generated trees use them too; the few places where
# a word is taken are excluded below, one by one.
KEYWORDS = [
    *("unit", "role", "extends", "in", "person", "group", "is", "channel", "account"),
    *("calendar", "zone", "open", "always", "closed", "period", "from", "until"),
    *("respond", "to", "within", "during", "rule", "allow", "deny", "escalate", "require"),
    *("approval", "on", "via", "by", "when", "unless", "message", "and", "or", "not", "has"),
    *("label", "matches", "actor", "no", "now", "deadline", "passed", "any", "anyone"),
    *("true", "false"),
    *("list", "category", "mentions", "of", "approvals"),
    *("roster", "members", "rotate", "every", "override", "share", "with", "holidays", "duty"),
]


def test_the_keyword_list_is_the_grammars() -> None:
    """The generated trees and the token soup use every word the grammar spells out."""
    grammar = (Path(__file__).resolve().parent.parent / "policy_dsl" / "grammar.lark").read_text(
        encoding="utf-8"
    )
    assert set(KEYWORDS) == set(re.findall(r'"([a-z]+)"', grammar))


# ---- valid trees -----------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_WORD = st.text(_LETTERS + "0123456789", min_size=1, max_size=4)
plain_names = st.builds(
    lambda first, rest, parts: first + rest + "".join(f"-{p}" for p in parts),
    st.sampled_from(_LETTERS),
    st.text(_LETTERS + "0123456789", max_size=6),
    st.lists(_WORD, max_size=2),
)


def names(*taken: str) -> st.SearchStrategy[str]:
    """Identifiers, keywords among them, except the words `taken` at this place."""
    return st.one_of(plain_names, st.sampled_from([k for k in KEYWORDS if k not in taken]))


def name(*taken: str) -> st.SearchStrategy[ast.Name]:
    return names(*taken).map(ast.Name)


def name_lists(*taken: str, size: int = 3) -> st.SearchStrategy[tuple[ast.Name, ...]]:
    return st.lists(name(*taken), min_size=1, max_size=size).map(tuple)


# Policy text takes no control character but TAB and LF (and CR before LF), no bidirectional
# formatting character and no U+2028/U+2029 (`unwanted-character`): none is generated.
LINE_BREAKS = "".join(
    map(
        chr,
        [
            *range(0x09),
            *range(0x0B, 0x20),
            *range(0x7F, 0xA0),
            0x2028,
            0x2029,
            *range(0x202A, 0x202F),
            *range(0x2066, 0x206A),
        ],
    )
)
texts = st.text(st.characters(exclude_characters=LINE_BREAKS), max_size=12)
subjects = st.one_of(names(), texts).map(ast.Name)
# `actor.x` is a path but `actor` alone is not; not/now/deadline open other conditions.
paths = st.one_of(
    names("not", "now", "deadline", "actor").map(lambda n: ast.Path((n,))),
    st.builds(
        lambda first, rest: ast.Path((first, *rest)),
        names("not", "now", "deadline"),
        st.lists(names(), min_size=1, max_size=2),
    ),
)


numbers = st.one_of(
    st.integers(min_value=0, max_value=MAX_NUMBER),
    st.floats(min_value=0, max_value=MAX_NUMBER, allow_nan=False, allow_infinity=False).filter(
        lambda x: str(x)[0] != "-"
    ),
)
literals = st.one_of(
    texts.map(lambda v: ast.Literal(v, "text")),
    numbers.map(lambda v: ast.Literal(v, "number")),
    st.integers(1, MAX_SECONDS).map(lambda s: ast.Literal(timedelta(seconds=s), "duration")),
    st.booleans().map(lambda v: ast.Literal(v, "bool")),
    names("true", "false").map(lambda v: ast.Literal(v, "symbol")),
)

# What a pattern can hold after parsing: plain characters, a slash (written `\/`) and escapes.
pattern_pieces = st.one_of(
    st.characters(exclude_characters="\\/\n" + LINE_BREAKS),
    st.just("/"),
    st.characters(exclude_characters="/\n" + LINE_BREAKS).map(lambda c: "\\" + c),
)
patterns = st.lists(pattern_pieces, min_size=1, max_size=6).map("".join)

atoms = st.one_of(
    st.builds(ast.Compare, paths, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), literals),
    st.builds(
        ast.Member, paths, st.lists(literals, min_size=1, max_size=3).map(tuple), st.booleans()
    ),
    st.builds(ast.HasLabel, paths, literals),
    st.builds(ast.Matches, paths, patterns, st.booleans()),
    st.builds(ast.ActorIs, name("not"), st.booleans()),
    st.just(ast.ActorHasNoRole()),
    st.builds(ast.ActorInUnit, name()),
    st.builds(ast.NowIn, name()),
    st.just(ast.DeadlinePassed()),
    st.builds(ast.Truthy, paths),
    st.builds(ast.InList, paths, name(), st.booleans()),
    st.builds(ast.Mentions, paths, name()),
)


def _compound(inner: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    operands = st.lists(inner, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        st.builds(ast.Not, inner), st.builds(ast.And, operands), st.builds(ast.Or, operands)
    )


conditions: st.SearchStrategy[ast.Expr] = st.recursive(atoms, _compound, max_leaves=8)

minutes = st.integers(0, 24 * 60 - 1)
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


@st.composite
def opening_hours(draw: st.DrawFn) -> ast.OpenHours:
    days = sorted(draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)))
    ranges = draw(st.lists(st.tuples(minutes, st.integers(0, 24 * 60)), min_size=1, max_size=3))
    # A range may wrap past midnight, but it may not be empty.
    nonempty = tuple((start, end if end != start else start + 1) for start, end in ranges)
    return ast.OpenHours(tuple(days), nonempty)


calendars = st.builds(
    ast.Calendar,
    name(),
    st.none() | texts.map(ast.Name),
    st.lists(opening_hours(), max_size=3).map(tuple),
    st.booleans(),
    st.lists(dates, max_size=12).map(tuple),
)
periods = st.builds(
    ast.Period,
    name(),
    st.none() | texts.map(ast.Name),
    st.lists(
        st.builds(ast.Window, st.tuples(dates, minutes), st.tuples(dates, minutes)), max_size=3
    ).map(tuple),
)
effects = st.one_of(
    st.builds(ast.Effect, st.sampled_from(["allow", "deny"])),
    st.builds(ast.Effect, st.just("escalate"), name().map(lambda n: (n,))),
    st.builds(ast.Effect, st.just("approval_required"), name_lists()),
    st.builds(
        ast.Effect,
        st.just("approval_required"),
        name_lists(),
        count=st.integers(1, 100),
    ),
)
rules = st.builds(
    ast.Rule,
    name(),
    effects,
    st.none() | name_lists("any"),
    st.none() | name_lists(),
    st.none() | name_lists("anyone"),
    st.lists(conditions, max_size=3).map(tuple),
    st.lists(conditions, max_size=2).map(tuple),
    st.none() | texts,
)
declarations = st.one_of(
    st.builds(ast.Unit, name(), st.none() | texts),
    st.builds(ast.Role, name(), st.lists(name(), max_size=2).map(tuple), st.none() | name()),
    st.builds(ast.Person, subjects, name_lists()),
    st.builds(ast.Group, subjects, name_lists()),
    st.builds(ast.Channel, name_lists()),
    st.builds(ast.Account, texts.map(ast.Name), name()),
    calendars,
    periods,
    st.builds(
        ast.ResponseTime,
        name(),
        st.integers(1, MAX_SECONDS).map(lambda s: timedelta(seconds=s)),
        st.none() | name(),
    ),
    rules,
    st.builds(
        ast.NamedList,
        name(),
        st.just("symbol"),
        st.lists(literals, min_size=1, max_size=4).map(tuple),
    ),
    st.builds(
        ast.NamedList,
        name(),
        st.just("text"),
        st.lists(
            texts.filter(lambda t: bool(t.strip())).map(lambda v: ast.Literal(v, "text")),
            min_size=1,
            max_size=4,
        ).map(tuple),
    ),
    st.builds(ast.Categories, name_lists()),
    st.builds(ast.Labels, name_lists()),
)
policies = st.lists(declarations, max_size=6).map(lambda d: ast.PolicyFile("<policy>", tuple(d)))


@PROPERTY
@given(policies)
def test_printing_a_tree_and_parsing_it_gives_the_tree_back(policy: ast.PolicyFile) -> None:
    text = format_policy(policy)
    assert parse_policy(text).declarations == policy.declarations
    assert format_source(text) == text


# ---- any text --------------------------------------------------------------------------------

TOKENS = [
    *KEYWORDS,
    *("{", "}", "[", "]", "(", ")", ",", ".", "==", "!=", "<", "<=", ">", ">=", "=", "!"),
    *("-", ":", "/", "\\", '"', "'", "#"),
    "agent",
    "post.sentiment",
    "actor.id",
    "care-team",
    "mon",
    "mon-fri",
    "fri-mon",
    "sat",
    '"Europe/Vienna"',
    '"a \\" b"',
    '"unterminated',
    "/a\\/b/i",
    "/x/",
    "//",
    "2026-12-24",
    "2026-02-30",
    "0000-01-01",
    "8:00",
    "24:00",
    "25:61",
    "08:00-18:00",
    "18:00-08:00",
    "00:00-00:00",
    "09:00-24:30",
    "30m",
    "1h30m",
    "0m",
    "1d24h",
    "90s",
    "2h1d",
    "10_000",
    "1.5",
    "0",
    "1_",
    "007",
    "# a comment",
    "\n",
    "\n\n",
    "\t",
    "\r\n",
]
token_soup = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from([" ", "", "\n"])), max_size=40
).map(lambda parts: "".join(token + gap for token, gap in parts))


def parses_or_reports(text: str) -> None:
    try:
        result = parse_policy(text, "fuzz.policy")
    except PolicyError as error:
        assert error.diagnostics
        assert error.render().startswith("fuzz.policy:")
    else:
        assert isinstance(result, ast.PolicyFile)


@PROPERTY
@given(st.text())
def test_any_text_parses_or_raises_policy_error(text: str) -> None:
    parses_or_reports(text)


@PROPERTY
@given(token_soup)
def test_any_token_soup_parses_or_raises_policy_error(text: str) -> None:
    parses_or_reports(text)


BUNDLED = [
    path.read_text(encoding="utf-8")
    for path in sorted((Path(__file__).resolve().parent.parent / "policies").glob("*.policy"))
]


@PROPERTY
@given(st.sampled_from(BUNDLED), st.data())
def test_damaged_policies_parse_or_raise_policy_error(text: str, data: st.DataObject) -> None:
    """Small edits to a real policy reach far deeper into the grammar than random text does."""
    words = text.split(" ")
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(words) - 1))
        if data.draw(st.booleans()):
            del words[at]
        else:
            words.insert(at, data.draw(st.sampled_from(TOKENS)))
    parses_or_reports(" ".join(words))


# Inputs that once escaped as other exceptions (OverflowError, ValueError, RecursionError).
@pytest.mark.parametrize(
    "text",
    [
        "respond to a within 1000000000d",
        "rule r { allow on x by y when n == " + "9" * 5000 + " }",
        "rule r { allow on x by y when " + "not " * 2000 + "a }",
    ],
    ids=["duration-overflow", "int-too-long", "deep-nesting"],
)
def test_absurd_input_is_reported_not_raised(text: str) -> None:
    parses_or_reports(text)


# A CR without LF ends a line for editors but not for the grammar: a comment before it ran on
# and swallowed the rules after it, silently (found by probing `lint` with a CR-only file).
@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ('unit a "#\r"', 10, "a carriage return (CR) that does not end a line"),
        ("unit a # note\rrule freeze { deny on any by anyone }", 14, "carriage return"),
        ('unit a "x\u2028y"  # real', 10, "the line separator U+2028"),
        ("unit a\x0cunit b  # real\nunit c", 7, "the control character U+000C"),
        ('unit a "\x1b[2K"', 9, "the control character U+001B"),
        ('unit a "\u202eevil"', 9, "the bidirectional formatting character U+202E"),
        ('unit a "\x85"', 9, "the control character U+0085"),
    ],
    ids=["cr-in-text", "cr-after-comment", "line-separator", "form-feed", "escape", "bidi", "nel"],
)
def test_characters_a_reviewer_cannot_see_are_refused(text: str, column: int, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text)
    (first, *_) = raised.value.diagnostics
    assert (first.code, first.span.line, first.span.column) == ("unwanted-character", 1, column)
    assert message in first.message
    shown = first.render({"<policy>": text})
    assert not any(c in shown for c in "\r\x0c\x1b\x85\u2028\u202e")  # drawn, not sent


def test_crlf_line_ends_and_tabs_are_fine() -> None:
    assert parse_policy("unit a  # one\r\n\tunit b # two\r\n").comments == (
        (1, 9, "# one"),
        (2, 9, "# two"),
    )


def test_the_caret_stands_under_the_span_after_tabs_and_wide_characters() -> None:
    from replygate.engine.loader import check_sources

    text = (
        "role agent\nchannel twitter\nrule x {\n"
        '\tallow on reply by agent when post.sentiment == "日本語" or post.sentiment == negatve\n'
        "}\n"
    )
    _, diagnostics = check_sources({"a.policy": text})
    (typo,) = [d for d in diagnostics if "negatve" in d.message]
    _, shown, caret, *_ = typo.render({"a.policy": text}).split("\n")
    assert shown == "  " + text.split("\n")[3]
    # The TAB is copied; each of the three wide characters takes two cells.
    before = text.split("\n")[3].index("negatve")
    assert caret == "  \t" + " " * (before - 1 + 3) + "^" * len("negatve")


@pytest.mark.parametrize(
    ("before", "cells"),
    [
        ("e\u0301e\u0301", 2),  # two combining accents: no cell of their own
        ("a\u200bb", 2),  # a zero-width space
        ("\u2764\ufe0f", 1),  # a variation selector after a narrow heart
        ("日本", 4),  # wide, as before
    ],
)
def test_the_caret_stands_under_the_span_after_zero_width_characters(
    before: str, cells: int
) -> None:
    from replygate.engine.loader import check_sources

    text = f'list c "{before}" role x extends nosuch\n'
    _, diagnostics = check_sources({"a.policy": text})
    (unknown,) = [d for d in diagnostics if "nosuch" in d.message]
    _, _, caret, *_ = unknown.render({"a.policy": text}).split("\n")
    prefix = 'list c "" role x extends '
    assert caret == "  " + " " * (len(prefix) + cells) + "^" * len("nosuch")


def test_crlf_and_a_byte_order_mark_are_not_shown_in_the_quoted_line() -> None:
    from replygate.engine.loader import check_sources

    text = "\ufeffrole agent extends nosuch\r\nrole b extends nosuch2\r\n"
    _, diagnostics = check_sources({"a.policy": text})
    rendered = "\n".join(d.render({"a.policy": text}) for d in diagnostics)
    assert "\u240d" not in rendered and "\ufeff" not in rendered  # no ␍, no BOM
    assert "  role agent extends nosuch\n" + "  " + " " * 19 + "^" * 6 in rendered
