"""Limits (docs/limits.md): inputs within them work, inputs past them are one clean diagnostic.

Each case was a crash or a hang once: a 1,000-level role chain (RecursionError in lint, serve,
replay and the follower), a 100,000-character zone name (OSError: File name too long), a list
of 100,000 items on one line (quadratic rendering), deeply nested conditions and huge files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from replygate.engine.loader import check_sources, compile_sources, parse_sources, read_folder
from replygate.engine.models import CheckRequest
from replygate.policy_dsl import limits
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import Diagnostic, PolicyError, Span

HEAD = "channel twitter\nrole agent\n"


def chain(levels: int) -> str:
    """Roles r0 … r{levels}: r{levels} is `levels` steps of `extends` below r0."""
    roles = "role r0\n" + "".join(f"role r{n} extends r{n - 1}\n" for n in range(1, levels + 1))
    rule = 'rule ok {\n    allow\n    on reply\n    by r0\n    message "r0 may reply"\n}\n'
    return roles + f"channel twitter\nperson alice is r{levels}\n" + rule


def rule_when(condition: str) -> str:
    return (
        HEAD
        + f'rule r {{\n    allow\n    on reply\n    by agent\n    when {condition}\n    message "m"\n}}\n'
    )


def errors(text: str, path: str = "t.policy") -> list[Diagnostic]:
    _, diagnostics = check_sources({path: text})
    return [d for d in diagnostics if d.severity.value == "error"]


def codes(text: str) -> list[str]:
    return [d.code for d in errors(text)]


class TestInheritance:
    def test_a_chain_of_1000_levels_lints_compiles_and_decides(self) -> None:
        text = chain(limits.MAX_INHERITANCE_DEPTH)
        assert errors(text) == []
        policy = compile_sources({"t.policy": text})
        request = CheckRequest.model_validate(
            {
                "actor": {"id": "alice"},
                "action": "reply",
                "channel": "twitter",
                "post": {
                    "id": "p",
                    "sentiment": "neutral",
                    "category": "question",
                    "author_reach": 1,
                    "received_at": "2026-11-27T10:00:00+01:00",
                },
                "at": "2026-11-27T10:05:00+01:00",
            }
        )
        assert policy.decide(request).decision == "allow"

    def test_a_chain_of_10000_levels_is_one_diagnostic_where_it_passes_the_limit(self) -> None:
        found = errors(chain(10_000))
        assert [d.code for d in found] == ["inheritance-too-deep"]
        assert found[0].span.line == limits.MAX_INHERITANCE_DEPTH + 2  # `role r1001 extends r1000`
        with pytest.raises(PolicyError, match="inheritance-too-deep"):
            compile_sources({"t.policy": chain(10_000)})

    def test_a_long_cycle_is_reported_without_recursion(self) -> None:
        text = "role r0 extends r2999\n" + "".join(
            f"role r{n} extends r{n - 1}\n" for n in range(1, 3000)
        )
        assert "inheritance-cycle" in codes(text)


class TestZones:
    @pytest.mark.parametrize(
        "zone", ["Europe/" + "x" * 100_000, "../" * 100 + "etc/passwd", "/etc/passwd"]
    )
    def test_any_zone_lookup_failure_is_unknown_zone_at_the_zone(self, zone: str) -> None:
        text = f'calendar c {{\n    zone "{zone}"\n    open mon-fri 08:00-18:00\n}}\n'
        found = errors(text)
        assert [d.code for d in found] == ["unknown-zone"]
        assert (found[0].span.line, found[0].span.column) == (2, 10)
        assert len(found[0].message) < 200


class TestLists:
    def test_a_list_of_100000_items_is_one_clean_diagnostic(self) -> None:
        values = ", ".join(f"c{n}" for n in range(100_000))
        text = rule_when(f"channel in [{values}]")
        found = errors(text)
        assert [d.code for d in found] == ["too-many-items"]
        rendered = found[0].render({"t.policy": text})
        assert len(rendered) < 600  # a window of the 600,000-character line, not all of it

    @pytest.mark.parametrize("declaration", ["channel", "person ann is"])
    def test_name_lists_are_bounded_too(self, declaration: str) -> None:
        names = ", ".join(f"n{n}" for n in range(limits.MAX_LIST_ITEMS + 1))
        assert codes(f"role agent\n{declaration} {names}\n") == ["too-many-items"]

    def test_5000_items_pass(self) -> None:
        values = ", ".join(f'"@brand-{n}"' for n in range(5_000))
        assert errors(rule_when(f"account in [{values}]")) == []


class TestNesting:
    @pytest.mark.parametrize(
        "condition",
        [
            "(" * 10_000 + "context.x" + ")" * 10_000,
            "not " * 10_000 + "context.x",
            "context.a and (context.b or " * 40 + "context.x" + ")" * 40,
        ],
        ids=["parentheses", "nots", "and-or"],
    )
    def test_deep_nesting_is_too_deep_not_a_crash(self, condition: str) -> None:
        assert codes(rule_when(condition)) == ["too-deep"]

    def test_nesting_within_the_limit_compiles(self) -> None:
        depth = limits.MAX_NESTING // 2 - 1
        condition = "context.a and (context.b or " * depth + "context.x" + ")" * depth
        compile_sources({"t.policy": rule_when(condition)})


class TestLengths:
    @pytest.mark.parametrize(
        ("text", "code"),
        [
            (HEAD + "role " + "a" * 100_000 + "\n", "name-too-long"),
            (HEAD + 'person "' + "p" * 300 + '" is agent\n', "name-too-long"),
            (rule_when("context." + "f" * 300), "name-too-long"),
            (rule_when('content.text == "' + "t" * 10_001 + '"'), "text-too-long"),
            (rule_when("content.text matches /" + "p" * 4_097 + "/"), "pattern-too-long"),
        ],
        ids=["role", "person", "attribute", "text", "pattern"],
    )
    def test_past_the_limit_is_a_diagnostic_at_the_item(self, text: str, code: str) -> None:
        assert codes(text) == [code]


class TestSizes:
    def test_a_50_mb_file_is_refused_before_parsing(self) -> None:
        text = "# " + "x" * 50_000_000 + "\n"
        with pytest.raises(PolicyError) as raised:
            parse_policy(text, "big.policy")
        assert [d.code for d in raised.value.diagnostics] == ["file-too-large"]
        assert "47.7 MiB" in raised.value.diagnostics[0].message

    def test_a_large_file_on_disk_is_refused_before_it_is_read(self, tmp_path: Path) -> None:
        big = tmp_path / "big.policy"
        with big.open("wb") as out:  # a sparse file: its size without writing it
            out.truncate(limits.MAX_FILE_BYTES + 1)
        with pytest.raises(PolicyError, match="file-too-large"):
            read_folder(tmp_path)

    def test_a_large_folder_is_refused_before_it_is_read(self, tmp_path: Path) -> None:
        for n in range(5):
            with (tmp_path / f"p{n}.policy").open("wb") as out:
                out.truncate(limits.MAX_FILE_BYTES - 10)
        with pytest.raises(PolicyError, match="policy-too-large"):
            read_folder(tmp_path)

    def test_a_policy_set_over_the_total_is_refused_at_the_file_that_passes_it(self) -> None:
        part = "# " + "x" * (limits.MAX_FILE_BYTES - 10) + "\n"
        sources = {f"p{n}.policy": part for n in range(5)}
        files, problems = parse_sources(sources)
        assert files == []
        assert [(d.code, d.span.file) for d in problems] == [("policy-too-large", "p4.policy")]

    def test_10_mb_of_policy_text_is_within_the_limits(self) -> None:
        size = 10 * 1024 * 1024
        assert limits.file_too_large("a.policy", size) is None
        assert limits.set_too_large({"a.policy": size, "b.policy": size}) is None

    def test_sizes_count_utf8_bytes(self) -> None:
        assert limits.utf8_size("é" * 10) == 20


class TestRendering:
    def test_a_long_line_shows_a_window_with_the_caret_under_the_span(self) -> None:
        line = "a" * 5_000 + "BAD" + "b" * 5_000
        rendered = Diagnostic("x", "m", Span("f", 1, 5_001, 1, 5_004)).render({"f": line})
        _, shown, caret = rendered.split("\n")
        assert shown.startswith("  …") and shown.endswith("…")
        assert len(shown) < 200
        assert shown[caret.index("^") : caret.index("^") + 3] == "BAD"
        assert caret.strip() == "^^^"

    def test_short_lines_are_shown_whole(self) -> None:
        rendered = Diagnostic("x", "m", Span("f", 1, 3, 1, 5)).render({"f": "abcdef"})
        assert rendered.split("\n")[1:] == ["  abcdef", "    ^^"]
