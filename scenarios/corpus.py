"""The requests the scenarios describe, without deciding them: a corpus for `replygate diff`.

`replygate diff BASE HEAD` decides each of these under both revisions and lists the scenarios
whose outcome changes, and those whose expected outcome HEAD no longer gives. Only Given and
When steps run (Then steps are read, not run), so no policy is needed to build the corpus.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from replygate.engine.models import CheckRequest
from replygate.scenarios.features import FeatureProblem, feature_files, load_feature
from replygate.scenarios.runner import ScenarioFailed, ScenarioRun
from replygate.scenarios.values import StepProblem, parse_outcome

# An expectation as plain data: {"decision", "roles", "negated", "where"} (see scenario_checks).
Expected = dict[str, Any]


def scenario_requests(
    features_dir: str | Path, errors: list[str] | None = None
) -> list[tuple[str, CheckRequest]]:
    """Every request the scenarios under `features_dir` decide, named "feature: scenario [row]".

    A scenario that decides several requests (a When after a Then) yields one per decision,
    the second and later named "… (2)", "… (3)". Feature files or scenarios that cannot be read
    or built are left out; pass `errors` to collect why.
    """
    return [(name, request) for name, request, _ in scenario_checks(features_dir, errors)]


def scenario_checks(
    features_dir: str | Path, errors: list[str] | None = None
) -> list[tuple[str, CheckRequest, Expected | None]]:
    """`scenario_requests`, each with the outcome its first outcome Then step expects.

    The expectation is plain data, so the engine need not know the scenario vocabulary:
    `decision` (allow, deny, escalate, approval_required), `roles` (the escalation target or
    the approvers, sorted), `negated` ("is not allowed") and `where` (the step's file:line).
    None when no Then step states an outcome for that request.
    """
    root = Path(features_dir)
    found: list[tuple[str, CheckRequest, Expected | None]] = []
    for path in feature_files(root):
        try:
            cases = load_feature(path)
        except FeatureProblem as problem:
            if errors is not None:
                errors.append(str(problem))
            continue
        feature = _feature_name(path, root)
        for case in cases:
            run = ScenarioRun(case, None, decide=False)
            try:
                run.run()
            except ScenarioFailed as failure:
                if errors is not None:
                    errors.append(failure.report)
                continue
            name = f"{feature}: {case.title}"
            expected = _expectations(run, _shown(path))
            for number, request in enumerate(run.built, start=1):
                named = name if number == 1 else f"{name} ({number})"
                found.append((named, request, expected.get(number - 1)))
    return found


def _expectations(run: ScenarioRun, shown: str) -> dict[int, Expected]:
    """The first outcome each built request is expected to have, by its index in `run.built`."""
    from replygate.scenarios.steps import outcome

    found: dict[int, Expected] = {}
    if run.pinned is not None:
        return found  # its Then steps speak of another revision, not of BASE or HEAD
    for index, step, phrase, values in run.skipped_checks:
        if phrase.action is not outcome or index in found:
            continue
        try:
            expected = parse_outcome(values["outcome"])
        except StepProblem:
            continue  # a step the scenario run would report; nothing to compare here
        found[index] = {
            "decision": expected.decision,
            "roles": list(expected.roles),
            "negated": expected.negated,
            "where": f"{shown}:{step.line}",
        }
    return found


def _shown(path: Path) -> str:
    """The feature file as the reader named its folder: relative to here when below it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def _feature_name(path: Path, root: Path) -> str:
    if root.is_file():
        return path.stem
    return path.relative_to(root).with_suffix("").as_posix()
