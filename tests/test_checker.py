"""Checker passes that golden files do not pin: cross-file namespace, closure, lint precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from replygate.engine.loader import check_sources
from replygate.policy_dsl.checker import CheckResult

ROOT = Path(__file__).resolve().parent.parent


def checked(sources: dict[str, str]) -> CheckResult:
    result, diagnostics = check_sources(sources)
    assert result is not None, [d.render() for d in diagnostics]
    return result


def test_duplicate_across_files_names_both_places() -> None:
    result = checked({"a.policy": "role agent\n", "b.policy": "\n\nrole agent\n"})
    (error,) = result.errors
    assert str(error.span) == "b.policy:3:6"
    assert "first at a.policy:1:6" in error.message


def test_a_rule_defined_twice_has_both_bodies_checked() -> None:
    """The second body went unchecked: renaming it brought a new round of errors."""
    text = (
        'role agent\nrule a { allow on reply by agent message "x" }\n'
        'rule a { allow on reply by agnt when post.foo == 3 message "y" }\n'
    )
    result = checked({"a.policy": text})
    assert [(e.code, e.span.line, e.span.column) for e in result.errors] == [
        ("duplicate", 3, 6),
        ("unknown-role", 3, 28),
        ("unknown-attribute", 3, 38),
    ]


@pytest.mark.parametrize(
    ("declaration", "column"),
    [
        ("role anyone", 6),
        ("person anyone is agent", 8),
        ('person "anyone" is agent', 8),
        ("group anyone is agent", 7),
    ],
)
def test_no_role_person_or_group_is_named_anyone(declaration: str, column: int) -> None:
    """`role anyone` compiled, and `by anyone` in a rule meant for it allowed every actor."""
    result = checked({"a.policy": f"role agent\n{declaration}\n"})
    assert [(e.code, e.span.line, e.span.column) for e in result.errors] == [
        ("reserved-name", 2, column)
    ]
    assert "`by anyone` means every actor" in result.errors[0].message


def test_a_calendar_may_be_spelled_like_a_keyword() -> None:
    checked({"a.policy": "calendar always {\n  open always\n}\n"})


@pytest.mark.parametrize(
    ("window", "empty"),
    [
        ("from 2026-03-29 02:30 until 2026-03-29 03:00", True),  # 02:30 is 03:30 summer time
        ("from 2026-03-29 02:30 until 2026-03-29 03:31", False),
        ("from 2026-10-25 02:30 until 2026-10-25 02:45", False),  # the first 02:30, 02:45
        ("from 2026-11-27 10:00 until 2026-11-27 10:00", True),
    ],
)
def test_a_period_window_is_empty_by_real_time(window: str, empty: bool) -> None:
    """A window that starts after it ends in real time (DST) passed the wall-clock check."""
    _, diagnostics = check_sources({"a.policy": f'period p {{ zone "Europe/Vienna" {window} }}\n'})
    codes = [d.code for d in diagnostics]
    assert ("empty-window" in codes) is empty, codes


def test_closure_follows_several_parents() -> None:
    result = checked({"a.policy": "role a\nrole b extends a\nrole c\nrole d extends b, c\n"})
    assert result.closure["d"] == frozenset({"a", "b", "c", "d"})
    assert result.closure["a"] == frozenset({"a"})


def test_self_inheritance_is_a_cycle() -> None:
    result = checked({"a.policy": "role a extends a\n"})
    assert [e.code for e in result.errors] == ["inheritance-cycle"]


def test_bundled_policy_has_no_diagnostics() -> None:
    sources = {str(p): p.read_text() for p in sorted((ROOT / "policies").glob("*.policy"))}
    assert checked(sources).diagnostics == []


BASE = "role agent\nrole senior extends agent\nchannel twitter, facebook\n"


@pytest.mark.parametrize(
    "condition",
    [
        "post.sentiment == negative or post.sentiment == positive",
        "post.author_reach >= 10000 and post.author_reach <= 10000",
        "post.author_reach > 5 and post.author_reach < 6",
        "channel == twitter and not (channel == facebook)",
        "actor is senior",
    ],
)
def test_satisfiable_conditions_are_not_flagged(condition: str) -> None:
    result = checked(
        {"a.policy": BASE + f'rule r {{ allow on reply by agent when {condition} message "m" }}\n'}
    )
    assert [d.code for d in result.diagnostics] == []


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        (
            'allow on reply via twitter by agent when channel == facebook message "m"',
            "never-matches",
        ),
        (
            'allow on reply by agent when post.author_reach > 10 and post.author_reach <= 10 message "m"',
            "never-matches",
        ),
        (
            'allow on reply by agent when actor is senior and actor is not senior message "m"',
            "never-matches",
        ),
        ('allow on reply by agent when actor has no role message "m"', "never-matches"),
        ('allow on post by agent when deadline has passed message "m"', "never-matches"),
        (
            'allow on reply by agent when channel in [twitter] and channel not in [twitter] message "m"',
            "never-matches",
        ),
    ],
)
def test_impossible_rules_are_flagged(rule: str, code: str) -> None:
    result = checked({"a.policy": BASE + f"rule r {{ {rule} }}\n"})
    assert [d.code for d in result.diagnostics] == [code]


@pytest.mark.parametrize(
    ("deny", "shadowed"),
    [
        ('deny on any by anyone message "d"', True),
        ('deny on reply by agent message "d"', True),  # senior holds agent
        ('deny on reply by senior message "d"', False),  # agents are not seniors
        ('deny on post by anyone message "d"', False),
        ('deny on reply via facebook by anyone message "d"', False),
        ('deny on reply by anyone when context.crisis message "d"', False),
        ('deny on reply by anyone when post.sentiment == negative message "d"', True),
    ],
)
def test_shadowing_by_a_broader_deny(deny: str, shadowed: bool) -> None:
    allow = 'rule a { allow on reply by agent when post.sentiment == negative message "a" }\n'
    result = checked({"a.policy": BASE + allow + f"rule d {{ {deny} }}\n"})
    assert ("shadowed" in [d.code for d in result.diagnostics]) is shadowed


# Found by `make fuzz` (atheris): a zone name too long for a file name raised OSError.
def test_a_zone_name_too_long_for_a_file_is_an_unknown_zone() -> None:
    zone = "Europe/V" + "x" * 300 + "ienna"
    result = checked({"a.policy": f'calendar c {{ zone "{zone}" open mon 08:00-18:00 }}\n'})
    assert [d.code for d in result.errors] == ["unknown-zone"]


# A single-valued clause given twice was last-wins, and `fmt` deleted the first: now, as for
# rules (`duplicate-clause`) and rotations (`duplicate-rotation`), an error at the second one.
@pytest.mark.parametrize(
    ("declaration", "column"),
    [
        ('calendar c { zone "Asia/Tokyo" zone "UTC" open mon-fri 09:00-10:00 }', 32),
        ('calendar c { zone "UTC" open always open always }', 37),
        ('roster x { members alice zone "UTC" zone "Asia/Tokyo" open mon 09:00-10:00 }', 37),
        ("roster x { members alice during c during d }", 35),
    ],
    ids=["calendar-zone", "calendar-always", "roster-zone", "roster-during"],
)
def test_a_repeated_single_clause_is_a_duplicate_clause(declaration: str, column: int) -> None:
    calendars = 'calendar c { zone "UTC" open always }\ncalendar d { zone "UTC" open always }\n'
    if declaration.startswith("calendar"):
        calendars = 'calendar d { zone "UTC" open always }\n'
    source = BASE + "person alice is agent\n" + calendars + declaration + "\n"
    _, diagnostics = check_sources({"a.policy": source})
    found = [(d.code, d.span.column) for d in diagnostics if d.severity.value == "error"]
    assert found == [("duplicate-clause", column)]


# An `always` calendar needs no zone, but a rotation's hand-over and an override are local
# times: a roster with one and no zone read them as UTC, silently (docs/rosters.md: an error).
@pytest.mark.parametrize(
    "clause",
    [
        "rotate every 1d from 2026-12-01 08:00",
        "override alice from 2026-12-24 18:00 until 2026-12-25 06:00",
    ],
)
def test_a_roster_with_local_times_needs_a_zone(clause: str) -> None:
    source = BASE + "person alice is agent\ncalendar c { open always }\n"
    _, diagnostics = check_sources(
        {"a.policy": source + f"roster r {{ members alice during c {clause} }}\n"}
    )
    assert "missing-zone" in [d.code for d in diagnostics if d.severity.value == "error"]
    _, fine = check_sources({"a.policy": source + "roster r { members alice during c }\n"})
    assert "missing-zone" not in [d.code for d in fine]


@pytest.mark.parametrize(
    ("condition", "dead"),
    [
        ("post.sentiment == negative", True),
        ("post.author_reach > 10", True),
        ("post.sentiment in [negative]", True),
        ("post has label legal_threat", True),
        # A `post.*` test of a new post equals nothing: `!=` and `not in` are true (README).
        ("post.sentiment != negative", False),
        ("post.sentiment not in [negative]", False),
        ("post.sentiment != negative and channel == twitter", False),
    ],
)
def test_a_rule_for_new_posts_is_dead_only_when_its_post_test_is_false_without_a_post(
    condition: str, dead: bool
) -> None:
    """`deny on post … when post.sentiment != negative` denies every post; lint called it dead."""
    text = (
        "role agent\nchannel twitter\nlabel legal_threat\n"
        f'rule r {{ deny on post by agent when {condition} message "m" }}\n'
    )
    codes = [d.code for d in check_sources({"p.policy": text})[1]]
    assert ("never-matches" in codes) is dead
