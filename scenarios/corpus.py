"""The requests the scenarios describe, without deciding them: a corpus for `replygate diff`.

`replygate diff BASE HEAD` decides each of these under both revisions and lists the scenarios
whose outcome changes. Only Given and When steps run (Then steps are skipped), so no policy is
needed to build the corpus.
"""

from __future__ import annotations

from pathlib import Path

from replygate.engine.models import CheckRequest
from replygate.scenarios.features import FeatureProblem, feature_files, load_feature
from replygate.scenarios.runner import ScenarioFailed, ScenarioRun


def scenario_requests(
    features_dir: str | Path, errors: list[str] | None = None
) -> list[tuple[str, CheckRequest]]:
    """Every request the scenarios under `features_dir` decide, named "feature: scenario [row]".

    A scenario that decides several requests (a When after a Then) yields one per decision,
    the second and later named "… (2)", "… (3)". Feature files or scenarios that cannot be read
    or built are left out; pass `errors` to collect why.
    """
    root = Path(features_dir)
    found: list[tuple[str, CheckRequest]] = []
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
            for number, request in enumerate(run.built, start=1):
                found.append((name if number == 1 else f"{name} ({number})", request))
    return found


def _feature_name(path: Path, root: Path) -> str:
    if root.is_file():
        return path.stem
    return path.relative_to(root).with_suffix("").as_posix()
