"""The CI templates in docs/ci/ call replygate with options the CLI has.

Every `replygate …` command line in the templates is parsed by the real argument parser, so a
renamed option fails here rather than in a policy team's pipeline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from replygate.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "docs" / "ci").glob("*.yml"))
# Shell variables in the templates stand for a revision name.
VARIABLE = re.compile(r'"?\$\{?[A-Za-z_]+\}?(/\$\{?[A-Za-z_]+\}?)?"?|"?origin/\$[A-Za-z_]+"?')


def scripts(node: object) -> list[str]:
    """Every shell text in a workflow: `run:` values and `script:` lists."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "run" and isinstance(v, str)]
        for key, value in node.items():
            if key in ("script", "before_script") and isinstance(value, list):
                found.extend(str(line) for line in value)
            found.extend(scripts(value))
        return found
    if isinstance(node, list):
        return [text for item in node for text in scripts(item)]
    return []


def replygate_commands(path: Path) -> list[list[str]]:
    commands = []
    for text in scripts(yaml.safe_load(path.read_text(encoding="utf-8"))):
        joined = text.replace("\\\n", " ")
        for line in joined.splitlines():
            start = line.find("replygate ")
            if start < 0 or "pip install" in line:
                continue
            command = re.split(r"\s(?:>|\|\||&&|;)\s?", line[start:])[0]
            words = shlex.split(VARIABLE.sub("main", command))
            commands.append(words[1:])
    return commands


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_replygate_command_parses(template: Path) -> None:
    commands = replygate_commands(template)
    assert commands
    parser = build_parser()
    for words in commands:
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{template.name}: `replygate {' '.join(words)}` does not parse")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_each_template_runs_the_whole_gate(template: Path) -> None:
    commands = [" ".join(words) for words in replygate_commands(template)]
    assert "fmt --check policies" in commands
    assert "lint policies" in commands
    assert any(c.startswith("test --min-coverage 100") for c in commands)
    [diff] = [c for c in commands if c.startswith("diff ")]
    assert "--format markdown" in diff and "--fail-on widening" in diff
    assert "policy-widening-approved" in template.read_text(encoding="utf-8")


def test_both_templates_are_there() -> None:
    assert {p.name for p in TEMPLATES} == {"github-actions.yml", "gitlab-ci.yml"}
