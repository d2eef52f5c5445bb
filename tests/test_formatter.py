"""`policy_dsl.formatter` and `replygate fmt`: golden layouts, idempotence, meaning kept, the CLI.

The golden pairs in `tests/golden/fmt/` are the specification of the layout: `NAME.in.policy`
holds a policy as someone might write it, `NAME.out.policy` the one canonical way to print it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replygate.cli import fmt
from replygate.policy_dsl.formatter import format_policy, format_source
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import PolicyError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "fmt"
BUNDLED = sorted((ROOT / "policies").glob("*.policy"))


# Bundled lines that the canonical layout spells differently; each is a one-line edit to the
# file, proposed rather than made. The test accepts either spelling, so it keeps passing once
# the file is changed, and still fails on any other difference.
def golden_pairs() -> list[pytest.ParameterSet]:
    """Every `NAME.in.policy` with its `NAME.out.policy`, one test case each."""
    pairs = []
    for source in sorted(GOLDEN.glob("*.in.policy")):
        expected = source.with_name(source.name.replace(".in.policy", ".out.policy"))
        pairs.append(pytest.param(source, expected, id=source.name.removesuffix(".in.policy")))
    return pairs


def comment_texts(text: str) -> list[str]:
    return sorted(comment[2] for comment in parse_policy(text).comments)


def test_there_are_enough_golden_pairs() -> None:
    assert len(golden_pairs()) >= 5
    for pair in golden_pairs():
        source, expected = pair.values
        assert isinstance(expected, Path)
        assert expected.is_file(), f"{source} has no {expected.name}"


# ---- golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), golden_pairs())
def test_golden_layout(source: Path, expected: Path) -> None:
    assert format_source(source.read_text(encoding="utf-8"), str(source)) == expected.read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize(("source", "expected"), golden_pairs())
def test_formatting_twice_changes_nothing(source: Path, expected: Path) -> None:
    once = format_source(source.read_text(encoding="utf-8"))
    assert format_source(once) == once
    assert format_source(expected.read_text(encoding="utf-8")) == expected.read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize(("source", "expected"), golden_pairs())
def test_formatting_keeps_the_tree_and_every_comment(source: Path, expected: Path) -> None:
    text = source.read_text(encoding="utf-8")
    formatted = format_source(text)
    assert parse_policy(formatted).declarations == parse_policy(text).declarations
    assert comment_texts(formatted) == comment_texts(text)


# ---- the bundled policies --------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_policies_are_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_a_tree_prints_like_its_source(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_policy(parse_policy(text, str(path))) == format_source(text, str(path))


# ---- details ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", ""),
        ("\n\n  \n", ""),
        ("unit a", "unit a\n"),
        ("unit a\r\nunit b\r\n", "unit a\nunit b\n"),
        ("unit a\n\n\n", "unit a\n"),
        ("unit a\nrole b\nunit c\n", "unit a\n\nrole b\n\nunit c\n"),
        ('person "a b" is x\nperson "not" is x\nperson a-b_1 is x\n', None),
        ("group x is y\n", None),
        ("calendar c { open mon, tue, wed, fri, sat 00:00-24:00 }", None),
        ("period p { from 2026-01-01 0:05 until 2026-01-01 23:59 }", None),
        ("rule r { allow on x by y when n == 1_000.5 }", None),
    ],
)
def test_small_layouts(source: str, expected: str | None) -> None:
    formatted = format_source(source)
    if expected is not None:
        assert formatted == expected
    assert format_source(formatted) == formatted
    assert parse_policy(formatted).declarations == parse_policy(source).declarations


def test_numbers_lose_their_separators_and_keep_their_value() -> None:
    formatted = format_source("rule r { allow on x by y when n == 1_000.5 }")
    assert "when n == 1000.5\n" in formatted


def test_a_file_that_does_not_parse_raises_policy_error() -> None:
    with pytest.raises(PolicyError, match=r"bad\.policy:1:"):
        format_source("rule {", "bad.policy")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_comments_anywhere_survive_and_settle(data: st.DataObject) -> None:
    """Put comments on random lines of a formatted file: none is lost, the tree stays, and a
    second formatting changes nothing."""
    path = data.draw(st.sampled_from(sorted(GOLDEN.glob("*.out.policy"))), label="file")
    lines = path.read_text(encoding="utf-8").split("\n")
    for number in range(data.draw(st.integers(1, 5), label="comments")):
        at = data.draw(st.integers(0, len(lines) - 1))
        if data.draw(st.booleans()) and "#" not in lines[at]:
            lines[at] += f"  # trailing {number}"
        else:
            lines.insert(at, " " * data.draw(st.integers(0, 8)) + f"# own line {number}")
    text = "\n".join(lines)
    formatted = format_source(text)
    assert comment_texts(formatted) == comment_texts(text)
    assert parse_policy(formatted).declarations == parse_policy(text).declarations
    assert format_source(formatted) == formatted


# ---- replygate fmt ---------------------------------------------------------------------------


def run_fmt(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    fmt.configure(parser)
    return fmt.run(parser.parse_args(argv))


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A folder with one canonical policy and, in a subfolder, one that is not."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "canonical.policy").write_text("unit a\n", encoding="utf-8")
    (tmp_path / "sub" / "messy.policy").write_text("unit   a\nrole b", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    return tmp_path


def test_fmt_rewrites_files_in_place(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_fmt(str(policies)) == 0
    assert (policies / "sub" / "messy.policy").read_text(encoding="utf-8") == "unit a\n\nrole b\n"
    assert (policies / "canonical.policy").read_text(encoding="utf-8") == "unit a\n"
    assert (policies / "notes.txt").read_text(encoding="utf-8") == "not a policy"
    assert "2 files: 1 reformatted" in capsys.readouterr().err
    assert run_fmt("--check", str(policies)) == 0


def test_fmt_check_lists_what_would_change_and_writes_nothing(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = policies / "sub" / "messy.policy"
    assert run_fmt("--check", str(policies)) == 1
    assert capsys.readouterr().out.splitlines() == [str(messy)]
    assert messy.read_text(encoding="utf-8") == "unit   a\nrole b"
    assert run_fmt("--check", str(policies / "canonical.policy")) == 0
    assert capsys.readouterr().out == ""


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = policies / "sub" / "messy.policy"
    assert run_fmt("--diff", str(messy)) == 0
    out = capsys.readouterr().out
    assert out == (
        f"--- {messy}\n+++ {messy} (formatted)\n@@ -1,2 +1,3 @@\n"
        "-unit   a\n-role b\n\\ No newline at end of file\n+unit a\n+\n+role b\n"
    )
    assert messy.read_text(encoding="utf-8") == "unit   a\nrole b"
    assert run_fmt("--check", "--diff", str(messy)) == 1


@pytest.mark.parametrize(
    ("written", "formatted"),
    [
        (b"unit a\r\nrole   b\r\n", b"unit a\r\n\r\nrole b\r\n"),  # a Windows checkout
        (b"\xef\xbb\xbfunit a\nrole   b\n", b"\xef\xbb\xbfunit a\n\nrole b\n"),  # a BOM
        (b"unit a\nrole   b\r\n", b"unit a\n\nrole b\n"),  # mixed: the first line end
    ],
)
def test_a_files_own_line_ends_and_byte_order_mark_are_kept(
    tmp_path: Path, written: bytes, formatted: bytes
) -> None:
    """core.autocrlf checks files out with CRLF: `fmt --check` failed every line of them."""
    path = tmp_path / "windows.policy"
    path.write_bytes(written)
    assert run_fmt("--check", str(path)) == 1
    assert run_fmt(str(path)) == 0
    assert path.read_bytes() == formatted
    assert run_fmt("--check", str(path)) == 0


def test_fmt_reports_a_broken_file_and_formats_the_others(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = policies / "broken.policy"
    broken.write_text(
        "unit a\nrule x {\n    allow\n    on reply\n    when = 1\n}\n", encoding="utf-8"
    )
    assert run_fmt(str(policies)) == 2
    err = capsys.readouterr().err
    assert f"{broken}:5:10: error:" in err
    assert "Traceback" not in err
    assert broken.read_text(encoding="utf-8").startswith("unit a\nrule x {\n")
    assert (policies / "sub" / "messy.policy").read_text(encoding="utf-8") == "unit a\n\nrole b\n"


def _fifo(root: Path) -> Path:
    os.mkfifo(root / "x.policy")
    return root / "x.policy"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "missing", "no policy file or folder"),
        (lambda root: root, "holds no .policy files"),
        (lambda root: _write(root / "x.policy", b"unit \xff\n"), "not UTF-8 text"),
        (
            lambda root: _write(root / "x.policy", b"respond to a within 1000000000d\n"),
            "x.policy:1:21: error: '1000000000d' is longer than a year",
        ),
        # Found by probing the CLI: "no file at" a path `ls` shows, and never opened (a pipe
        # with no writer would block `fmt` for good).
        (_fifo, "x.policy' is a named pipe, not a policy file or folder"),
    ],
    ids=["missing", "empty-folder", "not-utf8", "absurd-duration", "named-pipe"],
)
def test_fmt_bad_input_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Callable[[Path], Path], message: str
) -> None:
    assert run_fmt(str(setup(tmp_path))) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
