"""Revision names from users are refused before they reach git; git agrees with every one we let through."""

from __future__ import annotations

import string
import subprocess

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from replygate.engine.gitrefs import InvalidRef, split_ancestry, validate_ref


def git_accepts(name: str) -> bool:
    """Ask git itself (list argv, no shell): is `name` a valid ref name?"""
    done = subprocess.run(
        ["git", "check-ref-format", "--allow-onelevel", name],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def accepted(name: str) -> bool:
    try:
        validate_ref(name)
    except InvalidRef:
        return False
    return True


HOSTILE = [
    "",
    "--upload-pack=x",
    "-x",
    "-",
    "a..b",
    "a b",
    "a\nb",
    "a\tb",
    "a\x00b",
    "a\x7fb",
    "a~",
    "a~1",
    "a^",
    "a^{commit}",
    "a:b",
    "HEAD:policies/care.policy",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "@{-1}",
    "main@{yesterday}",
    "@",
    "refs/heads/x.lock",
    "x.lock/y",
    "main/",
    "/main",
    "a//b",
    ".hidden",
    "refs/.x",
    "main.",
    "x" * 256,
    "$(touch /tmp/pwn)",
    "`touch /tmp/pwn`",
    "a;b",
    "a|b",
    "a&b",
    "a>b",
    "'a'",
    '"a"',
    "ma\u00efn",
]


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRef):
        validate_ref(name)


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "HEAD",
        "feature/raise-reach-threshold",
        "refs/heads/main",
        "refs/tags/v1.2.0",
        "origin/main",
        "v1.2.0",
        "release-2026.10",
        "user+topic",
        "abcd",
        "0123456789abcdef0123456789abcdef01234567",
        "x" * 255,
    ],
)
def test_ref_names_and_shas_are_accepted(name: str) -> None:
    assert validate_ref(name) == name
    assert git_accepts(name)


def test_the_message_says_what_is_wrong() -> None:
    with pytest.raises(InvalidRef, match=r"starts with '-'"):
        validate_ref("--upload-pack=x")
    with pytest.raises(InvalidRef, match=r"contains '\.\.'"):
        validate_ref("a..b")
    with pytest.raises(InvalidRef, match=r"a control character"):
        validate_ref("a\nb")
    with pytest.raises(InvalidRef, match=r"ends with '\.lock'"):
        validate_ref("refs/heads/x.lock")
    with pytest.raises(InvalidRef, match=r"longer than 255"):
        validate_ref("a" * 300)


# Characters that make ref names interesting: separators, everything git forbids, and letters
# that spell ".lock", "HEAD" and hex.
TRICKY = "./-_+@{}~^:?*[]\\ \t\n\x7f\x01#,=%!$`;'\"lockHEADabcf019"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=TRICKY, min_size=1, max_size=24) | st.text(min_size=1, max_size=12))
@example("a.lock")
@example("a/b.lock/c")
@example("@")
@example("a@{b")
def test_nothing_git_refuses_gets_through(name: str) -> None:
    if accepted(name):
        assert git_accepts(name), f"validate_ref let through {name!r}, which git refuses"


SAFE = string.ascii_letters + string.digits + "._+/-"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=SAFE, min_size=1, max_size=20).filter(lambda s: not s.startswith("-")))
def test_over_the_plain_alphabet_we_agree_with_git_exactly(name: str) -> None:
    # Strict does not mean useless: on plain names we refuse exactly what git refuses.
    assert accepted(name) == git_accepts(name)


@pytest.mark.parametrize(
    ("text", "want"),
    [("HEAD~1", ("HEAD", 1)), ("main~12", ("main", 12)), ("main", ("main", 0))],
)
def test_one_ancestry_step_count_is_split_off(text: str, want: tuple[str, int]) -> None:
    assert split_ancestry(text) == want


@pytest.mark.parametrize("text", ["a~", "~1", "a~1~2", "a^", "a^1", "-x~1", "a..b~1", "a~1x"])
def test_other_ancestry_syntax_is_refused(text: str) -> None:
    with pytest.raises(InvalidRef):
        split_ancestry(text)


@pytest.mark.parametrize("steps", ["9999999", "99999999999999999999999", "9" * 5000])
def test_a_step_count_of_many_digits_is_too_far_back_not_a_name_with_a_tilde(steps: str) -> None:
    """Past six digits the `~N` was not read as ancestry: "it contains '~'" misled."""
    with pytest.raises(InvalidRef, match="goes back more than 100000 commits"):
        split_ancestry(f"HEAD~{steps}")
    assert split_ancestry("HEAD~000100") == ("HEAD", 100)


def test_two_step_counts_are_refused_naming_the_revision_as_written() -> None:
    """It named only `HEAD~1`, the part before the last `~N`."""
    with pytest.raises(InvalidRef, match=r"'HEAD~1~2' has more than one ~N"):
        split_ancestry("HEAD~1~2")
