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

    # Files of the host's zoneinfo folder that are not IANA zones: `localtime` is the host's
    # own zone, so a decision would depend on the machine that makes it.
    @pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "posix", "right"])
    def test_zones_that_are_not_iana_names_are_unknown_zones(self, zone: str) -> None:
        text = f'calendar c {{\n    zone "{zone}"\n    open mon-fri 08:00-18:00\n}}\n'
        found = errors(text)
        assert [d.code for d in found] == ["unknown-zone"]
        assert (found[0].span.line, found[0].span.column) == (2, 10)

    @pytest.mark.parametrize("zone", ["UTC", "Europe/Vienna", "Etc/GMT+5", "US/Eastern"])
    def test_iana_names_including_backward_links_pass(self, zone: str) -> None:
        assert errors(f'calendar c {{ zone "{zone}" open mon-fri 08:00-18:00 }}\n') == []


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

    def test_a_text_list_past_its_size_is_bad_list_without_re2_noise(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # 10,000 phrases of 1,500 characters: refused before RE2 sees them (RE2 printed ~270
        # lines of `CoalesceWalker::ShortVisit` to stderr before it gave up).
        phrase = '"' + " ".join(["word"] * 300)[:1_500] + '"'
        text = HEAD + "list big " + ", ".join([phrase] * 10_000) + "\n"
        found = errors(text)
        assert [d.code for d in found] == ["bad-list"]
        assert "too large to search" in found[0].message
        assert f"at most {limits.MAX_LIST_PHRASE_CHARS:,}" in found[0].message
        assert (found[0].span.line, found[0].span.column) == (3, 6)
        assert capfd.readouterr().err == ""

    def test_a_text_list_at_its_size_compiles(self) -> None:
        phrase = '"' + ("refund " * 20)[:100] + '"'
        count = limits.MAX_LIST_PHRASE_CHARS // 100
        text = HEAD + "list big " + ", ".join([phrase] * count) + "\n"
        assert errors(text) == []

    @pytest.mark.parametrize(
        "rule",
        ["rule r{n} {{ deny on any by a, b }}", "rule r{n} {{ allow on reply, post by anyone }}"],
    )
    def test_commas_of_many_rules_are_not_one_list(self, rule: str) -> None:
        """The count of a list's commas ran on across `}` and `rule`: 10,000 rules of `by a, b`
        were "a list may hold at most 10,000 items" at rule 10,000."""
        rules = "\n".join(rule.format(n=n) for n in range(limits.MAX_LIST_ITEMS + 1))
        assert errors(f"role a\nrole b\nchannel twitter\n{rules}\n") == []

    @pytest.mark.parametrize(
        "text",
        [
            "share x with u when " + "(" * 33,  # 33 + 33 counted again: "64 levels deep"
            "channel " + "".join(f"a{n}, " for n in range(5_000)).rstrip(),
        ],
    )
    def test_a_file_ending_early_near_a_limit_is_a_syntax_error(self, text: str) -> None:
        """Placing the caret lexed the text again on top of the parse's counts: the limit's
        exception escaped as a traceback (`fmt`: "cannot format: _LimitExceeded")."""
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        assert [d.code for d in caught.value.diagnostics] == ["syntax"]
        assert "ends too early" in caught.value.diagnostics[0].message

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
            # The limit is on the attribute path, not only on its parts: 8 + 256 = 264.
            (rule_when("context." + "f" * 256), "name-too-long"),
            (rule_when('content.text == "' + "t" * 10_001 + '"'), "text-too-long"),
            (rule_when("content.text matches /" + "p" * 4_097 + "/"), "pattern-too-long"),
        ],
        ids=["role", "person", "attribute", "attribute-path", "text", "pattern"],
    )
    def test_past_the_limit_is_a_diagnostic_at_the_item(self, text: str, code: str) -> None:
        assert codes(text) == [code]

    def test_an_attribute_path_of_256_characters_passes(self) -> None:
        path = "context." + "f" * (limits.MAX_NAME_LENGTH - len("context."))
        assert errors(rule_when(path)) == []

    def test_a_long_path_is_one_diagnostic_at_the_path(self) -> None:
        found = errors(rule_when("context." + "f" * 300))
        assert len(found) == 1
        assert (found[0].span.line, found[0].span.column) == (7, 10)
        assert "attribute path" in found[0].message


class TestPatternCost:
    """RE2 is linear, but a pattern too large for its DFA is searched ~10,000x slower.

    `.{1000}.{1000}.{1000}.{1000}x` passed every other limit and took ~9 s per rule on a
    100,000-character reply; lint now refuses it at the pattern.
    """

    @pytest.mark.parametrize(
        "pattern",
        [
            ".{1000}.{1000}.{1000}.{1000}x",
            ".{1000}x",
            "(?s).{1000}.{100}x",
            "a{1000}a{1000}a{1000}x",  # small programs, but hundreds of open positions
            "[ab]" + "a" * 3_000 + "x",  # no count at all: a long literal after a class
            r"\pL{100}x",  # a Unicode class is ~1,200 instructions
            r"[^\pL]{400}x",
            "\\x{4e00}{1000}",  # not single-byte text: counted as compiled for UTF-8
        ],
    )
    def test_a_costly_pattern_is_a_diagnostic_at_the_pattern(self, pattern: str) -> None:
        for flag in ("", "i"):
            found = errors(rule_when(f"content.text matches /{pattern}/{flag}"))
            assert [d.code for d in found] == ["pattern-too-costly"]
            assert (found[0].span.line, found[0].span.column) == (7, 31)

    @pytest.mark.parametrize(
        "pattern",
        [
            r"\b(guaranteed?|refund)\b",
            r"\d{3}[ -]?\d{3}[ -]?\d{4}",
            r"[\pL\pN._%+-]+@[\pL\pN.-]+\.\pL{2,}",
            r"(?:^|[^\pL\pN_])(?:refund|money back|chargeback|lawyer|sue)(?:[^\pL\pN_]|$)",
            "(?:" + "|".join(f"word{n}" for n in range(60)) + ")",
            "(?s).{1000}.{90}x",  # the largest of its kind that passes
            r"https?:\/\/\S{1,200}",  # a slash in a pattern is written \/
            r"\b(" + "|".join(f"word{n:03d}" for n in range(120)) + r")\b",
            r"\pL{16}x",
            "一{400}",
        ],
    )
    def test_real_patterns_pass(self, pattern: str) -> None:
        for flag in ("", "i"):
            assert errors(rule_when(f"content.text matches /{pattern}/{flag}")) == []


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


def test_one_byte_over_the_file_limit_says_so_in_bytes() -> None:
    from replygate.policy_dsl.limits import MAX_FILE_BYTES, file_too_large

    over = file_too_large("a.policy", MAX_FILE_BYTES + 1)
    assert over is not None
    assert over.message == (
        "policy file is 16,777,217 bytes (16.0 MiB); a file may hold at most 16,777,216 bytes "
        "(16.0 MiB)"
    )
    assert file_too_large("a.policy", MAX_FILE_BYTES) is None
