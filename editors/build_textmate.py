"""Write `vscode/syntaxes/replygate.tmLanguage.json` from the grammar's keywords.

    .venv/bin/python editors/build_textmate.py

Run it after adding a keyword to `policy_dsl/grammar.lark`; `tests/test_highlight.py` fails
until the committed grammar matches what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replygate.policy_dsl.keywords import DAY_NAMES, declaration_words, reserved_words

TARGET = Path(__file__).resolve().parent / "vscode" / "syntaxes" / "replygate.tmLanguage.json"
CONSTANTS = ("true", "false")
OPERATORS = ("and", "or", "not")
# A word ends where a name could not go on: names may hold `-` between word characters.
BEFORE, AFTER = r"(?<![\w-])", r"(?![\w-]*\w)"


def words(name: str, chosen: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {"name": name, "match": BEFORE + "(?:" + "|".join(chosen) + ")" + AFTER}


def grammar() -> dict[str, Any]:
    declarations = declaration_words()
    clauses = [w for w in reserved_words() if w not in (*declarations, *CONSTANTS, *OPERATORS)]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "replygate policy",
        "scopeName": "source.replygate",
        "fileTypes": ["policy"],
        "patterns": [
            {"include": f"#{part}"}
            for part in (
                "comment",
                "string",
                "regex",
                "time",
                "number",
                "keyword",
                "operator",
                "name",
            )
        ],
        "repository": {
            "comment": {"name": "comment.line.number-sign.replygate", "match": "#.*$"},
            "string": {
                "name": "string.quoted.double.replygate",
                "begin": '"',
                "end": '"|$',
                "patterns": [{"name": "constant.character.escape.replygate", "match": "\\\\."}],
            },
            "regex": {"name": "string.regexp.replygate", "match": "/(?:[^/\\\\\\n]|\\\\.)+/i?"},
            "time": {
                "patterns": [
                    {
                        "name": "constant.other.time-range.replygate",
                        "match": "\\b\\d{1,2}:\\d{2}-\\d{1,2}:\\d{2}\\b",
                    },
                    {
                        "name": "constant.other.date.replygate",
                        "match": "\\b\\d{4}-\\d{2}-\\d{2}\\b",
                    },
                    {"name": "constant.other.time.replygate", "match": "\\b\\d{1,2}:\\d{2}\\b"},
                    {
                        "name": "constant.other.duration.replygate",
                        "match": "\\b\\d+[wdhms](?:\\d+[hms])*\\b",
                    },
                    {
                        "name": "constant.other.day.replygate",
                        "match": BEFORE + "(?:" + "|".join(DAY_NAMES) + ")(?![\\w])",
                    },
                ]
            },
            "number": {
                "name": "constant.numeric.replygate",
                "match": "\\b\\d[\\d_]*(?:\\.\\d+)?\\b",
            },
            "keyword": {
                "patterns": [
                    words("constant.language.replygate", CONSTANTS),
                    words("keyword.operator.word.replygate", OPERATORS),
                    words("storage.type.declaration.replygate", declarations),
                    words("keyword.other.replygate", clauses),
                ]
            },
            "operator": {
                "name": "keyword.operator.comparison.replygate",
                "match": "==|!=|<=|>=|<|>",
            },
            "name": {
                "name": "variable.other.replygate",
                "match": "[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*",
            },
        },
    }


def text() -> str:
    return json.dumps(grammar(), indent=2) + "\n"


if __name__ == "__main__":
    TARGET.write_text(text(), encoding="utf-8")
    print(f"wrote {TARGET}")
