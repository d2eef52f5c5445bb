"""A Pygments lexer for policy files, so `pygmentize -l replygate` and documentation tools
(Sphinx, MkDocs, GitLab, Gitea) highlight them.

Registered under the `pygments.lexers` entry point. Keywords come from the grammar
(`policy_dsl.keywords`), so a new keyword is highlighted the day it is added. The review pages
use it to show rules.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
    _TokenType,
)

from replygate.policy_dsl.keywords import DAY_NAMES, declaration_words, reserved_words

# A word ends where a name could not go on: names may hold `-` between word characters.
_EDGE = {"prefix": r"(?<![\w-])", "suffix": r"(?![\w-]*\w)"}
_CONSTANTS = ("true", "false")
_OPERATORS = ("and", "or", "not")


def _clause_words() -> tuple[str, ...]:
    taken = set(declaration_words()) | set(_CONSTANTS) | set(_OPERATORS)
    return tuple(word for word in reserved_words() if word not in taken)


class ReplygateLexer(RegexLexer):
    """Lexer for replygate `.policy` files."""

    name = "replygate"
    aliases: ClassVar[list[str]] = ["replygate", "replygate-policy"]
    filenames: ClassVar[list[str]] = ["*.policy"]
    mimetypes: ClassVar[list[str]] = ["text/x-replygate-policy"]
    url = "https://github.com/replygate/replygate"

    tokens: ClassVar[dict[str, list[tuple[object, _TokenType]]]] = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (r"/(?:[^/\\\n]|\\.)+/i?", String.Regex),
            (r"\d{1,2}:\d{2}-\d{1,2}:\d{2}", Number.Other),  # hours: 08:00-18:00
            (r"\d{4}-\d{2}-\d{2}", Number.Other),  # dates
            (r"\d{1,2}:\d{2}", Number.Other),  # clock times
            (r"\d+[wdhms](?:\d+[hms])*(?![\w-])", Number.Other),  # durations: 1h30m
            (r"\d[\d_]*(?:\.\d+)?", Number),
            (words(DAY_NAMES, prefix=r"(?<![\w-])", suffix=r"(?![\w])"), Name.Constant),
            (words(_CONSTANTS, **_EDGE), Keyword.Constant),
            (words(_OPERATORS, **_EDGE), Operator.Word),
            (words(declaration_words(), **_EDGE), Keyword.Declaration),
            (words(_clause_words(), **_EDGE), Keyword),
            (r"==|!=|<=|>=|<|>", Operator),
            (r"[{}()\[\],.]", Punctuation),
            (r"-", Punctuation),  # between day names: mon-fri
            (r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*", Name),
        ],
    }
