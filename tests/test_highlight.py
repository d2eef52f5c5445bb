"""Syntax highlighting: the Pygments lexer and the TextMate grammar know every keyword."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Keyword, Name, Number, Operator, String, Token

from replygate.policy_dsl.highlight import ReplygateLexer
from replygate.policy_dsl.keywords import declaration_words, reserved_words

ROOT = Path(__file__).resolve().parent.parent
TEXTMATE = ROOT / "editors" / "vscode" / "syntaxes" / "replygate.tmLanguage.json"
EXAMPLE = (ROOT / "policies" / "care.policy").read_text(encoding="utf-8")


def tokens(text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in ReplygateLexer().get_tokens(text) if value.strip()]


def test_the_keywords_are_the_grammars_quoted_words() -> None:
    assert {"rule", "allow", "deny", "escalate", "require", "when", "unless"} <= set(
        reserved_words()
    )
    assert "rule" in declaration_words() and "when" not in declaration_words()


@pytest.mark.parametrize("word", reserved_words())
def test_every_keyword_is_highlighted_as_a_keyword(word: str) -> None:
    [(kind, value)] = tokens(f" {word} ")
    assert value == word
    assert kind in Keyword or kind is Operator.Word


@pytest.mark.parametrize("word", reserved_words())
def test_a_name_that_starts_with_a_keyword_is_a_name(word: str) -> None:
    assert tokens(f"{word}-desk") == [(Name, f"{word}-desk")]
    assert tokens(f"{word}_x") == [(Name, f"{word}_x")]


def test_a_rule_reads_as_its_parts() -> None:
    text = (
        "rule late { deny on reply when post.age > 1h30m and post.text matches /refund/i "
        'message "Too late" } # why'
    )
    kinds = {value: kind for kind, value in tokens(text)}
    assert kinds["rule"] is Keyword.Declaration
    assert kinds["late"] is Name
    assert kinds["1h30m"] is Number.Other
    assert kinds["/refund/i"] is String.Regex
    assert kinds['"Too late"'] is String.Double
    assert kinds["# why"] is Comment.Single
    assert kinds[">"] is Operator


def test_the_bundled_policy_lexes_without_errors() -> None:
    assert all(kind is not Token.Error for kind, _ in ReplygateLexer().get_tokens(EXAMPLE))


def test_pygments_finds_the_lexer_by_name_and_file_name() -> None:
    assert isinstance(get_lexer_by_name("replygate"), ReplygateLexer)
    assert isinstance(get_lexer_for_filename("care.policy"), ReplygateLexer)


def test_pygmentize_highlights_a_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "care.policy"
    policy.write_text(EXAMPLE, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "replygate", "-f", "html", str(policy)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '<span class="kd">rule</span>' in out


def textmate_keywords() -> dict[str, set[str]]:
    grammar = json.loads(TEXTMATE.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for pattern in grammar["repository"]["keyword"]["patterns"]:
        alternatives = re.search(r"\(\?:([a-z_|]+)\)", pattern["match"])
        assert alternatives is not None, pattern
        found[pattern["name"]] = set(alternatives.group(1).split("|"))
    return found


def test_the_committed_textmate_grammar_is_the_generated_one() -> None:
    sys.path.insert(0, str(ROOT / "editors"))
    try:
        import build_textmate
    finally:
        sys.path.remove(str(ROOT / "editors"))
    assert TEXTMATE.read_text(encoding="utf-8") == build_textmate.text(), (
        "run: .venv/bin/python editors/build_textmate.py"
    )


def test_the_textmate_grammar_lists_every_keyword_once() -> None:
    found = textmate_keywords()
    listed = [word for words in found.values() for word in words]
    assert sorted(listed) == sorted(reserved_words())
    assert found["storage.type.declaration.replygate"] == set(declaration_words())


def test_the_textmate_patterns_are_valid_regular_expressions() -> None:
    grammar = json.loads(TEXTMATE.read_text(encoding="utf-8"))

    def patterns(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node[k] for k in ("match", "begin", "end") if k in node]
            return own + [p for value in node.values() for p in patterns(value)]
        if isinstance(node, list):
            return [p for item in node for p in patterns(item)]
        return []

    for pattern in patterns(grammar):
        re.compile(pattern)
    keyword = grammar["repository"]["keyword"]["patterns"][-1]["match"]
    assert re.search(keyword, "    when post.age > 1h")
    assert not re.search(keyword, "rosters on-call")


def test_the_readme_lists_the_reserved_words() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"Reserved words: `([^`]+)`", readme)
    assert listed is not None
    assert sorted(listed.group(1).split()) == list(reserved_words())
