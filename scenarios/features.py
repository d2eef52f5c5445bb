"""Reading `.feature` files with pytest-bdd's Gherkin parser, one case per scenario run.

A Scenario is one case; a Scenario Outline is one case per row of its Examples tables, with
the `<column>` placeholders of its steps filled in from that row (pytest-bdd's `render`).
Background steps come first in every case.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_bdd.exceptions import GherkinParseError
from pytest_bdd.gherkin_parser import GherkinDocument, get_gherkin_document
from pytest_bdd.parser import FeatureParser, ScenarioTemplate

FEATURE_SUFFIX = ".feature"


class FeatureProblem(Exception):
    """A feature file that cannot be read as Gherkin; the message names file and line."""


@dataclass(frozen=True, slots=True)
class StepLine:
    """One step as the scenario runs it: keyword, text (placeholders filled in) and line."""

    keyword: str
    kind: str  # given | when | then (And/But take the kind of the step before)
    text: str
    line: int
    docstring: str | None = None


@dataclass(frozen=True, slots=True)
class ScenarioCase:
    """One scenario to run: a Scenario, or one Examples row of a Scenario Outline."""

    feature_file: Path
    feature_name: str
    name: str
    line: int
    steps: tuple[StepLine, ...]
    tags: frozenset[str]
    row: str | None = None  # the Examples row, as "alice, 25000, escalates to senior_agent"
    row_line: int | None = None  # where that row is: what a failing row's report points at

    @property
    def title(self) -> str:
        """The scenario's name with its Examples row, if any."""
        return self.name if self.row is None else f"{self.name} [{self.row}]"


ENCODING = "utf-8-sig"


def load_feature(path: Path) -> list[ScenarioCase]:
    """Every case of a feature file, in file order; raises `FeatureProblem` for bad Gherkin."""
    absolute = path.resolve()
    _check_readable(path, absolute)
    try:
        try:
            # utf-8-sig: a byte-order mark (Windows editors write one) is not Gherkin's business.
            document = get_gherkin_document(str(absolute), encoding=ENCODING)
        except KeyError:  # pytest-bdd's reader expects a Feature and fails on a file without one
            raise FeatureProblem(
                f"{path}:1: no 'Feature:' line: a feature file starts with one"
            ) from None
        _check_document(document, path)
        row_lines = _row_lines(document)
        feature = FeatureParser(str(absolute.parent), absolute.name, ENCODING).parse()
    except GherkinParseError as error:
        raise FeatureProblem(
            f"{path}:{error.line}: {_parse_error_message(error)}\n    {error.line_content}"
        ) from None
    cases: list[ScenarioCase] = []
    for template in feature.scenarios.values():
        cases.extend(_cases(path, feature.name, template, row_lines))
    _check_titles(cases, path)
    return cases


def _check_titles(cases: list[ScenarioCase], path: Path) -> None:
    """Refuse two cases of one title (`Scenario: o [5]` beside the row `5` of an Outline `o`):
    both ran under one test id, so a report named the wrong one."""
    first: dict[str, ScenarioCase] = {}
    for case in cases:
        other = first.setdefault(case.title, case)
        if other is not case:
            raise FeatureProblem(
                f"{path}:{case.row_line or case.line}: '{case.title}' is the name of the "
                f"scenario at line {other.row_line or other.line} too: rename one"
            )


def _check_readable(path: Path, absolute: Path) -> None:
    """`FeatureProblem` for a file that cannot be read, or is not UTF-8 (at the line of the
    first byte that is not); pytest printed its own traceback for the one, no line for the
    other."""
    try:
        data = absolute.read_bytes()
    except OSError as error:
        raise FeatureProblem(f"{path}: cannot read the file: {error.strerror or error}") from None
    try:
        data.decode(ENCODING)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FeatureProblem(
            f"{path}:{line}: not UTF-8 text: the byte 0x{data[error.start]:02x} cannot be decoded"
        ) from None


_STEP_KEYWORDS = ("Given", "When", "Then", "And", "But")


def _parse_error_message(error: GherkinParseError) -> str:
    """Gherkin's message, with what the line should have said when it only says "Unexpected
    token found" (a misspelt keyword below a scenario's steps, a table row of another width)."""
    message = str(error.message)
    if "inconsistent cell count" in message:
        return "this table row has another number of cells than the rows above it"
    if not message.startswith("Unexpected token"):
        return message
    words = str(error.line_content).strip().split()
    if not words:
        return message
    first = words[0]
    if first.endswith(":"):
        meant = difflib.get_close_matches(first[:-1].title(), _KEYWORDS, n=1, cutoff=0.6)
        if meant:
            return f"'{first}' is not a Gherkin keyword: write '{meant[0]}:'"
        return f"'{first}' is not a Gherkin keyword ({', '.join(_KEYWORDS)})"
    meant = difflib.get_close_matches(first.title(), _STEP_KEYWORDS, n=1, cutoff=0.6)
    if meant:
        return f"'{first}' is not a step keyword: write '{meant[0]}'"
    return (
        f"a line here must start a step (Given, When, Then, And, But, *), a table row (|) or "
        f"a keyword such as 'Scenario:'; found '{first}'"
    )


def _row_lines(document: GherkinDocument) -> dict[int, list[int]]:
    """The line of every Examples row, by the line of its `Examples:`: pytest-bdd keeps the
    rows' values but not where they are."""
    children = document.feature.children
    scenarios = [child.scenario for child in children if child.scenario]
    scenarios += [
        nested.scenario
        for child in children
        if child.rule
        for nested in child.rule.children
        if nested.scenario
    ]
    return {
        examples.location.line: [row.location.line for row in examples.table_body or []]
        for scenario in scenarios
        for examples in scenario.examples
    }


def _check_document(document: GherkinDocument, path: Path) -> None:
    """Refuse what pytest-bdd would silently drop or ignore: no Feature, a misspelt keyword whose
    steps become description, a feature without scenarios, two scenarios of one name, a table
    under a step, an Examples table without rows, an Examples column no step uses or one named
    twice."""
    feature = document.feature
    _check_descriptions(document, path)
    names: list[tuple[str, int]] = []
    # pytest-bdd fills an Outline's <column>s into the Background's steps too.
    outer = [child.background for child in feature.children if child.background]
    for child in feature.children:
        scenarios = [child.scenario] if child.scenario else []
        backgrounds = list(outer)
        if child.rule:
            scenarios = [c.scenario for c in child.rule.children if c.scenario]
            backgrounds += [c.background for c in child.rule.children if c.background]
        for background in backgrounds:
            _check_steps(background.steps, path)
        background_steps = [step for background in backgrounds for step in background.steps]
        for scenario in scenarios:
            _check_steps(scenario.steps, path)
            _check_examples(scenario, background_steps, path)
        names.extend((s.name, s.location.line) for s in scenarios)
    if not names:
        raise FeatureProblem(
            f"{path}:{feature.location.line}: the feature has no scenarios, so it pins nothing "
            "('Scenario:' starts one)"
        )
    first: dict[str, int] = {}
    for name, line in names:
        if name in first:
            raise FeatureProblem(
                f"{path}:{line}: another scenario is named '{name}' (line {first[name]}): "
                "give each scenario its own name"
            )
        first[name] = line


_KEYWORDS = (
    "Feature",
    "Rule",
    "Background",
    "Scenario",
    "Scenario Outline",
    "Scenario Template",
    "Example",
    "Examples",
    "Scenarios",
)
_LABEL = re.compile(r"\s*([A-Za-z][A-Za-z ]{2,24}?)\s*:")
_STEP_LINE = re.compile(r"(?:Given|When|Then|And|But|\*)\s|\|")


def _check_descriptions(document: GherkinDocument, path: Path) -> None:
    """Refuse a misspelt keyword (`Scenaro:`): Gherkin reads it, and every step under it, as
    free description text, so a scenario that should fail would never run."""
    feature = document.feature
    owners: list[Any] = [feature]
    for child in feature.children:
        owners += [child.background, child.scenario, child.rule]
        if child.rule:
            owners += [c.background for c in child.rule.children]
            owners += [c.scenario for c in child.rule.children]
    lines = [line.strip() for line in path.read_text(encoding=ENCODING).splitlines()]
    for owner in filter(None, owners):
        described = [text.strip() for text in owner.description.splitlines() if text.strip()]
        for text, following in itertools.pairwise([*described, ""]):
            label = _LABEL.match(text)
            # A misspelt keyword swallows the steps under it: prose ("Rules: seniors answer
            # complaints.") is followed by more prose, or by nothing.
            if label is None or not _STEP_LINE.match(following):
                continue
            written = label[1]
            meant = difflib.get_close_matches(written.title(), _KEYWORDS, n=1, cutoff=0.75)
            if meant:
                number = _line_of(text, lines, owner.location.line)
                raise FeatureProblem(
                    f"{path}:{number}: '{written}:' is not a Gherkin keyword, so this line and "
                    f"the steps under it are read as a description and never run: write "
                    f"'{meant[0]}:'"
                )


def _line_of(text: str, lines: list[str], after: int) -> int:
    """The number of the first line below line `after` that reads `text` (else `after`)."""
    try:
        return lines.index(text.strip(), after) + 1
    except ValueError:
        return after


def _check_steps(steps: Sequence[Any], path: Path) -> None:
    for step in steps:
        if step.datatable is not None:
            raise FeatureProblem(
                f"{path}:{step.datatable.location.line}: no step reads a table: this one under "
                f"'{step.keyword.strip()} {step.text}' would be ignored (an Examples table belongs "
                "under 'Examples:' of a Scenario Outline)"
            )


_PLACEHOLDER = re.compile(r"<(.+?)>")  # what pytest-bdd fills in from a row


_OUTLINES = frozenset({"Scenario Outline", "Scenario Template"})


def _check_examples(scenario: Any, background_steps: list[Any], path: Path) -> None:
    # A column is used when a step of the scenario or its Background (or a text block) says
    # <column>. The scenario's name does not count: a row reading "mallory replies" in the
    # title while every step has alice reply would pass without mallory ever being tried.
    steps = [*background_steps, *scenario.steps]
    said = " ".join(
        [step.text for step in steps]
        + [step.docstring.content for step in steps if step.docstring is not None]
    )
    if not scenario.examples and scenario.keyword.strip() in _OUTLINES:
        # It ran once with its <column>s unreplaced and failed as a scenario (exit 1), where an
        # empty table is a bad feature file (exit 2): refused the same way, at its line.
        raise FeatureProblem(
            f"{path}:{scenario.location.line}: the {scenario.keyword.strip()} has no Examples "
            "table: add 'Examples:' with a header and a row per case, or make it a Scenario"
        )
    for examples in scenario.examples:
        # A table without rows would run the outline once with its <column>s unreplaced, and
        # fail blaming the column names: refused here, at its `Examples:` line.
        if examples.table_header is None or not examples.table_body:
            raise FeatureProblem(
                f"{path}:{examples.location.line}: the Examples table has no rows: add a row "
                "under its header (one per case), or remove the empty table"
            )
        columns = [cell.value for cell in examples.table_header.cells]
        line = examples.table_header.location.line
        twice = sorted({name for name in columns if columns.count(name) > 1})
        if twice:
            raise FeatureProblem(
                f"{path}:{line}: the Examples table names the column '{twice[0]}' twice: "
                "the second would silently replace the first"
            )
        unused = [name for name in columns if f"<{name}>" not in said]
        if unused:
            raise FeatureProblem(
                f"{path}:{line}: no step uses the column '{unused[0]}' of the Examples table: "
                f"write <{unused[0]}> in a step, or remove the column (its values would be "
                "ignored)"
            )
    if scenario.examples:
        _check_placeholders(scenario, steps, path)


def _check_placeholders(scenario: Any, steps: list[Any], path: Path) -> None:
    """Every <placeholder> of an outline's steps is a column: one that no column fills would be
    sent as literal text where a step takes free text (`the reply says "We <promis> …"`)."""
    columns = {
        cell.value
        for examples in scenario.examples
        if examples.table_header is not None
        for cell in examples.table_header.cells
    }
    for step in steps:
        texts = [step.text] + ([step.docstring.content] if step.docstring is not None else [])
        for text in texts:
            for name in _PLACEHOLDER.findall(text):
                if name not in columns:
                    raise FeatureProblem(
                        f"{path}:{step.location.line}: <{name}> is filled by no column of the "
                        "Examples table: add the column, or write the text without angle brackets"
                    )


def _cases(
    path: Path, feature_name: str, template: ScenarioTemplate, row_lines: dict[int, list[int]]
) -> list[ScenarioCase]:
    rows: list[tuple[Any, dict[str, str], int | None]] = []
    for examples in template.examples:
        lines = row_lines.get(examples.line_number or 0, [])
        for index, context in enumerate(examples.as_contexts()):
            rows.append((examples, context, lines[index] if index < len(lines) else None))
    # Gherkin: a Rule's tags are its scenarios' too (pytest-bdd keeps them on the rule).
    rule = getattr(template, "rule", None)
    tags = frozenset(template.tags | template.feature.tags | (rule.tags if rule else set()))
    if not rows:
        scenario = template.render({})
        return [
            ScenarioCase(
                path,
                feature_name,
                scenario.name,
                template.line_number,
                _steps(scenario.steps),
                tags,
            )
        ]
    cases = []
    seen: Counter[str] = Counter()
    for examples, context, line in rows:
        scenario = template.render(context)
        label = ", ".join(context.values())
        seen[label] += 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        cases.append(
            ScenarioCase(
                path,
                feature_name,
                template.name,
                template.line_number,
                _steps(scenario.steps),
                tags | examples.tags,
                row=label,
                row_line=line,
            )
        )
    return cases


def _steps(steps: list) -> tuple[StepLine, ...]:  # type: ignore[type-arg]
    return tuple(
        StepLine(s.keyword.strip(), s.type, s.name, s.line_number, s.docstring) for s in steps
    )


def feature_files(folder: Path) -> list[Path]:
    """Every `.feature` file under `folder` (or `folder` itself when it is one), sorted."""
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob(f"*{FEATURE_SUFFIX}") if p.is_file())
