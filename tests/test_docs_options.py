"""Every command-line option is documented: an audit of the docs against `--help` found five
flags that only `--help` mentioned (`lint --strict`, `fmt --diff`, …)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from replygate.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def _options(
    parser: argparse.ArgumentParser, command: str = "replygate"
) -> Iterator[tuple[str, list[str]]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{command} {name}")
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            yield command, action.option_strings


def _documented(option: str, text: str) -> bool:
    """`--fetch` and `--no-fetch` both count as written `--[no-]fetch`."""
    plain = option.removeprefix("--no-")
    return option in text or f"--[no-]{plain.removeprefix('--')}" in text


def test_every_option_of_every_subcommand_is_documented() -> None:
    text = _documentation()
    missing = [
        f"{command} {'/'.join(strings)}"
        for command, strings in _options(build_parser())
        if not any(_documented(option, text) for option in strings)
    ]
    assert missing == []


def test_the_check_finds_an_undocumented_option() -> None:
    parser = build_parser()
    parser.add_argument("--an-option-nobody-wrote-up")
    found = [strings for _, strings in _options(parser)]
    assert ["--an-option-nobody-wrote-up"] in found
    assert not _documented("--an-option-nobody-wrote-up", _documentation())
